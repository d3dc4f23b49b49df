"""The errors every layer raises: one line naming where and what, with the key where known.

They live at the bottom of the engine so any layer (the config checks, the data readers, the
trainer, the run store) can raise them without importing the layers above it.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A bad preset, override or value: the message names where and what was expected.

    ``str(e)`` is the one-line message the CLI prints. ``key`` is the dotted config key
    (``optim.lr``, ``loss.terms[1].weight``), ``reason`` a short phrase that fits a form field
    line (``must be > 0``), ``where`` the source (a file, ``--set ...``) and ``line`` its line
    number, each where known.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        reason: str | None = None,
        where: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.key, self.reason, self.where, self.line = key, reason, where, line

    def __reduce__(self) -> tuple[Any, ...]:  # keep the fields across pickling (processes)
        return (
            _rebuild_error,
            (type(self), str(self), self.key, self.reason, self.where, self.line),
        )


def _rebuild_error(
    cls: type[ConfigError],
    message: str,
    key: str | None,
    reason: str | None,
    where: str | None,
    line: int | None,
) -> ConfigError:
    err = cls(message)
    err.key, err.reason, err.where, err.line = key, reason, where, line
    return err


def keyed_error(where: str, key: str, reason: str, message: str | None = None) -> ConfigError:
    """``where: <message>`` (by default ``key reason``) with the structured fields set."""
    return ConfigError(
        f"{where}: {message or f'{key} {reason}'}", key=key, reason=reason, where=where
    )


class RunError(ConfigError):
    """A run that cannot be found, read or used: one line naming the run and what is wrong."""
