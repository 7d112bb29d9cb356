"""``anotrans export``: a run as one ONNX graph, images in, raw score, anomaly map and reconstruction out.

The graph is traced from the torch scoring code itself (:func:`compute_components` and
:meth:`Scorer.raw`, wrapped in :class:`ScoringGraph`), so when the definition of a score or of the map
changes, the export changes with it. The [0, 1] normalisation and the decision stay outside the graph,
as numpy code shared with the torch path (:mod:`anotrans.scoring.predictions`), fed by the metadata.

torch's TorchScript-based exporter is used (``dynamo=False``): the dynamo exporter needs onnxscript,
and the traced graph is what every model here exports to (Swin window attention, SoftPool and all).
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from anotrans.errors import AnotransError, ConfigError
from anotrans.export.metadata import (
    DEFAULT_OPSET,
    EXPORT_PRECISIONS,
    INPUT_NAME,
    MIN_OPSET,
    OUTPUT_NAMES,
    ModelInfo,
)
from anotrans.networks.registry import build_model_from_config
from anotrans.scoring.profile import MapProfile
from anotrans.scoring.scores import COMPONENT_NAMES, SCORE_FORMULAS, ScoreConfig, Scorer, compute_components
from anotrans.training import checkpoint as ckpt
from anotrans.utils.files import atomic_write_bytes, read_json

PRECISIONS = dict(zip(EXPORT_PRECISIONS, (torch.float32, torch.float16), strict=True))


class ExportError(AnotransError):
    """A model that the ONNX exporter could not turn into a graph (names the model and the reason)."""


class ScoringGraph(nn.Module):
    """The networks plus the score: ``image [B, C, H, W] in [-1, 1] -> (raw_score, map, reconstruction)``.

    In fp16 the networks run in half precision (weights and input cast, as ``Detector`` does for bf16);
    the residual, the map and the score are computed in fp32 either way, so the outputs are fp32.
    """

    def __init__(
        self,
        model: nn.Module,
        scorer: Scorer,
        dtype: torch.dtype = torch.float32,
        profile: MapProfile | None = None,
    ) -> None:
        super().__init__()
        self.model = model.to(dtype)
        self.profile = profile  # fp32 buffers: constants of the graph (zmap-topk)
        self.scorer = scorer
        self.dtype = dtype
        self.eval()  # BatchNorm on running statistics; the exporter restores this mode after tracing

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        config = self.scorer.config
        comp = compute_components(
            self.model,
            image.to(self.dtype),
            config.smoothing_sigma,
            map_kind=config.anomaly_map,
            profile=self.profile,
        )
        components = {n: getattr(comp, n) for n in COMPONENT_NAMES if getattr(comp, n) is not None}
        return self.scorer.raw(components).float(), comp.maps.float(), comp.reconstructions.float()


def run_info(run_dir: str | Path, precision: str = "fp32") -> ModelInfo:
    """The metadata of a finished run (what its export carries and the server describes)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    saved = read_json(Path(run_dir) / ckpt.CONFIG_FILE)
    formula = SCORE_FORMULAS[saved["score"]["score"]]
    return ModelInfo.from_run_config(saved, str(run_dir), formula, precision, version("anotrans"))


def load_run_graph(run_dir: str | Path, precision: str = "fp32") -> tuple[ScoringGraph, ModelInfo]:
    """The scoring graph of a finished run and the metadata it is exported with."""
    info = run_info(run_dir, precision)
    model = build_model_from_config(info.model_config)
    ckpt.load_weights(Path(run_dir) / ckpt.MODEL_FILE, model)
    scorer = Scorer(ScoreConfig.from_dict(info.score_config), info.stats)
    return ScoringGraph(model, scorer, PRECISIONS[precision], MapProfile.load(run_dir)), info


def to_onnx(graph: ScoringGraph, info: ModelInfo, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Trace ``graph`` with a dynamic batch axis, attach ``info`` as metadata and check the result."""
    if opset < MIN_OPSET:
        raise ConfigError(f"--opset must be >= {MIN_OPSET}, got {opset}")
    # Batch 2, not 1: a batch of one lets the tracer fold batch-sized shapes into constants.
    example = torch.zeros(2, info.channels, info.image_size, info.image_size)
    buf = io.BytesIO()
    names = [INPUT_NAME, *OUTPUT_NAMES]
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about Python ints: shapes but batch are fixed
            torch.onnx.export(
                graph,
                (example,),
                buf,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={name: {0: "batch"} for name in names},
                opset_version=opset,
            )
    except Exception as exc:  # the exporter raises many types; name the model and pass the reason on
        raise ExportError(f"model {info.model_name!r} cannot be exported to ONNX: {exc}") from exc
    proto = onnx.load_from_string(buf.getvalue())
    _declare_output_shapes(proto, info)
    proto.producer_name = "anotrans"
    proto.producer_version = info.anotrans_version
    onnx.helper.set_model_props(proto, info.to_props())
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _declare_output_shapes(proto: onnx.ModelProto, info: ModelInfo) -> None:
    """State the outputs' fixed sizes (the tracer leaves symbolic names like ``Castmap_dim_2``)."""
    size, channels = info.image_size, info.channels
    shapes = {"raw_score": [], "map": [size, size], "reconstruction": [channels, size, size]}
    for output in proto.graph.output:
        dims = output.type.tensor_type.shape.dim
        del dims[:]
        dims.add().dim_param = "batch"
        for value in shapes[output.name]:
            dims.add().dim_value = value


def max_differences(graph: ScoringGraph, model: bytes | str | Path, images: np.ndarray) -> dict[str, float]:
    """Largest |onnxruntime - torch| of each output on a float32 batch (onnxruntime's CPU provider)."""
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    ours = session.run(list(OUTPUT_NAMES), {INPUT_NAME: images})
    with torch.no_grad():
        theirs = [t.numpy() for t in graph(torch.from_numpy(images))]
    pairs = zip(OUTPUT_NAMES, ours, theirs, strict=True)
    return {name: float(np.abs(a.astype(np.float64) - b).max()) for name, a, b in pairs}


@dataclasses.dataclass
class Export:
    """What ``export_run`` wrote and how far onnxruntime is from torch on ``check_images`` random images."""

    path: Path
    info: ModelInfo
    differences: dict[str, float]
    check_images: int


def export_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    precision: str = "fp32",
    check_images: int = 4,
) -> Export:
    """Write ``run_dir``'s model as ONNX (default ``RUN_DIR/model.onnx``, fp16: ``model-fp16.onnx``).

    The written graph is then run on ``check_images`` seeded random images in [-1, 1] and compared
    with torch, so a broken export is seen at once (``anotrans export`` prints the differences).
    """
    graph, info = load_run_graph(run_dir, precision)
    suffix = "" if precision == "fp32" else f"-{precision}"
    path = Path(out) if out is not None else Path(run_dir) / f"model{suffix}.onnx"
    data = to_onnx(graph, info, opset).SerializeToString()
    atomic_write_bytes(path, data)
    differences = {}
    if check_images:
        rng = np.random.default_rng(0)
        shape = (check_images, info.channels, info.image_size, info.image_size)
        differences = max_differences(graph, data, rng.uniform(-1, 1, shape).astype(np.float32))
    return Export(path, info, differences, check_images)
