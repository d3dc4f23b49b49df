"""Data preparation: splits, scaling from training statistics only, synthetic outliers."""

from __future__ import annotations

import pytest
import torch

from engine.data.dataset import load_dataset, to_original
from tests.conftest import make_config


def test_split_sizes_and_disjoint_rows():
    cfg = make_config(
        data={"n_samples": 100, "val_fraction": 0.2, "test_fraction": 0.1, "standardize": False}
    )
    ds = load_dataset(cfg)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (70, 20, 10)
    rows = torch.cat([ds.train.x, ds.val.x, ds.test.x])
    assert torch.unique(rows, dim=0).shape[0] == 100


def test_standardisation_uses_training_statistics_only():
    ds = load_dataset(make_config(data={"n_samples": 300}))
    assert torch.allclose(ds.train.x.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(ds.train.x.std(0, unbiased=False), torch.ones(3), atol=1e-5)
    raw = load_dataset(make_config(data={"n_samples": 300, "standardize": False}))
    expected = (raw.val.x - raw.train.x.mean(0)) / raw.train.x.std(0, unbiased=False)
    assert torch.allclose(ds.val.x, expected, atol=1e-5)


def test_synthetic_outliers_hit_the_requested_fraction():
    clean = load_dataset(
        make_config(
            data={"n_samples": 1000, "val_fraction": 0.0, "standardize": False},
            early_stopping={"monitor": "train_loss"},
        )
    )
    dirty = load_dataset(
        make_config(
            data={
                "n_samples": 1000,
                "val_fraction": 0.0,
                "standardize": False,
                "outlier_fraction": 0.1,
            },
            early_stopping={"monitor": "train_loss"},
        )
    )
    changed = (clean.train.y != dirty.train.y).sum().item()
    assert changed == 100
    assert clean.true_weights == dirty.true_weights


def test_coefficients_map_back_to_raw_units():
    cfg = make_config(data={"n_samples": 200, "standardize_target": True})
    ds = load_dataset(cfg)
    raw = load_dataset(make_config(data={"n_samples": 200, "standardize": False}))
    w, b = [0.5, -1.0, 2.0], 0.3
    w_raw, b_raw = to_original(ds, w, b)
    pred_scaled = (ds.val.x @ torch.tensor(w) + b) * ds.y_std + ds.y_mean
    pred_raw = raw.val.x @ torch.tensor(w_raw) + b_raw
    assert torch.allclose(pred_scaled, pred_raw, atol=1e-4)
    assert to_original(load_dataset(make_config(data={"standardize": False})), w, b) == (None, None)


def test_constant_feature_is_warned_by_name(tmp_path):
    (tmp_path / "c.csv").write_text("a,k,y\n" + "".join(f"{i},7,{i}\n" for i in range(10)))
    ds = load_dataset(
        make_config(data={"source": "csv", "path": str(tmp_path / "c.csv"), "target": "y"})
    )
    assert ds.warnings == ["feature 'k' is constant on the training split"]
    assert torch.isfinite(ds.train.x).all()


@pytest.mark.parametrize("frac", [0.0, 0.3])
def test_too_small_split_is_rejected(frac):
    from engine.config import ConfigError

    with pytest.raises(ConfigError, match="too few rows"):
        load_dataset(
            make_config(data={"n_samples": 3, "val_fraction": 0.5, "test_fraction": frac or 0.0})
        )


def csv_config(tmp_path, text: str):
    (tmp_path / "d.csv").write_text(text)
    return make_config(data={"source": "csv", "path": str(tmp_path / "d.csv"), "target": "y"})


@pytest.mark.parametrize(
    "cell, reason",
    [
        ("1_000", "is not a number"),  # float() reads it as 1000
        ("١٢٣", "is not a number"),  # so are Arabic-Indic digits
        ("0x10", "is not a number"),
        ("two", "is not a number"),
        ("nan", "is not a finite number"),
        ("-inf", "is not a finite number"),
        ("1e39", "is too large (beyond ±3.4e38, the float32 range)"),
        ("-1e308", "is too large (beyond ±3.4e38, the float32 range)"),
        ("1e999", "is too large (beyond ±3.4e38, the float32 range)"),
    ],
)
def test_a_bad_cell_names_file_line_and_column(tmp_path, cell, reason):
    from engine.config import ConfigError

    cfg = csv_config(tmp_path, f"a,y\n1,2\n2,3\n{cell},4\n4,6\n")
    with pytest.raises(ConfigError) as info:
        load_dataset(cfg)
    assert str(info.value) == f"{tmp_path / 'd.csv'}:4: column 'a': {cell!r} {reason}"


def test_a_long_bad_cell_is_quoted_short(tmp_path):
    from engine.config import ConfigError

    cfg = csv_config(tmp_path, "a,y\n1,2\n2,3\n" + "9" * 5000 + "x,4\n4,6\n")
    with pytest.raises(ConfigError, match="is not a number") as info:
        load_dataset(cfg)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    "cell, value",
    [("+1.5", 1.5), (".5", 0.5), ("3.4e38", 3.4e38), ("1E-3", 1e-3), (" 7 ", 7.0), ("-0", 0.0)],
)
def test_plain_numbers_still_read(tmp_path, cell, value):
    from engine.data.raw_source import read_csv

    x, _, _ = read_csv(csv_config(tmp_path, f"a,y\n{cell},1\n2,3\n").data, None)
    assert float(x[0, 0]) == float(torch.tensor(value, dtype=torch.float32))


def test_values_too_large_to_standardise_are_a_data_error(tmp_path):
    from engine.config import ConfigError

    with pytest.raises(ConfigError, match="feature 'a' is too large to standardise"):
        load_dataset(csv_config(tmp_path, "a,y\n3e38,1\n-3e38,3\n3e38,4\n1,6\n"))


def test_the_dataset_has_no_unused_source_field():
    from engine.data.dataset import Dataset

    assert "source" not in Dataset.__dataclass_fields__
