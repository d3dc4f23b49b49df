"""One rule for "does this setting apply" (:func:`engine.config.applies`), from the registries
and the data section's switches, and the form and run comparison both following it."""

from __future__ import annotations

from typing import Any

import pytest

import engine
from engine.config import applies, nest
from engine.config.presets import list_presets, load_raw
from engine.losses.formulas import describe
from engine.optimizer_registry import OPTIMIZERS
from engine.registry import LOSSES
from tui.form import SettingsForm


def stored(preset: str, *overrides: str) -> dict[str, Any]:
    """A preset's resolved config as a run directory stores it."""
    return engine.load_config(preset, list(overrides)).to_dict()


@pytest.mark.parametrize("name", list(LOSSES))
def test_a_loss_parameter_applies_only_to_the_losses_that_have_it(name: str) -> None:
    config = {"loss": {"name": name}}
    for spec in LOSSES.values():
        for key in spec.form_keys():
            assert applies(key, config) == (key in LOSSES[name].form_keys()), (name, key)


def test_a_combined_loss_reads_a_loss_field_only_for_a_term_that_leaves_it_unset() -> None:
    terms = [{"name": "mse", "weight": 0.7}, {"name": "huber", "weight": 0.3}]
    assert applies("loss.delta", {"loss": {"terms": terms}})  # terms alone mean combined
    assert not applies("loss.quantile", {"loss": {"terms": terms}})
    terms[1]["params"] = {"delta": 2.0}
    assert not applies("loss.delta", {"loss": {"name": "combined", "terms": terms}})
    aliased = [{"name": "quantile", "params": {"q": 0.9}}]
    assert not applies("loss.quantile", {"loss": {"name": "combined", "terms": aliased}})
    # what the engine trains agrees: the unset term reads loss.delta, the set one does not
    unset = engine.load_config("combined", ["loss.terms=[{name: huber}]", "loss.delta=2"])
    assert describe(unset.loss) == "1·mean(½r² if |r|≤δ else δ(|r|-½δ)), r=y-ŷ, δ=2"
    given = engine.load_config(
        "combined", ["loss.terms=[{name: huber, params: {delta: 3}}]", "loss.delta=2"]
    )
    assert describe(given.loss).endswith("δ=3")


def test_loss_kind_keys() -> None:
    custom = {"loss": {"name": "custom", "callable": "x.py:f"}}
    combined = {"loss": {"name": "combined", "terms": [{"name": "mse"}]}}
    assert applies("loss.callable", custom) and applies("loss.params", custom)
    assert applies("loss.params.lam", custom) and not applies("loss.params.lam", combined)
    assert applies("loss.terms", combined) and not applies("loss.terms", custom)
    assert applies("loss.force", custom) and not applies("loss.force", combined)
    with_custom_term = {
        "loss": {
            "name": "combined",
            "terms": [{"name": "custom", "params": {"callable": "x.py:f"}}],
        }
    }
    assert applies("loss.force", with_custom_term)
    for key in ("loss.l1", "loss.l2", "loss.name"):
        assert all(applies(key, c) for c in (custom, combined, {"loss": {"name": "mae"}}))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_optimizer_hyperparameter_applies_only_to_the_optimizers_that_take_it(name: str) -> None:
    config = {"optim": {"name": name}}
    for key in {k for spec in OPTIMIZERS.values() for k in spec.form_keys()}:
        assert applies(key, config) == (key in OPTIMIZERS[name].form_keys()), (name, key)
    assert applies("optim.weight_decay", config) and applies("optim.batch_size", config)
    assert not applies("optim.momentum", {"optim": {"name": "rmsprop"}})


def test_missing_keys_take_their_defaults() -> None:
    assert applies("optim.momentum", {})  # sgd by default
    assert applies("early_stopping.patience", {"early_stopping": {}})  # on by default
    assert not applies("early_stopping.patience", {"early_stopping": {"enabled": False}})
    assert applies("early_stopping.enabled", {"early_stopping": {"enabled": False}})
    assert applies("data.n_samples", {}) and not applies("data.path", {})
    assert not applies("loss.delta", {})  # mse by default


def test_data_keys_follow_the_source_and_the_outlier_mode() -> None:
    csv, synthetic = stored("diabetes"), stored("default")
    for key in ("data.path", "data.target", "data.features"):
        assert applies(key, csv) and not applies(key, synthetic)
    for key in ("data.n_samples", "data.n_features", "data.noise", "data.outlier_fraction"):
        assert applies(key, synthetic) and not applies(key, csv)
    assert not applies("data.clip_quantile", synthetic)
    assert applies("data.clip_quantile", stored("default", "data.outliers=clip"))
    assert not applies("data.outlier_threshold", stored("default", "data.outliers=clip"))
    assert applies("data.outlier_threshold", stored("default", "data.outliers=drop"))
    assert applies("data.val_fraction", csv) and applies("seed", csv)


def test_nest_turns_the_forms_dotted_values_into_a_config() -> None:
    values = {
        "loss.params.scale": 2.0,
        "loss.name": "toy",
        "loss.params": {"a": 1},
        "optim.name": "adam",
        "seed": 3,
    }
    assert nest(values) == {
        "loss": {"name": "toy", "params": {"a": 1, "scale": 2.0}},
        "optim": {"name": "adam"},
        "seed": 3,
    }
    assert values["loss.params"] == {"a": 1}  # the caller's mapping is not changed
    assert nest({"loss.params": None, "loss.params.x": 1}) == {"loss": {"params": {"x": 1}}}


@pytest.mark.parametrize("preset", [p.name for p in list_presets() if p.bundled])
def test_the_form_and_a_stored_run_agree_on_what_applies(preset: str) -> None:
    """For every bundled preset, each form field applies in the form exactly when it applies
    to the run that preset starts (the runs table's labels use the stored config)."""
    raw, path = load_raw(preset)
    form = SettingsForm(raw, str(path.parent))
    config = stored(preset)
    for field in form.fields:
        assert form.applies(field.key) == applies(field.key, config), (preset, field.key)
