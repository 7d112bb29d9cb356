"""The one config rule: every section rejects unknown keys and wrong types by name, and round-trips."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from anotrans.config import build_configs, read_run_config
from anotrans.data.spec import DataSpec
from anotrans.errors import ConfigError
from anotrans.networks import build_model_from_config, make_config
from anotrans.networks.baselines import GanomalyConfig, SaganConfig, SkipGanomalyConfig
from anotrans.networks.generator import AnoTransConfig
from anotrans.scoring.scores import ScoreConfig
from anotrans.training.checkpoint import CONFIG_FILE
from anotrans.training.config import TrainConfig
from anotrans.utils.files import write_json

# (section class, its name in messages, a float field, an int field)
SECTIONS = [
    (DataSpec, "data", "val_split", "image_size"),
    (TrainConfig, "training", "lr", "epochs"),
    (ScoreConfig, "score", "score_lambda", None),
    (AnoTransConfig, "model", "mlp_ratio", "embed_dim"),
    (GanomalyConfig, "model", None, "nz"),
    (SkipGanomalyConfig, "model", None, "ngf"),
    (SaganConfig, "model", None, "ngf"),
]
IDS = [cls.__name__ for cls, *_ in SECTIONS]


@pytest.mark.parametrize(("cls", "section", "float_field", "int_field"), SECTIONS, ids=IDS)
def test_unknown_key_is_named_with_the_known_ones(cls, section, float_field, int_field) -> None:
    with pytest.raises(ConfigError) as err:
        cls.from_dict({"epohcs": 3})
    message = str(err.value)
    assert "epohcs" in message and f"the {section} section" in message
    assert all(name in message for name in cls.field_names())


@pytest.mark.parametrize(("cls", "section", "float_field", "int_field"), SECTIONS, ids=IDS)
def test_wrong_type_names_field_expected_type_and_value(cls, section, float_field, int_field) -> None:
    field = int_field or float_field
    with pytest.raises(ConfigError, match=rf"{section} option {field} must be (int|a number), got 'ten'"):
        cls.from_dict({field: "ten"})
    if int_field:
        with pytest.raises(ConfigError, match=rf"{int_field} must be int, got 2\.5"):
            cls.from_dict({int_field: 2.5})
        with pytest.raises(ConfigError, match=rf"{int_field} must be int, got True"):
            cls.from_dict({int_field: True})


@pytest.mark.parametrize(("cls", "section", "float_field", "int_field"), SECTIONS, ids=IDS)
def test_round_trip_through_json(cls, section, float_field, int_field) -> None:
    config = cls()
    again = cls.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.to_dict() == config.to_dict()
    if float_field:
        value = cls.from_dict({float_field: 1})
        assert getattr(value, float_field) == 1.0 and isinstance(getattr(value, float_field), float)


def test_lists_become_tuples_and_their_items_are_checked() -> None:
    assert AnoTransConfig.from_dict({"depths": [2, 2, 2, 2]}).depths == (2, 2, 2, 2)
    with pytest.raises(ConfigError, match="depths must be a list of int, got"):
        AnoTransConfig.from_dict({"depths": [2, "two", 2, 2]})


def test_optional_fields_and_mappings() -> None:
    assert DataSpec.from_dict({"root": None}).root is None
    assert DataSpec.from_dict({"root": Path("/x")}).root == "/x"  # paths are written as text
    with pytest.raises(ConfigError, match="max_train_images must be int or null, got 'many'"):
        DataSpec.from_dict({"max_train_images": "many"})
    with pytest.raises(ConfigError, match="model_options must be a mapping, got"):
        TrainConfig.from_dict({"model_options": ["embed_dim", 16]})
    with pytest.raises(ConfigError, match="augment must be true or false or null, got 'yes please'"):
        DataSpec.from_dict({"augment": "yes please"})


def test_range_checks_still_apply() -> None:
    with pytest.raises(ConfigError, match="--epochs must be >= 1"):
        TrainConfig.from_dict({"epochs": 0})


def test_yaml_number_without_dot_gets_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"write e\.g\. 1\.0e-4"):
        build_configs({"lr": "1e-4"})


def test_options_and_model_options_follow_the_rule() -> None:
    with pytest.raises(ConfigError, match="training option epochs must be int, got 'ten'"):
        build_configs({"epochs": "ten"})
    with pytest.raises(ConfigError, match="model option embed_dim must be int, got '16'"):
        make_config("anotrans", embed_dim="16")


def _run_config(tmp_path: Path, **changes: dict) -> Path:
    sections = {
        "model": {"name": "anotrans", "config": make_config("anotrans").to_dict()},
        "data": DataSpec().to_dict(),
        "training": TrainConfig().to_dict(),
        "score": ScoreConfig().to_dict(),
        "normalisation": None,
    }
    for name, extra in changes.items():
        sections[name] = {**sections[name], **extra}
    write_json(tmp_path / CONFIG_FILE, sections)
    return tmp_path


def test_saved_config_round_trips(tmp_path: Path) -> None:
    run = read_run_config(_run_config(tmp_path))
    assert (run.data, run.training, run.score) == (DataSpec(), TrainConfig(), ScoreConfig())


@pytest.mark.parametrize("section", ["data", "training", "score"])
def test_saved_config_from_another_version_names_file_and_key(tmp_path: Path, section: str) -> None:
    run_dir = _run_config(tmp_path, **{section: {"warmup_epochs": 3}})
    with pytest.raises(ConfigError) as err:
        read_run_config(run_dir)
    message = str(err.value)
    assert str(run_dir / CONFIG_FILE) in message and "warmup_epochs" in message
    assert f"the {section} section" in message and "written by another version" in message


def test_saved_model_section_from_another_version_names_file_and_key(tmp_path: Path) -> None:
    model = {"name": "anotrans", "config": {**make_config("anotrans").to_dict(), "dropout": 0.1}}
    source = str(tmp_path / CONFIG_FILE)
    with pytest.raises(
        ConfigError, match=rf"{re.escape(source)}: unknown option\(s\) dropout in the model section \(written"
    ):
        build_model_from_config(model, source)
