"""Parameter counts and forward FLOPs per image of every registered model.

Command (from the repository root): ``python benchmarks/model_table.py [--image-size 32]``
Writes ``benchmarks/results/models-<size>px.md``. FLOPs come from ``torch.utils.flop_counter``
(CPU attention included, see ``anotrans.flops``; a multiply-add is 2 FLOPs); they do not
depend on the machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import anotrans
from anotrans.benchmark import provenance
from anotrans.flops import count_flops
from anotrans.networks import model_description

RESULTS = Path(__file__).resolve().parent / "results"


def model_row(name: str, image_size: int) -> tuple[str, int, int, float, float, str]:
    """(name, G params, D params, G GFLOP/img, D GFLOP/img, description) of one model."""
    model = anotrans.build_model(name, image_size=image_size).eval().requires_grad_(False)
    x = torch.zeros(1, 3, image_size, image_size)
    return (
        name,
        sum(p.numel() for p in model.generator.parameters()),
        sum(p.numel() for p in model.discriminator.parameters()),
        count_flops(lambda: model.generator(x)) / 1e9,
        count_flops(lambda: model.discriminator(x)) / 1e9,
        model_description(name),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args()
    lines = [
        *provenance.header(f"Model sizes at {args.image_size} px, 3 channels"),
        "- FLOPs: torch.utils.flop_counter with CPU attention counted, one image's forward pass",
        "",
        "| model | G params | D params | G forward GFLOP/img | D forward GFLOP/img | what it is |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, g, d, gf, df, desc in (model_row(n, args.image_size) for n in anotrans.list_models()):
        lines.append(f"| `{name}` | {g / 1e6:.2f} M | {d / 1e6:.2f} M | {gf:.3f} | {df:.3f} | {desc} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"models-{args.image_size}px.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
