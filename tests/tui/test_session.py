"""The dashboard's run session without an app: events filed into the history, what it says
about them, the keys' answers when there is nothing to act on, and ``full_batch`` as the
engine reports it (with the old rule for logs written before the field existed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from engine.runs.store import event_from_dict
from tests.builders import epoch, finished, started
from tui.form import FieldError
from tui.history import RunHistory
from tui.session import RunSession


@pytest.mark.parametrize(("batch_size", "full"), [(None, True), (32, False), (10_000, True)])
def test_run_started_says_whether_each_step_sees_the_whole_training_split(
    batch_size: int | None, full: bool
) -> None:
    """200 samples, 150 of them train: a batch of 32 is a minibatch, 10,000 (or null) all."""
    size = "null" if batch_size is None else str(batch_size)
    run = engine.fit(
        engine.load_config(
            "default",
            [
                "data.n_samples=200",
                "train.epochs=2",
                "train.device=cpu",
                f"optim.batch_size={size}",
            ],
        )
    )
    assert run.started.n_train < 200
    assert run.started.full_batch is full
    assert event_from_dict(run.started.to_dict()) == run.started  # the JSON round trip keeps it


def _epochs(history: RunHistory) -> None:
    for i, loss in enumerate([3.0, 2.0, 1.0], start=1):
        history.add(epoch(i, train_loss=loss, val_loss=loss + 0.5, gap=loss - 0.5))


def test_history_takes_full_batch_from_the_run_not_from_its_config() -> None:
    """The train loss at the end of a full-batch epoch is the next epoch's (taken at its start
    weights); with minibatches the epoch's own. The event decides, whatever the config says."""
    history = RunHistory()
    history.add(started(settings={"optim.batch_size": None}, full_batch=False))
    _epochs(history)
    assert not history.full_batch
    assert history.losses_at(2).train_loss == 2.0

    history.add(started(settings={"optim.batch_size": 8}, n_train=800, full_batch=True))
    _epochs(history)
    assert history.full_batch
    at_2 = history.losses_at(2)
    assert (at_2.train_loss, at_2.val_loss, at_2.gap) == (1.0, 2.5, 0.5)
    assert history.losses_at(3).train_loss == 1.0  # no next epoch: its own


@pytest.mark.parametrize(("batch_size", "full"), [(None, True), (800, True), (64, False)])
def test_a_log_from_before_full_batch_reads_by_the_batch_size(
    batch_size: int | None, full: bool
) -> None:
    old = started(settings={"optim.batch_size": batch_size}, n_train=800).to_dict()
    del old["full_batch"]  # as an older linreg-tui wrote it
    event = event_from_dict(old)
    assert event.full_batch is None
    history = RunHistory()
    history.add(event)
    assert history.full_batch is full


def test_the_session_files_events_and_says_what_the_run_says(tmp_path: Path) -> None:
    session = RunSession(tmp_path)
    assert session.state == "idle" and session.warnings == []
    two = ["feature 'x2' is constant", "feature matrix is ill-conditioned"]
    notice = session.file(started(warnings=two))
    assert notice is not None and notice.error and notice.text.startswith("⚠ 2 warnings")
    assert session.warnings == two
    assert session.file(started()) is None  # nothing to say: no trainer of ours to name
    changes = session.changes
    assert session.file(epoch(1)) is None and session.changes > changes
    notice = session.file(finished("diverged", message="diverged at epoch 1"))
    assert notice is not None and notice.error and notice.text == "diverged at epoch 1"
    assert session.state == "finished (diverged)"
    assert session.file(finished("completed")).error is False


def test_keys_with_nothing_to_act_on_say_what_would(tmp_path: Path) -> None:
    session = RunSession(tmp_path)
    assert session.stop().text == "nothing to stop: s starts a run"
    assert session.pause().text == "nothing to pause: s starts a run"
    assert session.attach().text == "no run in progress to attach to"

    def bad_form() -> engine.Config:
        raise FieldError("optim.lr", "must be > 0")

    refused = session.start(bad_form)
    assert refused.error and refused.text == "start refused — optim.lr: must be > 0"
    assert not session.busy and not list(tmp_path.iterdir())  # nothing was started
    watching = RunSession(tmp_path, watch=tmp_path / "some-run")
    assert "read-only" in watching.start(bad_form).text


async def test_following_a_finished_run_replays_it_and_lets_go(tmp_path: Path) -> None:
    """A run directory written by the engine, followed as the dashboard's worker follows it."""
    cfg = engine.load_config(
        "default", ["data.n_samples=200", "train.epochs=5", "train.device=cpu"]
    )
    run_dir = engine.record(cfg, tmp_path)
    session = RunSession(tmp_path)
    session.follow_run(run_dir, attach=True)  # finished: nothing to signal
    assert session.trainer is None and session.state == "loading 5 epochs"
    said = [notice.text async for notice in session.follow()]
    history = session.history
    assert history.epochs == [1, 2, 3, 4, 5] and history.finished is not None
    assert history.started.full_batch is True
    assert said == [history.finished.message]
    assert session.follower is None and not session.busy
    assert session.state == f"finished ({history.finished.reason})"
    assert session.shown_run == run_dir.name


@pytest.mark.parametrize(
    ("module", "said"),
    [
        (
            "import sys, os\nsys.stderr.write('custom loss exploded\\n')\nos._exit(3)\n",
            "run failed — custom loss exploded",
        ),
        ("import os\nos._exit(3)\n", "run failed — the trainer process ended with exit code 3"),
    ],
    ids=["its-last-line", "its-exit-code"],
)
async def test_a_trainer_that_dies_before_its_first_epoch_says_why(
    tmp_path: Path, module: str, said: str
) -> None:
    """A trainer process that ends before its first epoch (here: the user's loss file ends it
    as it is imported) is reported with its last stderr line, read before its run folder is
    removed, or else with how it ended."""
    loss_file = tmp_path / "dies.py"
    loss_file.write_text(module)
    cfg = engine.load_config(
        "default",
        [
            "data.n_samples=200",
            "train.device=cpu",
            "loss.name=custom",
            f"loss.callable={loss_file}:loss",
        ],
    )
    runs = tmp_path / "runs"
    session = RunSession(runs)
    assert not session.start(lambda: cfg).error
    notices = [notice async for notice in session.follow()]
    assert notices[-1].error and notices[-1].text.startswith(said)
    assert not any(runs.iterdir())  # nothing ran: no run folder is left
