"""Bundled presets load and validate; saving a preset never clobbers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from engine.config import Config, ConfigError, field_docs
from engine.config.presets import (
    DESCRIPTION_CHARS,
    PresetExistsError,
    PresetSaveError,
    list_presets,
    load_config,
    load_raw,
    save_preset,
    user_dir,
)
from engine.config.yaml_io import LOADER_NAME, MAX_PRESET_BYTES
from engine.data.dataset import load_dataset


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


# ---------------------------------------------------------------------------------------------
# The bounded loader (engine.config.yaml_io) as presets use it


def write_preset(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def test_saving_into_a_preset_folder_that_is_a_file_says_so(isolated_config_home):
    isolated_config_home.parent.mkdir(parents=True)
    isolated_config_home.write_text("not a folder")
    with pytest.raises(PresetSaveError, match="is a file, not a folder") as info:
        save_preset(load_config("default"), "mine")
    assert not isinstance(info.value, FileExistsError)
    assert isinstance(info.value, ConfigError)  # the dashboard shows it as "✗ message"


def test_saving_over_a_folder_named_like_the_preset_says_so(isolated_config_home):
    (isolated_config_home / "mine.yaml").mkdir(parents=True)
    with pytest.raises(PresetSaveError, match="exists and is not a file"):
        save_preset(load_config("default"), "mine", overwrite=True)


def test_only_an_existing_preset_file_asks_to_overwrite(isolated_config_home):
    save_preset(load_config("default"), "mine")
    with pytest.raises(PresetExistsError):
        save_preset(load_config("default"), "mine")
    assert not list(isolated_config_home.glob("*.tmp"))


def test_an_alias_under_loss_params_is_refused_before_validation(tmp_path):
    path = write_preset(
        tmp_path,
        "p",
        "loss:\n  name: custom\n  callable: m.py:f\n  params:\n    a: &x [1, 2]\n    b: [*x, *x]\n",
    )
    with pytest.raises(ConfigError, match=r"p\.yaml:5: YAML aliases"):
        load_config(str(path))


def test_an_anchor_that_is_never_used_is_harmless(tmp_path):
    path = write_preset(tmp_path, "p", "optim: &o\n  lr: 0.01\n")
    assert load_config(str(path)).optim.lr == 0.01


def test_a_preset_over_the_size_cap_is_refused_without_parsing(tmp_path):
    path = write_preset(tmp_path, "big", "description: x\n" + "# padding\n" * 120_000)
    assert path.stat().st_size > MAX_PRESET_BYTES
    with pytest.raises(ConfigError, match=r"big\.yaml: preset file is larger than 1024 KiB"):
        load_config(str(path))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("seed: 2001-13-01\n", "cannot read a value"),  # PyYAML raises a bare ValueError here
        ("seed: !!python/object/apply:os.system [echo hi]\n", "YAML syntax error"),
        ("optim:\n  lr: 0.1\n  lr: 0.2\n", ":3: duplicate key 'lr'"),
        ("? [1, 2]\n: 3\n", "YAML syntax error"),
        ("description: " + "{a: " * 12 + "1" + "}" * 12 + "\n", "nested deeper than 10 levels"),
        ("description: a\x07b\n", "YAML syntax error"),  # a control character
    ],
)
def test_hostile_yaml_is_one_config_error(tmp_path, text, expected):
    path = write_preset(tmp_path, "p", text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert expected in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_non_utf8_bytes_are_named(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(b"description: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: cannot read preset: not UTF-8 text \(byte 14"):
        load_config(str(path))


def test_the_c_loader_is_used_where_pyyaml_has_libyaml():
    assert ("CSafeLoader" if yaml.__with_libyaml__ else "SafeLoader") == LOADER_NAME


@pytest.mark.timing
def test_a_preset_near_the_cap_parses_in_seconds(tmp_path):
    values = ", ".join(f"{i}.5" for i in range(100_000))  # ~0.9 MB, ~100k nodes
    path = write_preset(
        tmp_path, "p", f"loss:\n  name: custom\n  callable: m.py:f\n  params:\n    w: [{values}]\n"
    )
    start = time.monotonic()
    assert len(load_raw(str(path))[0]["loss"]["params"]["w"]) == 100_000
    assert time.monotonic() - start < 8  # the pure-Python loader takes ~8 s per MB alone


def test_listing_cuts_a_user_description_to_one_short_line(isolated_config_home):
    write_preset(
        isolated_config_home, "chatty", 'description: "line one\\n\\x1b[2J' + "x" * 500 + '"\n'
    )
    info = next(p for p in list_presets() if p.name == "chatty")
    assert len(info.description) == DESCRIPTION_CHARS and info.description.endswith("…")
    assert info.description.startswith("line one [2J") and "\x1b" not in info.description
    bundled = {p.name: p.description for p in list_presets() if p.bundled}
    assert all(not d.endswith("…") for d in bundled.values())  # bundled ones are whole


def test_a_bad_value_carries_its_key_and_line_in_the_file(tmp_path):
    path = write_preset(tmp_path, "p", "seed: 1\noptim:\n  name: adam\n  lr: -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert (info.value.key, info.value.line, info.value.where) == ("optim.lr", 4, str(path))
    assert str(info.value).startswith(f"{path}: optim.lr must be > 0")
