"""The validation normals' map profile: what a normal anomaly map looks like at each pixel.

On an aligned object (a bottle seen from above, a board in a jig) every normal image has the same
high-residual places: the rim, the highlights, edges G draws a little soft. A top-k score of the raw map
counts them in every image alike. The ``zmap-topk`` score (:mod:`anotrans.scoring.scores`) instead ranks
an image by how far its map departs, pixel by pixel, from the normals' maps there: the map minus their
per-pixel mean, over their per-pixel standard deviation plus that deviation's median over pixels (a floor,
so the few pixels where the validation normals happened to agree cannot dominate).

The profile is fitted once, when training ends, on the final weights' maps of the validation normals,
for the run's map kind and smoothing. It is saved beside the weights (:data:`PROFILE_FILE`) and goes into
the ONNX graph as two constant buffers. The validation normals' own scores, which the threshold is fitted
on, are computed leave-one-out (:func:`leave_one_out_scores`): scored against a profile that holds them,
they would look more normal than a new normal image does, and the threshold would sit too low.
Kept by a label-free rule on MVTec bottle (benchmarks/deviation_score.py, stop 28).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

from anotrans.errors import CheckpointError
from anotrans.scoring.maps import topk_mean, upsample
from anotrans.utils.files import atomic_write_bytes

PROFILE_FILE = "map_profile.safetensors"
MIN_NORMALS = 3  # leave-one-out needs a spread of at least two others


def _scale(std: Tensor) -> Tensor:
    """Per-pixel spread [..., H, W] plus its median over the pixels of each map."""
    # numpy's median (the mean of the two middle values; torch's takes the lower one): as measured
    floor = torch.as_tensor(np.median(std.flatten(-2).cpu().numpy(), axis=-1)).to(std)
    return (std + floor[..., None, None]).clamp_min(1e-12)  # identical maps: no spread at all


class MapProfile(nn.Module):
    """Per-pixel ``mean`` and ``scale`` [H, W] of normal maps of one kind (``map_kind``) and smoothing."""

    def __init__(self, mean: Tensor, scale: Tensor, map_kind: str, sigma: float) -> None:
        super().__init__()
        if mean.dim() != 2 or mean.shape != scale.shape:
            raise ValueError(
                f"a map profile needs two [H, W] tensors, got {list(mean.shape)}, {list(scale.shape)}"
            )
        self.register_buffer("mean", mean.float())
        self.register_buffer("scale", scale.float())
        self.map_kind = map_kind
        self.sigma = sigma

    @classmethod
    def fit(cls, maps: Tensor, map_kind: str, sigma: float) -> MapProfile:
        """The profile of normal maps [N, H, W] (:data:`MIN_NORMALS` or more)."""
        if maps.dim() != 3 or maps.shape[0] < MIN_NORMALS:
            raise ValueError(
                f"a map profile needs {MIN_NORMALS} or more normal maps [N, H, W], got {list(maps.shape)}"
            )
        maps = maps.double()
        return cls(maps.mean(dim=0), _scale(maps.std(dim=0, unbiased=False)), map_kind, sigma)

    def standardise(self, maps: Tensor) -> Tensor:
        """[B, H, W] maps in units of the normals' spread at each pixel (the profile resized to fit)."""
        size = tuple(maps.shape[-2:])
        mean, scale = upsample(self.mean[None], size)[0], upsample(self.scale[None], size)[0]
        return (maps.float() - mean) / scale

    def score(self, maps: Tensor) -> Tensor:
        """``zmap-topk``: the top-k mean of the standardised maps, [B, H, W] -> [B]."""
        return topk_mean(self.standardise(maps))

    def save(self, run_dir: str | Path) -> None:
        """Write :data:`PROFILE_FILE` in ``run_dir`` atomically."""
        tensors = {"mean": self.mean.cpu().contiguous(), "scale": self.scale.cpu().contiguous()}
        metadata = {"map_kind": self.map_kind, "sigma": repr(float(self.sigma))}
        atomic_write_bytes(Path(run_dir) / PROFILE_FILE, safetensors_bytes(tensors, metadata))

    @classmethod
    def load(cls, run_dir: str | Path) -> MapProfile | None:
        """The run's saved profile, None when it has none (runs saved before profiles existed)."""
        path = Path(run_dir) / PROFILE_FILE
        if not path.exists():
            return None
        try:
            with safe_open(str(path), "pt") as handle:
                metadata = handle.metadata() or {}
                mean, scale = handle.get_tensor("mean"), handle.get_tensor("scale")
            return cls(mean, scale, metadata["map_kind"], float(metadata["sigma"]))
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise CheckpointError(f"cannot read the map profile {path}: {exc}") from exc


def leave_one_out_scores(maps: Tensor) -> Tensor:
    """``zmap-topk`` of each of the normal maps [N, H, W] against the profile of the other N - 1."""
    n = maps.shape[0]
    if n < MIN_NORMALS:
        raise ValueError(f"leave-one-out scores need {MIN_NORMALS} or more normal maps, got {n}")
    maps = maps.double()
    mean = (maps.sum(dim=0) - maps) / (n - 1)
    var = ((maps**2).sum(dim=0) - maps**2) / (n - 1) - mean**2
    return topk_mean((maps - mean) / _scale(var.clamp_min(0).sqrt()))
