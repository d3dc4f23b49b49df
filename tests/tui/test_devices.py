"""The device list the form offers: asked of a child process that imports torch, once per
process (:mod:`tui.devices`)."""

from __future__ import annotations

import sys

import pytest

from engine.training.device import available_devices as engine_devices
from tui import devices


async def test_a_child_answers_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_found", None)
    expected = [(str(spec), str(label)) for spec, label in engine_devices()]
    assert await devices.available_devices() == expected
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")  # a child now would fail
    # to start (FileNotFoundError): the answer is this process's, kept from the first child
    assert await devices.available_devices() == expected


async def test_a_failed_child_leaves_the_default_choices_and_is_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(devices, "_found", None)
    monkeypatch.setattr(devices, "CODE", "raise SystemExit(1)")
    assert await devices.available_devices() is None
    monkeypatch.setattr(devices, "CODE", 'print(\'[["cpu", "cpu (test)"]]\')')
    assert await devices.available_devices() == [("cpu", "cpu (test)")]
