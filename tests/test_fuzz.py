"""Fuzzing the input boundary with Hypothesis: presets, raw YAML bytes, CSV files, ``--set``.

The property everywhere: bad input is refused with a :class:`ConfigError` (the one error class the
CLI turns into exit 2) whose message is one line of bounded length; nothing else escapes. The
in-process examples call the same loaders the CLI does; a few real ``python -m engine`` runs
check exit codes and stderr. Examples are bounded so the file runs in seconds on CI.
"""

from __future__ import annotations

import os
import string
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import Config, ConfigError, field_docs, validate_field
from engine.config.presets import load_config
from engine.data.dataset import Dataset, load_dataset
from tests import warm_process
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[1]
MESSAGE_LIMIT = 300
FUZZ = settings(
    max_examples=60,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

KEYS = [key for key, _, _ in field_docs()]
SECTIONS = sorted({key.split(".")[0] for key in KEYS if "." in key})


def assert_refusal(exc: ConfigError) -> None:
    """A refusal is one line of bounded length."""
    text = str(exc)
    assert text and "\n" not in text and len(text) <= MESSAGE_LIMIT, text[: 2 * MESSAGE_LIMIT]


def accepted_or_refused(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call``; a ConfigError must be a good refusal, anything else fails the test."""
    try:
        return call(*args, **kwargs)
    except ConfigError as exc:
        assert_refusal(exc)
        return None


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def preset_file(folder: Path, text: str | bytes) -> Path:
    path = folder / "p.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------------
# Presets from the schema

short_text = st.text(string.ascii_letters + string.digits + " .:_-/[]{}!&*#'\"", max_size=20)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    short_text,
    st.sampled_from(
        [
            "1e-3",
            "1_000",
            "nan",
            ".inf",
            "2001-13-01",
            "0x1f",
            "sgd",
            "mse",
            "cpu",
            "csv",
            "huber",
            "combined",
            "custom",
            "m.py:f",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(short_text, inner, max_size=3)
    ),
    max_leaves=6,
)
terms = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["mse", "mae", "huber", "quantile", "custom", "nope"]),
            "weight": st.one_of(st.floats(-1, 2), short_text),
        },
        optional={
            "params": st.dictionaries(
                st.sampled_from(["delta", "q", "quantile", "callable", "x"]), scalars, max_size=2
            )
        },
    ),
    max_size=3,
)


@st.composite
def schema_presets(draw) -> dict[str, Any]:
    """A preset: some schema keys with random values, sometimes a wrong or extra key."""
    raw: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=8, unique=True)):
        value = draw(terms) if key == "loss.terms" else draw(values)
        section, _, name = key.rpartition(".")
        (raw.setdefault(section, {}) if section else raw)[name] = value
    if draw(st.booleans()):
        bad_key = draw(st.sampled_from(["lr", "optim.lrr", "data.n_sample", "extra"]))
        section, _, name = bad_key.rpartition(".")
        target = raw.setdefault(section, {}) if section else raw
        if isinstance(target, dict):
            target[name] = draw(scalars)
    if draw(st.integers(0, 4)) == 0:  # a whole section of the wrong type
        raw[draw(st.sampled_from(SECTIONS))] = draw(scalars)
    return raw


@FUZZ
@given(raw=schema_presets())
def test_schema_presets_load_or_are_refused_in_one_line(folder, raw):
    path = preset_file(folder, yaml.safe_dump(raw, allow_unicode=True))
    cfg = accepted_or_refused(load_config, str(path))
    assert cfg is None or isinstance(cfg, Config)


# ---------------------------------------------------------------------------------------------
# YAML text: aliases, nesting, raw bytes

leaf_text = st.sampled_from(
    [
        "1",
        "-2.5e3",
        "null",
        "true",
        "'s'",
        "x",
        "*a",
        "&a 1",
        "&a [1]",
        "!!python/name:os.system",
        "!!binary Zm9v",
        "2001-13-01",
        "~",
    ]
)
flow = st.recursive(
    leaf_text,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(["a", "b", "lr", "a"]), inner), max_size=3).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"
        ),
        inner.map(lambda x: f"&a {x}" if not x.startswith(("&", "*")) else x),
    ),
    max_leaves=12,
)


@FUZZ
@given(key=st.sampled_from(KEYS), value=flow, nest=st.integers(0, 14))
def test_flow_yaml_with_aliases_and_nesting_is_refused_in_one_line(folder, key, value, nest):
    section, _, name = key.rpartition(".")
    body = "[" * nest + value + "]" * nest
    text = f"{section}:\n  {name}: {body}\n" if section else f"{name}: {body}\n"
    cfg = accepted_or_refused(load_config, str(preset_file(folder, "anchor: &a 0\n" + text)))
    assert cfg is None or isinstance(cfg, Config)


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )
)
def test_random_bytes_as_a_preset_are_refused_in_one_line(folder, data):
    accepted_or_refused(load_config, str(preset_file(folder, data)))


# ---------------------------------------------------------------------------------------------
# CSV cells and shapes

cells = st.one_of(
    st.sampled_from(
        [
            "1",
            "-2.5",
            "1e39",
            "1e308",
            "-1e999",
            "nan",
            "inf",
            "1_000",
            "",
            " ",
            "0x10",
            "١٢٣",
            "3.4e38",
            "+.5",
            "1e-50",
            "1,5",
            '"2"',
            "two",
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(string.printable, max_size=8),
)


@st.composite
def csv_texts(draw) -> str:
    header = draw(st.lists(st.sampled_from(["a", "b", "y", "", " y "]), min_size=1, max_size=4))
    width = len(header)
    rows = draw(
        st.lists(st.lists(cells, min_size=max(width - 1, 0), max_size=width + 1), max_size=8)
    )
    lines = [",".join(header)] + [",".join(row) for row in rows]
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


@FUZZ
@given(text=csv_texts(), standardize=st.booleans(), poly=st.integers(1, 6))
def test_random_csv_reads_or_is_a_data_error_in_one_line(folder, text, standardize, poly):
    (folder / "d.csv").write_text(text, encoding="utf-8")
    cfg = make_config(
        data={
            "source": "csv",
            "path": str(folder / "d.csv"),
            "target": "y",
            "standardize": standardize,
            "poly_degree": poly,
        }
    )
    ds = accepted_or_refused(load_dataset, cfg)
    if ds is not None:
        assert isinstance(ds, Dataset) and len(ds.train) >= 2


# ---------------------------------------------------------------------------------------------
# --set strings and form fields

set_values = st.one_of(
    short_text,
    st.sampled_from(
        [
            "",
            "null",
            "1e-3",
            "[a, b]",
            "{a: 1}",
            "&a [*a]",
            "[[[[[[[[[[[[1]]]]]]]]]]]]",
            "!!binary x",
            "'unclosed",
            "2001-13-01",
            "1e999",
            "-0",
            "true",
        ]
    ),
)


@FUZZ
@given(
    key=st.one_of(st.sampled_from(KEYS + ["loss.params.delta", "loss.params.x"]), short_text),
    value=set_values,
    sep=st.sampled_from(["=", "=", ""]),
)
def test_random_set_strings_apply_or_are_refused_in_one_line(key, value, sep):
    cfg = accepted_or_refused(load_config, "default", [f"{key}{sep}{value}"])
    assert cfg is None or isinstance(cfg, Config)


@FUZZ
@given(key=st.sampled_from(KEYS), text=set_values)
def test_random_form_field_text_is_a_value_or_a_keyed_refusal(key, text):
    try:
        validate_field(key, text)
    except ConfigError as exc:
        assert_refusal(exc)
        assert exc.key and exc.key.startswith(key.split(".")[0]) and exc.reason


# ---------------------------------------------------------------------------------------------
# Regressions Hypothesis found (kept as plain examples)


SET_BOMB = (
    "description=[&a [x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], "
    "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b], [*c,*c,*c,*c,*c,*c,*c,*c,*c]]"
)
"""A 150-byte ``--set`` value that expands to 9^4 strings (the issue's preset had more levels)."""


@pytest.mark.parametrize(
    "override",
    [
        "seed=2001-13-01",
        "name=0000-00-00",
        SET_BOMB,
        "loss.params.x=[[[[[[[[[[[[1]]]]]]]]]]]]",
        "optim.lr=" + "9" * 400 + "x",
    ],
)
def test_set_values_go_through_the_bounded_loader(override):
    with pytest.raises(ConfigError) as info:
        load_config("default", [override])
    assert_refusal(info.value)


@pytest.mark.parametrize(
    "key, text",
    [
        ("loss.params", "{a: 2001-13-01}"),
        ("loss.terms", "[&a {name: mse}, *a]"),
        ("optim.lr", "1" * 500 + "x"),
    ],
)
def test_form_field_yaml_goes_through_the_bounded_loader(key, text):
    with pytest.raises(ConfigError) as info:
        validate_field(key, text)
    assert_refusal(info.value)
    assert info.value.key == key and len(info.value.reason) <= 120


# ---------------------------------------------------------------------------------------------
# The real process


@pytest.mark.parametrize(
    "text",
    [
        "optim: {lr: &a 0.1, momentum: *a}\n",
        "data:\n  source: csv\n  path: missing.csv\n  target: y\n",
        "description: " + "[" * 60 + "]" * 60 + "\n",
        "\x00\x01binary",
        "train:\n  epochs: 2\ndata:\n  n_samples: 20\n",
    ],
)
def test_the_cli_exits_0_1_or_2_without_a_traceback(tmp_path, isolated_config_home, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(isolated_config_home.parent),
        "LINREG_TUI_RUNS_DIR": str(tmp_path / "runs"),
    }
    proc = warm_process.run(
        [sys.executable, "-m", "engine", "train", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1, 2) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) <= 3 and all(len(line) <= MESSAGE_LIMIT for line in lines), proc.stderr
