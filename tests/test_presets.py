"""Bundled presets load and validate; saving a preset never clobbers."""

from __future__ import annotations

import pytest
import yaml

from engine.config import Config, ConfigError, field_docs
from engine.data import load_dataset
from engine.presets import list_presets, load_config, save_preset, user_dir


def test_every_bundled_preset_validates_and_has_a_description():
    names = [p.name for p in list_presets() if p.bundled]
    assert {"default", "huber-outliers", "ridge", "quantile", "adam-fast", "diabetes"} <= set(names)
    for name in names:
        cfg = load_config(name)
        assert isinstance(cfg, Config) and cfg.description, name


def test_presets_match_what_they_promise():
    assert load_config("huber-outliers").data.outlier_fraction == 0.1
    assert load_config("huber-outliers").loss.name == "huber"
    assert load_config("ridge").loss.l2 > 0 and load_config("ridge").loss.name == "mse"
    assert load_config("quantile").loss.quantile == 0.9
    assert load_config("default").loss.name == "mse" and load_config("default").optim.name == "sgd"


def test_bundled_csv_is_found_from_the_preset_folder():
    ds = load_dataset(load_config("diabetes"))
    assert ds.shape == (442, 10)
    assert ds.feature_names[:3] == ["age", "sex", "bmi"]


def test_save_preset_roundtrip_and_refusals(isolated_config_home):
    cfg = load_config("diabetes", ["optim.lr=0.02"])
    path = save_preset(cfg, "mine")
    assert path == user_dir() / "mine.yaml" == isolated_config_home / "mine.yaml"
    again = load_config("mine")
    assert again.optim.lr == 0.02 and again.name == "mine"
    assert len(load_dataset(again).train) > 0  # the relative CSV path was made absolute
    assert any(p.name == "mine" and not p.bundled for p in list_presets())
    with pytest.raises(FileExistsError):
        save_preset(cfg, "mine")
    save_preset(load_config("default"), "mine", overwrite=True)
    assert load_config("mine").data.source == "synthetic"
    with pytest.raises(ConfigError, match="bundled preset"):
        save_preset(cfg, "default")
    with pytest.raises(ConfigError, match="use letters"):
        save_preset(cfg, "../evil")


def test_saved_yaml_is_plain_safe_yaml(isolated_config_home):
    path = save_preset(load_config("ridge"), "r2")
    raw = yaml.safe_load(path.read_text())
    assert raw["loss"]["l2"] == 0.1 and "base_dir" not in raw


def test_every_field_is_documented():
    rows = field_docs()
    assert len(rows) > 30
    for key, _, doc in rows:
        assert doc and doc.endswith("."), key


def test_a_yaml_extension_in_the_name_is_not_doubled(isolated_config_home):
    path = save_preset(load_config("default"), "mine.yaml")
    assert path.name == "mine.yaml"
    assert load_config("mine").name == "mine"
