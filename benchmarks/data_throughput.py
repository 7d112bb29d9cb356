"""Data-loading throughput (images/s): cold decode, in-memory memo, and on-disk cache.

Why: MVTec images are large PNGs, and decoding them every epoch would dominate CPU training;
this measures what the caches buy. Run from the repository root (takes well under 3 minutes):

    python benchmarks/data_throughput.py [--data ../shared/data] [--cifar-images 3000]

Writes benchmarks/results/data-throughput.md. "cold" = first pass, files decoded and resized
(file bytes may already be in the OS page cache); "memory" = second pass over the same dataset;
"disk cache" = a fresh dataset whose cache_dir was filled by the cold pass. Single process
(num_workers=0), every sample fetched through ``dataset[i]`` as a DataLoader would.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from torch.utils.data import ConcatDataset

from anotrans.benchmark import provenance
from anotrans.data import DataSpec, build_splits

REPO = Path(__file__).resolve().parents[1]


def images_per_second(dataset) -> float:
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return len(dataset) / (time.perf_counter() - start)


def measure(name: str, spec: DataSpec, pick) -> list[str]:
    """Cold, memory and disk-cache rates of one dataset chosen by ``pick(splits)``."""
    with tempfile.TemporaryDirectory() as cache:
        spec.cache_dir = cache
        dataset = pick(build_splits(spec))
        cold = images_per_second(dataset)
        memory = images_per_second(dataset)
        disk = images_per_second(pick(build_splits(spec)))
    row = f"| {name} | {len(dataset)} | {spec.image_size} | {cold:,.0f} | {memory:,.0f} | {disk:,.0f} |"
    print(row, flush=True)
    return [row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / ".." / "shared" / "data"))
    parser.add_argument("--cifar-images", type=int, default=3000)
    args = parser.parse_args()
    data = Path(args.data)
    table_header = [
        "| set | images | px | cold img/s | memory img/s | disk cache img/s |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(table_header), flush=True)
    rows = measure(
        "MVTec AD bottle, train + test (512 px PNG)",
        DataSpec(data="mvtec", root=str(data / "mvtec_ad"), category="bottle", image_size=256, val_split=0),
        lambda s: ConcatDataset([s.train, s.test]),
    )
    rows += measure(
        f"CIFAR-10 JPEG folders, {args.cifar_images} training normals (cat abnormal)",
        DataSpec(data="cifar10", root=str(data / "cifar10"), abnormal_class="cat", image_size=32, val_split=0,
                 max_train_images=args.cifar_images),
        lambda s: s.train,
    )  # fmt: skip
    report = [
        *provenance.header("Data-loading throughput"),
        "- data: ../shared/data (MVTec bottle stored at 512 px, CIFAR-10 stored as JPEG)",
        "- single process, `dataset[i]` per image (decode, resize, scale to [-1, 1], mask)",
        "",
        *table_header,
        *rows,
        "",
    ]
    out = REPO / "benchmarks" / "results" / "data-throughput.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
