"""The loss check: it passes correct losses, names the property a broken one fails, with numbers,
and ``linreg-tui check-loss`` gives one clear line and exit 2 for every bad spec."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
import torch

from engine.cli.main import main
from engine.config import LOSS_NAMES, ConfigError, LossConfig
from engine.config.presets import bundled_dir
from engine.losses.check import RESIDUALS, check_loss, preflight

LOSSES = textwrap.dedent('''
    import torch
    from torch import nn

    CONSTANT = 3

    def my_mse(pred, target):
        """mean((y-ŷ)²)"""
        return torch.mean((target - pred) ** 2)

    def detaches(pred, target):
        return torch.mean((target - pred.detach()) ** 2)

    def uses_item(pred, target):
        return torch.tensor(torch.mean((target - pred) ** 2).item())

    def returns_float(pred, target):
        return torch.mean((target - pred) ** 2).item()

    def returns_vector(pred, target):
        return (target - pred) ** 2

    def detached_plus_zero(pred, target):
        return torch.mean((target - pred.detach()) ** 2) + 0.0 * pred.sum()

    class _Twice(torch.autograd.Function):
        @staticmethod
        def forward(ctx, r):
            ctx.save_for_backward(r)
            return (r ** 2).mean()

        @staticmethod
        def backward(ctx, g):
            (r,) = ctx.saved_tensors
            return g * 4 * r / r.numel()  # twice the true gradient 2·r/n

    def wrong_backward(pred, target):
        return _Twice.apply(target - pred)

    def returns_nan(pred, target):
        return torch.mean(torch.log(target - pred))  # log of negative residuals

    def maximised(pred, target):
        return -torch.mean((target - pred) ** 2)

    def ignores_weights(pred, target, weights):
        return torch.mean((target - pred) ** 2)

    def one_arg(pred):
        return pred.sum()

    def raises(pred, target):
        raise ValueError("shapes do not match")

    class NotAModule:
        def __call__(self, pred, target):
            return pred

    class Scaled(nn.Module):
        """scale·mean((y-ŷ)²)"""

        def __init__(self, scale):
            super().__init__()
            self.scale = scale

        def forward(self, pred, target):
            return self.scale * torch.mean((target - pred) ** 2)
''')


@pytest.fixture
def losses(tmp_path, monkeypatch):
    """A folder with ``losses.py`` (good and broken losses) as the cwd."""
    (tmp_path / "losses.py").write_text(LOSSES)
    (tmp_path / "boom.py").write_text("import torch\nx = 1 / 0\n")
    (tmp_path / "syntax.py").write_text("def f(:\n    pass\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- the report ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_builtin_loss_passes(name):
    report = check_loss(name)
    assert report.ok, report.failures
    assert [p.status for p in report.properties] == ["PASS"] * 6
    assert report.summary.startswith(f"loss check passed for {name}: 6/6 properties")


def test_values_at_residuals_and_symmetry_are_the_real_numbers():
    mse = check_loss("mse")
    assert [r for r, _ in mse.table] == list(RESIDUALS)
    assert [v for _, v in mse.table] == pytest.approx([r * r for r in RESIDUALS], abs=1e-12)
    assert mse.symmetric is True

    pinball = check_loss("quantile", {"quantile": 0.9})
    assert pinball.symmetric is False
    # r = y - ŷ > 0 (under-prediction) costs q·r, r < 0 costs (1-q)·|r|: 9x at q = 0.9
    assert dict(pinball.table)[1.0] == pytest.approx(0.9)
    assert dict(pinball.table)[-1.0] == pytest.approx(0.1)
    assert "under-prediction costs 9× more" in pinball.symmetry

    huber = check_loss("huber", {"delta": 2.0})
    assert dict(huber.table)[2.0] == pytest.approx(2.0)  # ½·2² at the threshold
    assert "δ=2" in huber.formula


def test_worked_examples_pass_and_report_their_shape():
    base = str(bundled_dir())
    ridge = check_loss("examples/ridge_loss.py:MSEWithL2", {"lam": 0.1}, base_dir=base)
    assert ridge.ok and ridge.takes_weights and ridge.symmetric
    assert "∂L/∂w" in ridge.properties[3].detail
    asym = check_loss("examples/asymmetric_loss.py:asymmetric_mse", {"under": 3.0}, base_dir=base)
    assert asym.ok and asym.symmetric is False
    assert dict(asym.table)[1.0] == pytest.approx(3.0)
    assert dict(asym.table)[-1.0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "obj, prop, words",
    [
        ("detaches", "differentiable", "output has no grad_fn"),
        ("uses_item", "differentiable", "output has no grad_fn"),
        ("returns_float", "scalar", "returned a float, not a tensor"),
        ("returns_vector", "scalar", "returned a tensor of shape (8,), not a scalar"),
        ("detached_plus_zero", "differentiable", "∂L/∂ŷ is 0 for all 8 predictions"),
        ("wrong_backward", "gradcheck", "autograd's gradient differs from finite differences"),
        ("returns_nan", "finite", "returned nan on a random batch"),
        ("maximised", "minimal", "is lower"),
        ("ignores_weights", "differentiable", "gradient does not reach the weights"),
        ("raises", "runs", "raised ValueError: shapes do not match"),
    ],
)
def test_a_broken_loss_fails_the_property_it_breaks(losses, obj, prop, words):
    report = check_loss(f"losses.py:{obj}")
    assert not report.ok
    failed = [p for p in report.properties if p.status == "FAIL"]
    assert failed[0].name == prop, report.failures
    assert words in failed[0].detail
    assert report.summary.startswith(f"loss check failed for losses.py:{obj}: {prop}: ")
    assert "\n" not in report.summary


def test_gradcheck_failure_gives_the_numbers(losses):
    report = check_loss("losses.py:wrong_backward")
    detail = next(p.detail for p in report.properties if p.name == "gradcheck")
    # "∂L/∂ŷ[i]: autograd A vs finite difference B" with A = 2·B (the backward doubles it)
    a, b = (float(x) for x in detail.split(": autograd ")[1].split(" vs finite difference "))
    assert a == pytest.approx(2 * b, rel=1e-3)


def test_check_accepts_loss_objects_and_configs(losses):
    assert check_loss(torch.nn.MSELoss()).ok
    assert check_loss(lambda pred, target: torch.mean(torch.abs(target - pred))).ok
    report = check_loss(
        LossConfig(
            name="combined",
            terms=[
                {"name": "mse", "weight": 0.5},
                {
                    "name": "custom",
                    "weight": 1.0,
                    "params": {"callable": "losses.py:Scaled", "scale": 2.0},
                },
            ],
        ),
        base_dir=str(losses),
    )
    assert report.ok
    assert report.formula == "0.5·mean((y-ŷ)²) + 1·scale·mean((y-ŷ)²) [scale=2]"
    assert dict(report.table)[1.0] == pytest.approx(2.5)


def test_preflight_raises_or_warns_when_forced(losses):
    cfg = LossConfig(name="custom", callable="losses.py:maximised")
    with pytest.raises(
        ConfigError,
        match=r"^loss.callable: loss check failed for "
        r"losses.py:maximised: minimal: ",
    ):
        preflight(cfg, str(losses))
    cfg.force = True
    (warning,) = preflight(cfg, str(losses))
    assert "minimal" in warning and "loss.force is true" in warning
    assert preflight(LossConfig(name="custom", callable="losses.py:my_mse"), str(losses)) == []


# --- the command ---------------------------------------------------------------------------------


def test_check_loss_command_passes_with_a_report(losses, capsys):
    assert main(["check-loss", "losses.py:Scaled", "--params", "scale=2"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "loss: losses.py:Scaled"
    assert lines[1] == "formula: scale·mean((y-ŷ)²) [scale=2]"
    for prop in ("runs", "scalar", "finite", "differentiable", "gradcheck", "minimal"):
        assert any(line.split()[:2] == ["PASS", prop] for line in lines), prop
    assert any(line.startswith("symmetry: symmetric") for line in lines)
    row = next(line for line in lines if line.startswith("L ")).split()[1:]
    assert [float(v) for v in row] == pytest.approx([2 * r * r for r in RESIDUALS], rel=1e-3)
    assert lines[-1] == "result: PASS (6/6 properties passed)"


def test_check_loss_command_takes_json_params_builtins_and_presets(losses, capsys):
    import json

    assert main(["check-loss", "losses.py:Scaled", "--params", '{"scale": 0.5}', "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["table"][0] == [-2.0, 2.0]
    assert main(["check-loss", "huber", "--params", "delta=2"]) == 0
    assert "δ=2" in capsys.readouterr().out
    preset = bundled_dir() / "ridge-custom.yaml"
    assert main(["check-loss", str(preset)]) == 0
    assert "result: PASS" in capsys.readouterr().out


def test_check_loss_command_fails_with_report_and_one_line(losses, capsys):
    assert main(["check-loss", "losses.py:wrong_backward"]) == 2
    out, err = capsys.readouterr()
    assert "FAIL  gradcheck" in out and out.rstrip().endswith("(5/6 properties passed)")
    assert err.count("\n") == 1
    assert err.startswith("error: loss check failed for losses.py:wrong_backward: gradcheck: ")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["missing.py:f"], "file {cwd}/missing.py not found"),
        (["losses.py:my_mes"], "losses.py has no attribute 'my_mes' (did you mean 'my_mse'?)"),
        (["losses.py:CONSTANT"], "losses.py:CONSTANT is not callable (it is of type int)"),
        (
            ["losses.py:one_arg"],
            "one_arg(pred) takes 1 positional argument(s); a loss takes "
            "(pred, target) or (pred, target, weights)",
        ),
        (["losses.py:NotAModule"], "NotAModule is a class but not an nn.Module subclass"),
        (["losses.py:Scaled"], "Scaled() raised TypeError"),
        (["losses.py:my_mse", "--params", "lam=1"], "unknown parameter 'lam' for my_mse()"),
        (["losses.py:returns_nan"], "finite: returned nan on a random batch"),
        (["boom.py:f"], "importing {cwd}/boom.py:2 raised ZeroDivisionError: division by zero"),
        (["syntax.py:f"], "importing {cwd}/syntax.py:1 raised SyntaxError"),
        (["no_such_pkg_xyz.mod:f"], "no module named 'no_such_pkg_xyz'"),
        (["hubr"], "unknown built-in loss (did you mean 'huber'?)"),
        (["huber", "--params", "q=0.3"], "built-in loss 'huber': unknown parameter 'q'"),
        (["losses.py:my_mse", "--params", "oops"], "--params oops: expected K=V"),
        (["losses.py:my_mse", "--params", "{bad json"], "--params {bad json: not valid JSON"),
    ],
)
def test_every_bad_spec_is_one_clear_line_and_exit_2(losses, capsys, argv, words):
    assert main(["check-loss", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert words.replace("{cwd}", str(losses)) in err


def test_import_engine_cli_does_not_import_torch():
    code = (
        "import sys, engine.cli.main, engine.cli.check_loss; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_check_is_deterministic_and_fast(losses):
    import time

    t = time.perf_counter()
    a = check_loss("losses.py:my_mse", seed=3)
    assert time.perf_counter() - t < 2.0
    b = check_loss("losses.py:my_mse", seed=3)
    assert a.to_dict() == b.to_dict()
    assert all(math.isfinite(v) for _, v in a.table)


def test_an_edited_loss_file_is_reloaded(losses):
    (losses / "edit.py").write_text("def f(pred, target):\n    return (target - pred).mean()\n")
    assert not check_loss("edit.py:f").ok  # a signed mean: not minimal at ŷ = y
    (losses / "edit.py").write_text(
        "def f(pred, target):\n    return ((target - pred) ** 2).mean()\n"
    )
    assert check_loss("edit.py:f").ok
    assert sum(m.endswith("_edit") for m in sys.modules if m.startswith("linreg_user_loss_")) == 1
