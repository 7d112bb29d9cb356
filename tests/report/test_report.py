"""report.html from a tiny finished run: sections, embedded pictures, a real headless browser, and the
map files of ``test --save-maps`` / ``predict --save-maps``."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from anotrans.cli import cli
from anotrans.data import make_synthetic
from anotrans.report import REPORT_FILE, SECTIONS

TINY_RUN = {
    "data": "synthetic",
    "image_size": 16,
    "max_train_images": 48,
    "model": "anotrans",
    "model_options": {"embed_dim": 8, "num_merges": 2, "depths": [1, 1, 1], "num_heads": 2, "skip_depth": 1,
                      "disc_ndf": 8, "disc_nz": 8},
    "batch_size": 16,
    "epochs": 2,
    "max_test_images": 40,
    "progress": False,
}  # fmt: skip
BROWSER = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def invoke(*args: object):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished 2-epoch run; ``anotrans train`` writes its report at the end."""
    root = tmp_path_factory.mktemp("report")
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY_RUN))
    out = invoke("train", "--config", root / "tiny.yaml", "--eval-every-epoch", "--out", root / "run").output
    assert "pixel_auroc:" in out and "report:" in out
    return root / "run"


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_report_is_self_contained_with_every_section(run):
    page = (run / REPORT_FILE).read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from the network
    pictures = _images(page)
    # curves, histogram, training curves and at least one gallery
    assert len(pictures) >= 4 and len(pictures) == page.count("<img")
    for png in pictures:
        assert Image.open(io.BytesIO(png)).size[0] > 100
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["pixel_auroc"] <= 1.0 and 0.0 <= metrics["aupro"] <= 1.0
    assert set(metrics["per_defect"]) == {"spot", "scratch", "missing"}
    for kind in metrics["per_defect"]:
        assert f"<td>{kind}</td>" in page
    assert "test_pixel_auroc" in (run / "epochs.jsonl").read_text()


_CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const out = document.createElement('pre');
  out.id = 'browser-check';
  out.textContent = JSON.stringify({
    images: imgs.length,
    loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    sections: [...document.querySelectorAll('section')].map(s => s.id),
  });
  document.body.appendChild(out);
});
</script></body>"""


@pytest.mark.skipif(BROWSER is None, reason="no chromium on this machine")
def test_report_renders_in_a_real_headless_browser(run, tmp_path):
    checked = tmp_path / "checked.html"
    checked.write_text((run / REPORT_FILE).read_text().replace("</body>", _CHECK))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
             "--dump-dom"]  # fmt: skip
    dom = subprocess.run(
        [BROWSER, *flags, checked.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', dom)
    assert found, dom[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"'))
    assert result["images"] >= 4 and result["loaded"] == result["images"]
    assert result["sections"] == list(SECTIONS)


def test_test_and_predict_save_maps_at_the_images_own_size(run, tmp_path):
    out = tmp_path / "test"
    invoke("test", run, "--out", out, "--save-maps")
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert len(rows) == 40 and float(rows[0]["pixel_threshold"]) > 0
    assert all(0.0 <= float(r["anomalous_area"]) <= 1.0 for r in rows)
    maps = sorted((out / "maps").glob("*.npy"))
    assert len(maps) == 40 and np.load(maps[0]).shape == (16, 16)  # array rows: the model's size
    assert (out / REPORT_FILE).exists()

    images = tmp_path / "images"
    images.mkdir()
    picture = make_synthetic(1, 32, 3, 1, anomaly_ratio=1.0).images[0]
    Image.fromarray(picture).resize((40, 24)).save(images / "wide.png")
    pred = tmp_path / "pred"
    invoke("predict", run, images, "--out", pred, "--save-maps")
    (row,) = csv.DictReader((pred / "predictions.csv").open())
    assert float(row["pixel_threshold"]) > 0 and 0.0 <= float(row["anomalous_area"]) <= 1.0
    assert np.load(pred / "maps" / "00000_wide.npy").shape == (24, 40)  # the file's own size
    assert Image.open(pred / "maps" / "00000_wide.png").size == (40, 24)


def test_save_maps_needs_an_output_folder(run):
    result = CliRunner().invoke(cli, ["test", str(run), "--save-maps"])
    assert result.exit_code == 2 and "--save-maps needs --out" in result.output


def test_report_of_a_folder_without_a_finished_run_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "config.json does not exist" in result.output
