"""What a headless run adds to its own event stream: resource samples, and the fit's warnings.

:class:`RunWatch` sits between the training loop and the run's consumers (the run directory,
the printer). It passes every event through and, at most once a second, puts a
:class:`~engine.core.events.SystemSampled` just before an epoch's ``EpochEnded`` (so a log's
last line stays an epoch or the run's end, which is what ``runs`` and ``RunLog.ends`` read);
it keeps the training loss's minimum and last value, for
:func:`~engine.core.fit_warnings.fit_warnings` at the end. No torch.
"""

from __future__ import annotations

from engine.core.events import EpochEnded, Event, RunFinished, RunStarted
from engine.core.fit_warnings import LossRange, fit_warnings
from engine.core.system import SystemSampler


class RunWatch:
    """``watch(event)`` gives the events to pass on (the event, after a sample when one is
    due); ``watch.warnings(fin)`` the fit's warnings."""

    def __init__(self, *, sample: bool = True) -> None:
        self.sample = sample
        self.started: RunStarted | None = None
        self.losses = LossRange()
        self.sampler: SystemSampler | None = None

    def __call__(self, event: Event) -> list[Event]:
        if isinstance(event, RunStarted):
            self.started, self.losses = event, LossRange()
            if self.sample:
                self.sampler = SystemSampler(event.device)
            return [event]
        if isinstance(event, EpochEnded):
            self.losses.add(event.train_loss)
            if self.sampler is not None and self.sampler.due():
                sampled = self.sampler.sample(event.epoch, event.elapsed_s)
                if sampled is not None:
                    return [sampled, event]
        return [event]

    def warnings(self, fin: RunFinished) -> list[str]:
        """The fit's warnings (:func:`~engine.core.fit_warnings.fit_warnings`)."""
        return fit_warnings(self.started, fin, self.losses)
