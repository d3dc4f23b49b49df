"""Config errors carry the key and a short reason; one validator checks a form field's text.

``str(e)`` stays the one-line CLI message (tests/test_cli.py pins those); ``e.key`` and
``e.reason`` let a form show the complaint at the right field without reading the text.
"""

from __future__ import annotations

import pickle

import pytest

from engine.config import (
    LOSS_CHOICES,
    ConfigError,
    FieldInfo,
    apply_overrides,
    field_docs,
    field_info,
    key_line,
    parse_config,
    validate_field,
    yaml_io,
)
from engine.config.presets import load_config
from engine.optimizer_registry import builtin_optimizer_names


def refused(raw: dict, where: str = "t") -> ConfigError:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, where=where)
    return err.value


@pytest.mark.parametrize(
    "raw, key, reason, message",
    [
        (
            {"optim": {"lr": 0}},
            "optim.lr",
            "must be > 0",
            "t: optim.lr must be > 0.0 (range (0.0, inf)); got 0.0",
        ),
        (
            {"optim": {"lr": "abc"}},
            "optim.lr",
            "must be a number",
            "t: optim.lr must be a number, got 'abc'",
        ),
        (
            {"train": {"epochs": 2.5}},
            "train.epochs",
            "must be a whole number",
            "t: train.epochs must be an integer, got 2.5",
        ),
        (
            {"model": {"bias": "maybe"}},
            "model.bias",
            "must be true or false",
            "t: model.bias must be true or false, got 'maybe'",
        ),
        (
            {"optim": {"name": "sdg"}},
            "optim.name",
            "must be one of sgd, adam, adamw",
            "t: optim.name must be one of sgd, adam, adamw; got 'sdg' (did you mean 'sgd'?)",
        ),
        (
            {"optim": {"lrate": 1}},
            "optim.lrate",
            "unknown key (did you mean 'optim.lr'?)",
            "t: unknown key 'optim.lrate' (did you mean 'optim.lr'?)",
        ),
        ({"optim": 3}, "optim", "must be a mapping", "t: optim must be a mapping, got 3"),
        (
            {"train": {"device": "gpu"}},
            "train.device",
            "must be auto, cpu, cuda, cuda:N or mps",
            "t: train.device must be auto, cpu, cuda, cuda:N or mps; got 'gpu'",
        ),
        (
            {"data": {"val_fraction": 0.6, "test_fraction": 0.5}},
            "data.val_fraction",
            "val_fraction + test_fraction must be < 1",
            None,
        ),
        (
            {"data": {"val_fraction": 0}},
            "early_stopping.monitor",
            "val_loss needs data.val_fraction > 0",
            None,
        ),
        ({"data": {"source": "csv"}}, "data.path", "required when data.source is csv", None),
        ({"loss": {"name": "custom"}}, "loss.callable", "required", None),
        ({"loss": {"name": "combined"}}, "loss.terms", "required for a combined loss", None),
        (
            {"loss": {"name": "mse", "terms": [{"name": "mae"}]}},
            "loss.terms",
            "needs loss.name: combined",
            None,
        ),
    ],
)
def test_errors_from_sections_carry_key_and_reason(raw, key, reason, message):
    err = refused(raw)
    assert (err.key, err.reason, err.where) == (key, reason, "t")
    if message is not None:
        assert str(err) == message


@pytest.mark.parametrize(
    "terms, key, reason",
    [
        ([{"name": "mse"}, {"name": "mae", "weight": -1}], "loss.terms[1].weight", "must be >= 0"),
        (
            [{"name": "hubr"}],
            "loss.terms[0].name",
            "must be one of mse, mae, huber, smooth_l1, log_cosh, quantile, custom",
        ),
        ([{"name": "huber", "params": {"delta": 0}}], "loss.terms[0].params.delta", "must be > 0"),
        ([{"name": "quantile", "params": {"q": 1.5}}], "loss.terms[0].params.q", "must be < 1"),
        (
            [{"name": "huber", "params": {"dleta": 1}}],
            "loss.terms[0].params.dleta",
            "unknown key (did you mean 'loss.terms[0].params.delta'?)",
        ),
        (
            [{"name": "mse", "params": {"delta": 1}}],
            "loss.terms[0].params",
            "mse takes no parameters",
        ),
        (
            [{"name": "custom", "params": {}}],
            "loss.terms[0].params.callable",
            "required for a custom term",
        ),
        (["mse"], "loss.terms[0]", "must be a mapping"),
    ],
)
def test_errors_in_combined_terms_name_the_term(terms, key, reason):
    err = refused({"loss": {"terms": terms}})
    assert (err.key, err.reason) == (key, reason)
    assert str(err).startswith("t: ") and key in str(err)


@pytest.mark.parametrize(
    "override, key, reason",
    [
        ("optim.lr=-1", "optim.lr", "must be > 0"),
        ("optim.lrr=1", "optim.lrr", "unknown key (did you mean 'optim.lr'?)"),
        ("optim=1", "optim", "is a section; set one of its keys"),
        ("a.b.c=1", "a.b.c", "expected section.key (two levels)"),
        ("optim.lr", "optim.lr", "expected section.key=value"),
        ("seed=-1", "seed", "must be >= 0"),
    ],
)
def test_errors_from_set_overrides_carry_key_reason_and_where(override, key, reason):
    with pytest.raises(ConfigError) as err:
        apply_overrides({}, [override])
    assert (err.value.key, err.value.reason, err.value.where) == (key, reason, f"--set {override}")
    assert str(err.value).startswith(f"--set {override}: ")


def test_errors_from_a_preset_file_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  lr: -0.5\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert (err.value.key, err.value.reason, err.value.where) == (
        "optim.lr",
        "must be > 0",
        str(path),
    )
    with pytest.raises(ConfigError) as err:  # an override checked after the file is read
        load_config(str(path), ["optim.lr=0.1", "loss.delta=0"])
    assert (err.value.key, err.value.reason) == ("loss.delta", "must be > 0")


def test_key_line_finds_a_key_in_the_preset_text():
    text = (
        "name: x\noptim:\n  lr: -1\nloss:\n  terms:\n    - {name: mse}\n    - name: mae\n"
        "      weight: -1\n"
    )
    assert key_line(text, "optim.lr") == 3
    assert key_line(text, "loss.terms[1].weight") == 8
    assert key_line(text, "loss.terms[0]") == 6
    assert key_line(text, "loss.terms[4]") == 5  # not there: its closest parent
    assert key_line(text, "seed") is None
    assert key_line("a: [", "a") is None  # not YAML


def test_the_fields_survive_pickling():
    err = refused({"optim": {"lr": 0}})
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ConfigError and str(back) == str(err)
    assert (back.key, back.reason, back.where, back.line) == ("optim.lr", "must be > 0", "t", None)


# ---------------------------------------------------------------------------------------------
# validate_field: one field's text


@pytest.mark.parametrize(
    "key, text, value",
    [
        ("optim.lr", " 0.1 ", 0.1),
        ("optim.lr", "1e-3", 0.001),
        ("train.epochs", "200", 200),
        ("train.epochs", "1e3", 1000),
        ("optim.batch_size", "", None),
        ("optim.batch_size", "32", 32),
        ("early_stopping.enabled", "false", False),
        ("early_stopping.enabled", "True", True),
        ("loss.name", "huber", "huber"),
        ("optim.name", "adamw", "adamw"),
        ("train.device", "cuda:1", "cuda:1"),
        ("description", "a line", "a line"),
        ("loss.callable", "my_losses.py:rmse", "my_losses.py:rmse"),
        ("loss.callable", "pkg.mod:Loss", "pkg.mod:Loss"),
        ("loss.callable", "", None),
        ("loss.params", "{under: 3, over: 1}", {"under": 3, "over": 1}),
        ("loss.params", "", {}),
        (
            "loss.terms",
            "[{name: mse, weight: 0.7}, {name: mae, weight: 0.3}]",
            [{"name": "mse", "weight": 0.7}, {"name": "mae", "weight": 0.3}],
        ),
        ("loss.terms", "", None),
        ("data.features", "[x1, x2]", ["x1", "x2"]),
    ],
)
def test_validate_field_returns_the_typed_value(key, text, value):
    assert validate_field(key, text) == value


@pytest.mark.parametrize(
    "key, text, reason",
    [
        ("optim.lr", "abc", "must be a number"),
        ("optim.lr", "inf", "must be a finite number"),
        ("optim.lr", "0", "must be > 0"),
        ("optim.lr", "", "required"),
        ("optim.momentum", "1", "must be < 1"),
        ("loss.quantile", "1", "must be < 1"),
        ("loss.delta", "-1", "must be > 0"),
        ("train.epochs", "2.5", "must be a whole number"),
        ("train.epochs", "0", "must be >= 1"),
        ("optim.batch_size", "0", "must be >= 1"),
        ("seed", "-1", "must be >= 0"),
        ("early_stopping.enabled", "maybe", "must be true or false"),
        ("loss.name", "hubr", "must be one of " + ", ".join(LOSS_CHOICES)),  # + custom, combined
        ("optim.name", "rmsprop", "must be one of sgd, adam, adamw"),
        ("train.device", "gpu", "must be auto, cpu, cuda, cuda:N or mps"),
        ("loss.callable", "my_losses", "expected file.py:obj or package.module:obj"),
        ("loss.params", "[1, 2]", "expected a mapping, e.g. {under: 3, over: 1}"),
        (
            "loss.params",
            "{a: 1",
            "not valid YAML: did not find expected ',' or '}'"
            if yaml_io.LOADER_NAME == "CSafeLoader"
            else "not valid YAML: expected ',' or '}', but got '<stream end>'",
        ),
        ("loss.params", "{a: 1, a: 2}", "duplicate key 'a' in one mapping"),
        (
            "loss.params",
            "{a: &x [1], b: *x}",
            "YAML aliases (*name) are not allowed; write the value out",
        ),
        (
            "loss.terms",
            "{name: mse}",
            "expected a list, e.g. [{name: mse, weight: 0.7}, {name: mae, weight: 0.3}]",
        ),
        (
            "loss.terms",
            "[{name: mse, weight: -1}]",
            "loss.terms[0].weight must be >= 0.0 (range [0.0, inf)); got -1.0",
        ),
        ("data.features", "[a, [2]]", "data.features[1] must be a string, got [2]"),
    ],
)
def test_validate_field_refuses_with_key_and_reason(key, text, reason):
    with pytest.raises(ConfigError) as err:
        validate_field(key, text)
    assert (err.value.key, err.value.reason) == (key, reason)
    assert str(err.value) == f"{key}: {reason}"


def test_a_refused_yaml_field_is_not_cached_as_accepted():
    value = validate_field("loss.params", "{a: 1}")
    value["a"] = 2  # the caller's copy: the next read is unchanged
    assert validate_field("loss.params", "{a: 1}") == {"a": 1}


def test_an_unknown_field_is_refused():
    for key in ("optim.lrr", "optim", "loss.params.nope"):
        with pytest.raises(ConfigError) as err:
            field_info(key)
        assert (err.value.key, err.value.reason) == (key, "unknown key")


def test_field_info_describes_every_documented_key():
    kinds = {"float", "int", "bool", "choice", "str", "spec", "params", "terms", "list"}
    for key, default, doc in field_docs():
        info = field_info(key)
        assert isinstance(info, FieldInfo) and info.kind in kinds, key
        assert (info.default, info.doc) == (default, doc)
    assert field_info("optim.batch_size") == FieldInfo(
        "optim.batch_size", "int", (), {"min": 1}, field_info("optim.batch_size").doc, None, True
    )
    assert field_info("loss.quantile").bounds == {"gt": 0.0, "lt": 1.0}
    # every built-in optimizer, in the registry's order (a new one needs no edit here)
    assert field_info("optim.name").choices == builtin_optimizer_names()
    assert {"sgd", "adam", "adamw"} <= set(builtin_optimizer_names())
    assert field_info("loss.name").choices[-2:] == ("custom", "combined")
    assert field_info("loss.terms").kind == "terms" and field_info("loss.terms").optional
