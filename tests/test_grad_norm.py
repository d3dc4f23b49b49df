"""``EpochEnded.grad_norm`` is the norm of the objective's gradient at the epoch's last step.

The answer is computed here independently: the objective written out in this file (MSE and
Huber with their penalties as the README states them, or the user's own function), its gradient
by ``torch.autograd`` with respect to ``[w, b]``, at the weights the epoch's last step started
from. Full batch that is the previous epoch's logged weights (the first epoch: the model's
seeded initial weights), so each epoch is checked exactly on its own. With minibatches the
weights before the last step are not in any event, so the test replays the textbook loop
(autograd, ``torch.optim``, the engine's seeded permutation), whose iterates the engine's
match to float rounding (``tests/test_fast_paths.py``), and takes the gradient at its last
step. Every step strategy is forced in turn (``LINREG_TUI_STEPS``): sufficient statistics,
the blocked closed form, minibatch closed form and autograd.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

import engine
from engine.config import Config, parse_config
from engine.core.events import EpochEnded
from engine.data.dataset import load_dataset
from engine.training.optimizers import make_optimizer
from engine.training.run_setup import make_model
from engine.training.strategy import STEPS_ENV
from tests import warm_process

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 5
USER_LOSS = '''
import torch


def soft_abs(pred, target, eps=0.5):
    """mean(sqrt(r² + eps²) - eps): a smooth absolute error, not a built-in."""
    r = target - pred
    return torch.mean(torch.sqrt(r * r + eps * eps) - eps)
'''


def config(loss: dict[str, Any], *, batch: int | None = None, base_dir: Path | None = None,
           optim: dict[str, Any] | None = None, epochs: int = EPOCHS) -> Config:  # fmt: skip
    return parse_config(
        {
            "seed": 4,
            "data": {"n_samples": 300, "n_features": 4, "noise": 0.8, "val_fraction": 0.2},
            "loss": loss,
            "optim": {"name": "sgd", "lr": 0.05, "batch_size": batch, **(optim or {})},
            "train": {"epochs": epochs, "device": "cpu"},
            "early_stopping": {"enabled": False},
        },
        where="test",
        base_dir=str(base_dir) if base_dir else None,
    )


def objective(cfg: Config, base_dir: Path | None) -> Any:
    """The objective of ``cfg`` written out here: ``data term + l2·Σw² + l1·Σ|w|``."""
    name, params = cfg.loss.name, dict(cfg.loss.params)
    if name == "custom":
        sys.path.insert(0, str(base_dir))
        try:
            module_name, _, attr = str(cfg.loss.callable).partition(":")
            module = __import__(Path(module_name).stem)
        finally:
            sys.path.remove(str(base_dir))
        user = getattr(module, attr)

    def data_term(pred: Tensor, y: Tensor) -> Tensor:
        r = y - pred
        if name == "mse":
            return torch.mean(r**2)
        if name == "huber":
            d = cfg.loss.delta
            return torch.mean(torch.where(r.abs() <= d, 0.5 * r**2, d * (r.abs() - 0.5 * d)))
        out: Tensor = user(pred, y, **params)
        return out

    def full(pred: Tensor, y: Tensor, w: Tensor) -> Tensor:
        return data_term(pred, y) + cfg.loss.l2 * torch.sum(w**2) + cfg.loss.l1 * w.abs().sum()

    return full


def grad_norm_at(cfg: Config, fn: Any, x: Tensor, y: Tensor, w: list[float], b: float) -> float:
    """``‖∇_[w,b] fn‖₂`` at ``(w, b)`` on rows ``x, y``, in float64."""
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    loss = fn(x.double() @ wt + bt, y.double(), wt)
    gw, gb = torch.autograd.grad(loss, (wt, bt))
    return float(torch.linalg.vector_norm(torch.cat((gw, gb.reshape(1)))))


def epochs_of(cfg: Config, steps: str, monkeypatch: pytest.MonkeyPatch) -> list[EpochEnded]:
    monkeypatch.setenv(STEPS_ENV, steps)
    events = [e for e in engine.fit(cfg).events if isinstance(e, EpochEnded)]
    assert len(events) == EPOCHS
    return events


def initial(cfg: Config, d: int) -> tuple[list[float], float]:
    model = make_model(d, cfg, torch.device("cpu"))
    return model.weight.detach().reshape(-1).tolist(), float(model.bias.detach())


FULL_BATCH = [
    ("mse", {"name": "mse"}, "gram"),
    ("mse", {"name": "mse"}, "closed_form"),
    ("mse", {"name": "mse"}, "autograd"),
    ("ridge", {"name": "mse", "l2": 0.3}, "gram"),
    ("lasso", {"name": "mse", "l1": 0.2}, "closed_form"),
    ("huber", {"name": "huber", "delta": 0.7}, "closed_form"),
    ("huber_l1_l2", {"name": "huber", "l1": 0.1, "l2": 0.2}, "autograd"),
    ("user", {"name": "custom", "callable": "soft.py:soft_abs", "params": {"eps": 0.5}}, "auto"),
]


@pytest.mark.parametrize(
    ("case", "loss", "steps"), FULL_BATCH, ids=[c[0] + "-" + c[2] for c in FULL_BATCH]
)
def test_full_batch_grad_norm_is_the_objectives_gradient_at_the_epochs_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, loss: dict[str, Any], steps: str
) -> None:
    (tmp_path / "soft.py").write_text(USER_LOSS)
    cfg = config(loss, base_dir=tmp_path)
    events = epochs_of(cfg, steps, monkeypatch)
    train = load_dataset(cfg).train
    fn = objective(cfg, tmp_path)
    w, b = initial(cfg, train.x.shape[1])
    for event in events:
        assert event.grad_norm is not None
        want = grad_norm_at(cfg, fn, train.x, train.y, w, b)
        assert event.grad_norm == pytest.approx(want, rel=2e-5, abs=1e-6), (case, event.epoch)
        assert isinstance(event.bias, float)
        w, b = event.weights, event.bias
    # descent on a convex objective: the gradient shrinks over the run
    assert events[-1].grad_norm < events[0].grad_norm


def replayed_last_step_norms(cfg: Config, fn: Any) -> list[float]:
    """The textbook minibatch loop (autograd, ``torch.optim``, the engine's seeded
    permutation): per epoch, the gradient norm at its last step's starting weights."""
    ds = load_dataset(cfg)
    x, y, n = ds.train.x, ds.train.y, len(ds.train)
    model = make_model(x.shape[1], cfg, torch.device("cpu"))
    opt = make_optimizer(model, cfg)
    shuffle = torch.Generator().manual_seed(cfg.seed + 3)
    batch = cfg.optim.batch_size or n
    norms = []
    for _ in range(EPOCHS):
        perm = torch.randperm(n, generator=shuffle)
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            if start + batch >= n:
                w = model.weight.detach().reshape(-1).tolist()
                norms.append(grad_norm_at(cfg, fn, x[idx], y[idx], w, float(model.bias.detach())))
            loss = fn(model(x[idx]).squeeze(-1), y[idx], model.weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return norms


MOMENTUM_WD = {"momentum": 0.9, "weight_decay": 0.05}
MINIBATCH = [
    ("mse", {"name": "mse"}, "closed_form", None),
    ("ridge_momentum_wd", {"name": "mse", "l2": 0.3}, "closed_form", MOMENTUM_WD),
    ("huber_l1", {"name": "huber", "l1": 0.1}, "closed_form", None),
    ("huber", {"name": "huber"}, "autograd", None),
    ("user", {"name": "custom", "callable": "soft.py:soft_abs"}, "auto", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "loss", "steps", "optim"), MINIBATCH, ids=[c[0] + "-" + c[2] for c in MINIBATCH]
)
def test_minibatch_grad_norm_is_the_last_batchs_gradient(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    loss: dict[str, Any],
    steps: str,
    optim: dict[str, Any] | None,
) -> None:
    """Batches of 64 over 240 training rows: the last batch has 48 rows, and the norm is of
    its gradient alone (an optimizer's weight decay is not part of the objective)."""
    (tmp_path / "soft.py").write_text(USER_LOSS)
    cfg = config(loss, batch=64, base_dir=tmp_path, optim=optim)
    assert len(load_dataset(cfg).train) % 64 == 48
    events = epochs_of(cfg, steps, monkeypatch)
    want = replayed_last_step_norms(cfg, objective(cfg, tmp_path))
    got = [e.grad_norm for e in events]
    assert got == pytest.approx(want, rel=1e-4, abs=1e-6), case


def test_the_headless_json_stream_carries_it_and_old_logs_read_as_none(tmp_path: Path) -> None:
    done = warm_process.run(
        [sys.executable, "-m", "engine", "train", "default", "--json", "--no-save",
         "--set", "train.epochs=3", "--set", "train.device=cpu"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    norms = [e["grad_norm"] for e in lines if e["type"] == "EpochEnded"]
    assert len(norms) == 3 and all(isinstance(v, float) and v > 0 for v in norms)

    from engine.runs.log import event_from_dict

    old = next(e for e in lines if e["type"] == "EpochEnded")
    del old["grad_norm"]  # a line written before the field existed
    event = event_from_dict(old)
    assert isinstance(event, EpochEnded) and event.grad_norm is None


def test_the_curve_summary_keeps_min_max_last_of_each_bucket_as_a_full_read_gives(
    tmp_path: Path,
) -> None:
    """A real run's ``curve.bin`` against its own log read line by line."""
    from engine.runs.curve import BUCKET
    from engine.runs.curve_read import load_curve, rebuild
    from engine.runs.log import LOG_NAME

    epochs = 10 * BUCKET + 5
    run_dir = engine.record(config({"name": "huber", "l2": 0.1}, epochs=epochs), tmp_path)
    logged = [json.loads(line) for line in (run_dir / LOG_NAME).read_text().splitlines()]
    norms = [d["grad_norm"] for d in logged if d["type"] == "EpochEnded"]
    assert len(norms) == epochs and all(isinstance(v, float) for v in norms)
    written = load_curve(run_dir)
    assert not written.rebuilt and "grad_norm" in written.fields
    whole = rebuild(run_dir)  # every record (load_curve keeps the last one as events)
    assert whole.records[: len(written.records)] == written.records
    assert len(whole) == epochs // BUCKET
    for r in range(len(whole)):
        chunk = norms[r * BUCKET : (r + 1) * BUCKET]
        got = [whole.column("grad_norm", s)[r] for s in ("min", "max", "last", "n")]
        assert got == [min(chunk), max(chunk), chunk[-1], float(BUCKET)], r
    # zoomed in to a few records, the plot's points are the logged values themselves
    assert written.points("grad_norm", 17, 40, 400) == [
        (float(e), norms[e - 1]) for e in range(17, 41)
    ]


def test_a_log_from_before_grad_norm_has_no_such_series_and_a_stable_summary(
    tmp_path: Path,
) -> None:
    from engine.runs.curve import CURVE_NAME
    from engine.runs.curve_read import load_curve
    from engine.runs.log import LOG_NAME
    from tests.long_run import write_long_run

    run_dir = write_long_run(tmp_path, 200)
    log = run_dir / LOG_NAME
    log.write_bytes(log.read_bytes().replace(b',"grad_norm":null', b""))  # as logged before
    (run_dir / CURVE_NAME).unlink()
    curve = load_curve(run_dir)
    assert curve.rebuilt and curve.fields[:3] == ["train_loss", "val_loss", "lr"]
    assert "grad_norm" not in curve.fields
    assert curve.points("grad_norm", 1, 200, 80) == []
    events = [e for e in curve.tail if isinstance(e, EpochEnded)]
    assert events and all(e.grad_norm is None for e in events)
    saved = (run_dir / CURVE_NAME).read_bytes()
    assert not load_curve(run_dir).rebuilt and (run_dir / CURVE_NAME).read_bytes() == saved


@pytest.mark.slow
@pytest.mark.parametrize(
    ("loss", "batch"), [({"name": "mse"}, None), ({"name": "huber", "l2": 0.01}, 50)]
)
def test_data_parallel_ranks_log_the_single_process_grad_norm(
    tmp_path: Path, loss: dict[str, Any], batch: int | None
) -> None:
    """Two torchrun ranks: the gradient each step uses is already summed over the ranks, so the
    norm rank 0 logs is the single process's, epoch by epoch (full batch on the all-reduced
    statistics; minibatch: the global last batch, cut between the ranks)."""
    from tests.test_distributed import events, merged, train

    cfg = merged(loss=loss, optim={"batch_size": batch, "lr": 0.05})
    cfg["train"]["epochs"] = 8
    dist = [e["grad_norm"] for e in events(train(tmp_path, cfg)) if e["type"] == "EpochEnded"]
    one = [e.grad_norm for e in engine.fit(parse_config(cfg, where="test")).events
           if isinstance(e, EpochEnded)]  # fmt: skip
    assert len(dist) == 8 and dist == pytest.approx(one, rel=1e-5, abs=1e-7)
