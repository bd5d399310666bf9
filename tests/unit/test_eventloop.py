"""PUPILPOST_EVENT_LOOP picks the loop a process runs on: uvloop unless told otherwise."""
from __future__ import annotations

import asyncio

import pytest
import uvloop

from pupilpost import eventloop


async def _loop_type() -> type:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def test_uvloop_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUPILPOST_EVENT_LOOP", raising=False)
    assert eventloop.run(_loop_type()) is uvloop.Loop
    monkeypatch.setenv("PUPILPOST_EVENT_LOOP", "asyncio")
    assert not issubclass(eventloop.run(_loop_type()), uvloop.Loop)


def test_an_unknown_loop_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUPILPOST_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="PUPILPOST_EVENT_LOOP .*'trio'"):
        eventloop.run(_loop_type())
