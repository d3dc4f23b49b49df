"""Runs on disk: a directory per run that one process writes and any number read.

``files`` (atomic writes) and ``lock`` (the writer's ``flock``, a process's start time) <
``status`` (``status.json``, :class:`~engine.runs.status.RunStatus`)
and ``log`` (``events.jsonl``, :class:`~engine.runs.log.RunLog`; ``log_lines``: the checks of
one line and the event it holds) < ``writer`` (the run directory
from the event stream), ``checkpoint`` and ``model_file`` < ``store`` (finding runs) <
``follow`` (replay, then follow live), ``table`` (the runs table), ``resume``, ``compare``.
Torch loads only with the checkpoint and the model file.
"""
