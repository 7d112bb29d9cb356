"""Options in, typed configs out: KEY=VALUE and YAML parsing, the split into sections, saved runs.

Every section (data, training, score, model) is read by the one strict rule of
:mod:`anotrans.utils.sections`, whether it comes from the command line, a YAML file or a run's config.json.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from anotrans.data.spec import DataSpec
from anotrans.errors import CheckpointError, ConfigError
from anotrans.scoring.maps import AUTO_MAP
from anotrans.scoring.profile import MIN_NORMALS
from anotrans.scoring.scores import AUTO_SCORE, PROFILE_SCORES, ScoreConfig
from anotrans.training.checkpoint import CONFIG_FILE, CONFIG_FORMAT, CONFIG_KEYS, CONFIG_SECTIONS
from anotrans.training.config import VAL_SELECTIONS, TrainConfig
from anotrans.utils.files import read_json
from anotrans.utils.sections import Section

# Options that may change when a run is resumed: they change neither the model nor the data (device and
# threads may change float rounding).
RESUMABLE_OPTIONS = frozenset(
    {"epochs", "device", "workers", "threads", "progress", "checkpoint_every", "compile", "dist_timeout"}
)
ALIASES = {"lambda": "score_lambda"}
SECTIONS: tuple[type[Section], ...] = (DataSpec, TrainConfig, ScoreConfig)
PRESETS = Path(__file__).resolve().parent / "configs"  # named configurations shipped with the package

log = logging.getLogger(__name__)


def option_names() -> list[str]:
    """Every option ``train`` accepts (the fields of DataSpec, TrainConfig and ScoreConfig)."""
    return sorted({name for cls in SECTIONS for name in cls.field_names()})


def parse_key_values(pairs: Sequence[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings (values parsed as YAML, dashes in keys read as underscores) as a dict."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} must look like KEY=VALUE, got {pair!r}")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) mapping of option names to values; dashes and underscores are both accepted.

    A name that is not a file but names a shipped preset (``recommended``) reads that preset.
    """
    if not Path(path).exists() and (PRESETS / f"{path}.yaml").exists():
        path = PRESETS / f"{path}.yaml"
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--config: file {path} not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config: {path} is not valid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config: {path} must hold a mapping of option: value")
    return data


def build_configs(options: dict[str, Any]) -> tuple[DataSpec, TrainConfig, ScoreConfig]:
    """Split flat options into the three typed configs; an unknown name is an error naming it.

    ``seed`` seeds both the data split and training, so one number reproduces a run.
    """
    opts = {ALIASES.get(k.replace("-", "_"), k.replace("-", "_")): v for k, v in options.items()}
    unknown = sorted(set(opts) - set(option_names()))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)}; known options: {', '.join(option_names())}"
        )

    def section(cls: type[Section]) -> dict[str, Any]:
        return {k: v for k, v in opts.items() if k in cls.field_names()}

    train = TrainConfig.from_dict(section(TrainConfig))
    spec = DataSpec.from_dict({**section(DataSpec), "seed": train.seed})
    score = ScoreConfig.from_dict(section(ScoreConfig))
    if score.score == "rotation" and not train.rotation_loss:
        raise ConfigError("--score rotation needs --rotation-loss W (W > 0): it trains D's quarter-turn head")
    return spec, train, score


@dataclasses.dataclass
class RunConfig:
    """A run directory's config.json, each section read by the strict rule (errors name the file)."""

    path: Path
    model: dict[str, Any]  # AnomalyGAN.config_dict(): rebuilt with build_model_from_config(model, source)
    data: DataSpec
    training: TrainConfig
    score: ScoreConfig
    normalisation: dict[str, Any] | None  # None until training has finished

    @property
    def source(self) -> str:
        return str(self.path)


def check_validation(splits: Any, train_cfg: TrainConfig, score_cfg: ScoreConfig) -> None:
    """With no validation normals (--val-split 0, the paper's protocol) nothing can be chosen honestly."""
    if score_cfg.score in PROFILE_SCORES and 0 < len(splits.val) < MIN_NORMALS:
        raise ConfigError(
            f"--score {score_cfg.score} fits a per-pixel profile of the validation normals' maps and needs "
            f"{MIN_NORMALS} or more; this run holds out {len(splits.val)}: raise --val-split (e.g. 0.1)"
        )
    if len(splits.val) >= 2:
        return
    wanted = [
        n
        for n, on in (
            (f"--select-epoch {train_cfg.select_epoch}", train_cfg.select_epoch in VAL_SELECTIONS),
            ("--score auto", score_cfg.score == AUTO_SCORE),
            ("--anomaly-map auto", score_cfg.anomaly_map == AUTO_MAP),
        )
        if on
    ]
    if wanted:
        raise ConfigError(
            f"{' and '.join(wanted)} need validation normals to make synthetic anomalies from, and this "
            f"run holds out {len(splits.val)}: raise --val-split (e.g. 0.1), or use --select-epoch last "
            "and a named --score / --anomaly-map"
        )
    if len(splits.val) == 0:
        log.warning(
            "--val-split 0 (the paper's protocol): no epoch or score selection; normalisation and threshold "
            "are fitted on the training normals, so the threshold is optimistic"
        )


def read_run_config(run_dir: str | Path) -> RunConfig:
    """Read ``run_dir/config.json``; a section this version cannot read is an error naming file and key."""
    path = Path(run_dir) / CONFIG_FILE
    saved = read_json(path)
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(saved).__name__}")
    version = saved.get("format_version", 1)  # files written before the field existed are format 1
    if not isinstance(version, int) or isinstance(version, bool) or version > CONFIG_FORMAT:
        raise CheckpointError(
            f"{path} has config format {version!r}, written by a newer anotrans; this version reads "
            f"format {CONFIG_FORMAT} (upgrade anotrans to use this run)"
        )
    unknown = sorted(set(saved) - CONFIG_KEYS)
    if unknown:
        raise CheckpointError(f"{path}: unknown key(s) {', '.join(unknown)} (written by a newer anotrans?)")
    missing = [name for name in CONFIG_SECTIONS if not isinstance(saved.get(name), dict)]
    if missing:
        raise CheckpointError(
            f"{path} has no {', '.join(missing)} section (or not a mapping): not written by `anotrans train`?"
        )
    return RunConfig(
        path,
        saved["model"],
        DataSpec.from_dict(saved["data"], str(path)),
        TrainConfig.from_dict(saved["training"], str(path)),
        ScoreConfig.from_dict(saved["score"], str(path)),
        saved.get("normalisation"),
    )


def resume_config(run_dir: str | Path, overrides: dict[str, Any]) -> RunConfig:
    """The saved run to continue, with the few ``RESUMABLE_OPTIONS`` that may change applied."""
    run = read_run_config(run_dir)
    refused = sorted(set(overrides) - RESUMABLE_OPTIONS)
    if refused:
        raise ConfigError(
            f"--resume takes its settings from {run.path}; "
            f"drop {', '.join(refused)} (only {', '.join(sorted(RESUMABLE_OPTIONS))} may change)"
        )
    run.training = TrainConfig.from_dict({**run.training.to_dict(), **overrides})
    return run
