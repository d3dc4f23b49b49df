"""The settings form model without an app: fields from the schema and the registries, what
applies, per-field checks by the engine, engine refusals routed by key, and what changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.config import loss_choices
from engine.config.presets import load_raw
from engine.optimizer_registry import OPTIMIZERS
from engine.registry import LOSSES, LossSpec, param_key
from tests.toy_loss import registered_toys
from tui.form import EXAMPLE_TERMS, FieldError, SettingsForm, fmt_value


def form_of(preset: str = "default", **settings: object) -> SettingsForm:
    raw, path = load_raw(preset)
    for key, value in settings.items():
        section, name = key.split("__")
        raw.setdefault(section, {})[name] = value
    return SettingsForm(raw, str(path.parent))


def loss_param_rows(form: SettingsForm) -> set[str]:
    """The loss-parameter rows the form shows now."""
    return {f.key for f in form.fields if f.losses and form.applies(f.key)}


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_registered_loss_shows_exactly_its_parameters(name: str) -> None:
    form = form_of()
    form.edit("loss.name", name)
    assert loss_param_rows(form) == {param_key(name, p.name) for p in LOSSES[name].params}
    cfg = form.build_config()
    assert cfg.loss.name == name
    assert form.loss_formula() == LOSSES[name].render()


def test_choices_and_labels_come_from_the_registries() -> None:
    form = form_of()
    assert tuple(form.field("loss.name").choices) == loss_choices()
    assert tuple(form.field("optim.name").choices) == tuple(OPTIMIZERS)
    assert form.field("loss.delta").label == "delta δ"
    assert form.field("loss.delta").losses == ("huber", "smooth_l1")


@pytest.fixture
def toy_loss() -> Iterator[LossSpec]:
    with registered_toys() as (loss, _):
        yield loss


def test_a_registered_toy_loss_gets_a_choice_a_field_and_a_formula(toy_loss) -> None:
    form = form_of()
    assert "toy" in form.field("loss.name").choices
    assert not form.applies("loss.params.scale")
    form.edit("loss.name", "toy")
    assert loss_param_rows(form) == {"loss.params.scale"}
    assert form.field("loss.params.scale").label == "scale s"
    assert form.entries["loss.params.scale"] == "1.0"
    assert form.loss_formula() == "1·mean((y-ŷ)²)"

    form.edit("loss.params.scale", "-0.5")  # its range, from the ParamSpec
    assert form.errors == {"loss.params.scale": "must be > 0"}
    assert form.loss_formula() == "(fix loss.params.scale: must be > 0)"
    form.edit("loss.params.scale", "3")
    assert form.errors == {}
    cfg = form.build_config()
    assert cfg.loss.name == "toy" and cfg.loss.params == {"scale": 3.0}
    assert form.loss_formula() == "3·mean((y-ŷ)²)"

    form.edit("loss.name", "mse")  # its params never reach another loss
    assert form.build_config().loss.params == {}


def test_momentum_applies_only_to_optimizers_that_take_it() -> None:
    form = form_of()
    for name, spec in OPTIMIZERS.items():
        form.edit("optim.name", name)
        assert form.applies("optim.momentum") == ("momentum" in spec.hyperparams)
        assert form.applies("optim.lr") and form.applies("optim.weight_decay")


def test_early_stopping_fields_apply_only_when_it_is_on() -> None:
    form = form_of()
    keys = [
        "early_stopping.monitor",
        "early_stopping.patience",
        "early_stopping.min_delta",
        "early_stopping.restore_best",
    ]
    assert all(form.applies(k) for k in keys)
    form.edit("early_stopping.enabled", False)
    assert not any(form.applies(k) for k in keys)


def test_a_fields_text_is_checked_by_the_engine_as_typed() -> None:
    form = form_of()
    form.edit("optim.lr", "-1")
    assert form.errors == {"optim.lr": "must be > 0"}
    form.edit("optim.lr", "abc")
    assert form.errors == {"optim.lr": "must be a number"}
    with pytest.raises(FieldError) as err:
        form.build_config()
    assert (err.value.key, err.value.reason) == ("optim.lr", "must be a number")
    form.edit("optim.batch_size", "")  # optional: empty is full batch
    form.edit("optim.lr", "0.2")
    assert form.errors == {} and form.build_config().optim.batch_size is None


def test_an_engine_refusal_is_marked_at_its_key_and_cleared_once_answered() -> None:
    form = form_of()
    form.edit("data.val_fraction", "0")
    with pytest.raises(FieldError) as err:
        form.build_config()
    assert err.value.key == "early_stopping.monitor"
    assert "data.val_fraction is 0" in form.errors["early_stopping.monitor"]
    form.edit("optim.lr", "0.1")  # an unrelated edit: the refusal still stands
    assert "early_stopping.monitor" in form.errors
    form.edit("early_stopping.monitor", "train_loss")
    assert form.errors == {}
    assert form.build_config().early_stopping.monitor == "train_loss"


def test_combined_terms_are_prefilled_and_checked_at_their_field() -> None:
    form = form_of()
    form.edit("loss.name", "combined")
    assert form.entries["loss.terms"] == fmt_value(EXAMPLE_TERMS)
    assert form.loss_formula() == "0.7·mean((y-ŷ)²) + 0.3·mean(|y-ŷ|)"
    form.edit("loss.terms", "[{name: mse, weight: -1}]")
    assert "loss.terms[0].weight must be >= 0" in form.errors["loss.terms"]
    form.edit("loss.terms", "")
    with pytest.raises(FieldError) as err:
        form.build_config()
    assert err.value.key == "loss.terms"


def test_a_failed_runs_complaint_about_a_hidden_loss_field_goes_to_the_loss() -> None:
    form = form_of()
    assert form.mark("loss.params.lam", "unknown parameter 'lam'") == "loss.name"
    assert form.mark("data.path", "not found") is None  # no such field: the top bar says it


def test_leaving_custom_drops_its_callable_and_params() -> None:
    form = form_of("ridge-custom")
    assert form.params_hint() == ("params: lam=0.1", False)
    form.edit("loss.name", "mse")
    cfg = form.build_config()
    assert cfg.loss.callable is None and cfg.loss.params == {}
    form.edit("loss.name", "custom")
    assert form.build_config().loss.params == {"lam": 0.1}
    form.edit("loss.params", "{under:3}")  # YAML reads one key "under:3": the hint says so
    assert form.params_hint() == ("params: under:3=None", True)


def test_modified_since_the_preset() -> None:
    form = form_of()
    assert form.modified() == set()
    form.edit("optim.lr", "0.05")  # the preset's own value, retyped
    assert form.modified() == set()
    form.edit("optim.lr", "0.5")
    form.edit("early_stopping.enabled", False)
    assert form.modified() == {"optim.lr", "early_stopping.enabled"}
    raw, path = load_raw("default")
    form.load(raw, str(path.parent))
    assert form.modified() == set() and form.entries["optim.lr"] == "0.05"
