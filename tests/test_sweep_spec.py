"""The sweep spec: parsing, defaults and one-line refusals (no torch, no Optuna, no training)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.config import ConfigError
from engine.sweep.spec import load_sweep
from tests import warm_process

ROOT = Path(__file__).resolve().parents[1]


def spec_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return str(path)


def load(tmp_path: Path, text: str, *overrides: str, **kw):
    return load_sweep("default", spec_file(tmp_path, text), list(overrides), **kw)


def test_a_full_spec_is_read_with_its_kinds(tmp_path):
    setup = load(
        tmp_path,
        """
params:
  optim.lr: {low: 1.0e-4, high: 1, log: true}
  train.epochs: {low: 50, high: 200, step: 50}
  optim.name: [sgd, adam]
  loss.delta: [0.5, 1, 2]
sampler: random
trials: 7
parallel: 3
pruning: {startup_trials: 2, warmup_epochs: 3}
seed: 11
""",
    )
    s = setup.spec
    kinds = {p.key: (p.kind, p.low, p.high, p.log, p.step, p.choices) for p in s.params}
    assert kinds["optim.lr"] == ("float", 1e-4, 1.0, True, None, ())
    assert kinds["train.epochs"] == ("int", 50, 200, False, 50, ())
    assert kinds["optim.name"][5] == ("sgd", "adam")
    assert kinds["loss.delta"][5] == (0.5, 1.0, 2.0)  # typed as the config types them
    assert (s.sampler, s.trials, s.parallel, s.seed) == ("random", 7, 3, 11)
    assert (s.pruning, s.startup_trials, s.warmup_epochs) == (True, 2, 3)


def test_defaults_follow_the_preset(tmp_path):
    s = load(tmp_path, "params: {optim.lr: [0.01, 0.1]}", "seed=5").spec
    assert (s.sampler, s.trials, s.metric, s.direction, s.seed) == (
        "tpe",
        20,
        "val_loss",
        "minimize",
        5,
    )
    assert s.parallel >= 1 and s.pruning
    s = load(tmp_path, "params: {optim.lr: [0.01]}", "early_stopping.monitor=train_loss").spec
    assert s.metric == "train_loss"
    s = load(tmp_path, "params: {optim.lr: [0.01]}\nmetric: val.r2").spec
    assert s.direction == "maximize"  # R² is better higher


def test_grid_is_the_product_in_spec_order_and_caps_trials(tmp_path):
    s = load(
        tmp_path,
        """
params:
  optim.lr: [0.1, 0.2]
  train.epochs: {low: 10, high: 30, step: 10}
sampler: grid
trials: 100
""",
    ).spec
    assert s.trials == 6
    assert list(s.grid) == [
        {"optim.lr": lr, "train.epochs": e} for lr in (0.1, 0.2) for e in (10, 20, 30)
    ]


def test_the_study_name_ignores_trials_and_parallel_but_not_the_search(tmp_path):
    text = "params: {optim.lr: {low: 0.001, high: 1, log: true}}\ntrials: 5\n"
    a = load(tmp_path, text).study_name
    assert a == load(tmp_path, text, trials=9, parallel=2).study_name
    assert a.startswith("default-")
    assert a != load(tmp_path, text, "optim.momentum=0.5").study_name
    assert a != load(tmp_path, text.replace("high: 1", "high: 2")).study_name


def test_a_preset_sweep_section_is_read_and_stripped_from_the_config(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text(
        "name: mine\noptim: {lr: 0.1}\nsweep:\n  params:\n"
        "    optim.lr: [0.01, 0.1]\n  sampler: grid\n"
    )
    setup = load_sweep(str(preset))
    assert "sweep" not in setup.base and setup.config.optim.lr == 0.1
    assert setup.spec.sampler == "grid" and setup.spec.trials == 2


def test_a_preset_with_a_sweep_section_still_trains(tmp_path):
    """``train``/``cv``/the dashboard ignore the section that ``sweep`` reads."""
    from engine.config.presets import load_config

    preset = tmp_path / "mine.yaml"
    preset.write_text(
        "name: mine\noptim: {lr: 0.1}\nsweep:\n  params:\n    optim.lr: [0.01, 0.1]\n"
    )
    assert load_config(str(preset)).optim.lr == 0.1
    proc = warm_process.run(
        [
            sys.executable,
            "-m",
            "engine",
            "train",
            str(preset),
            "--no-save",
            "--set",
            "train.epochs=3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "params: {optim.lr: [0.1]}\nsampeler: tpe",
            "unknown sweep key 'sampeler' (did you mean 'sampler'?)",
        ),
        (
            "params: {optim.lrr: [0.1]}",
            "unknown config key in params 'optim.lrr' (did you mean 'optim.lr'?)",
        ),
        ("params: {optim.lr: {low: 1, high: 0.1}}", "needs low < high"),
        ("params: {optim.lr: {low: 0, high: 1, log: true}}", "a log range needs low > 0"),
        (
            "params: {optim.lr: {low: 0.1, high: 1, log: true, step: 0.1}}",
            "log and step cannot be combined",
        ),
        (
            "params: {optim.lr: {low: 0.1, hihg: 1}}",
            "unknown range key 'hihg' (did you mean 'high'?)",
        ),
        ("params: {optim.lr: {low: -1, high: 1}}", "params.optim.lr low -1: optim.lr must be > 0"),
        ("params: {optim.name: {low: 0, high: 1}}", "optim.name is a choice of sgd"),
        (
            "params: {loss.name: [mse, hubber]}",
            "params.loss.name choice 'hubber': loss.name must be one of",
        ),
        ("params: {loss.quantile: [0.5, 1.5]}", "params.loss.quantile choice 1.5"),
        ("params: {optim.lr: [0.1, 0.1]}", "lists a choice twice"),
        ("params: {optim.lr: []}", "empty list"),
        ("params: {loss.terms: [[]]}", "cannot be searched"),
        ("params: {}", "params must map config keys"),
        ("params: {optim.lr: {low: 0.001, high: 1}}\nsampler: grid", "the grid sampler needs"),
        ("params: {optim.lr: [0.1]}\nsampler: bayes", "unknown sampler 'bayes'"),
        (
            "params: {optim.lr: [0.1]}\nmetric: val_los",
            "unknown metric 'val_los' (did you mean 'val_loss'?)",
        ),
        ("params: {optim.lr: [0.1]}\nmetric: test.r2", "metric test.r2 needs data.test_fraction"),
        ("params: {optim.lr: [0.1]}\ndirection: down", "unknown direction 'down'"),
        ("params: {optim.lr: [0.1]}\ntrials: 0", "trials must be a whole number >= 1"),
        (
            "params: {optim.lr: [0.1]}\npruning: {warmup: 3}",
            "unknown key 'warmup' (did you mean 'warmup_epochs'?)",
        ),
        ("params: {train.epochs: {low: 1, high: 10, step: 0.5}}", "must be whole numbers"),
        (
            "params: {optim.lr: {low: 0.0001, high: 1, step: 0.00000001}}\nsampler: grid",
            "the grid has",
        ),
        ("- 1", "a sweep spec must be a mapping"),
    ],
)
def test_bad_specs_are_one_line_naming_the_problem(tmp_path, text, expected):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    message = str(err.value)
    assert expected in message and "\n" not in message
    assert message.startswith(str(tmp_path / "spec.yaml"))


def test_a_preset_without_a_sweep_says_how_to_give_one(tmp_path):
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: bare\nloss: {name: mse}\n")
    with pytest.raises(ConfigError, match="no sweep: section .* --sweep FILE"):
        load_sweep(str(bare))


@pytest.mark.parametrize(
    "preset",
    [
        "default",
        "adam-fast",
        "asymmetric",
        "combined",
        "diabetes",
        "huber-outliers",
        "quantile",
        "ridge-custom",
        "ridge",
    ],
)
def test_bundled_presets_carry_a_sweep_section_that_checks(preset):
    setup = load_sweep(preset)
    assert setup.spec.params and setup.spec.trials >= 3


def sweep_cmd() -> list[str]:
    """The real command, as a user types it (``python -m engine`` is ``linreg-tui``'s engine)."""
    return [sys.executable, "-m", "engine", "sweep"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--sweep", "SPEC"], "error: SPEC: params.optim.lr low -1: optim.lr must be > 0"),
        (["--sweep", "missing.yaml"], "error: missing.yaml: sweep file not found"),
        (["--sweep", "SPEC", "--trials", "0"], "--trials: expected a whole number >= 1"),
        (["--sweep", "SPEC", "--set", "optim.lrr=1"], "unknown key 'optim.lrr'"),
    ],
)
def test_the_command_refuses_bad_input_with_exit_2_and_one_line(tmp_path, args, expected):
    spec = spec_file(tmp_path, "params: {optim.lr: {low: -1, high: 1}}")
    args, expected = [a.replace("SPEC", spec) for a in args], expected.replace("SPEC", spec)
    proc = warm_process.run(
        [*sweep_cmd(), "default", *args, "--runs-dir", str(tmp_path / "runs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # nothing written for bad input
