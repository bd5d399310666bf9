"""Which event loop a Pupilpost process runs on."""
from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CHOICES = ("uvloop", "asyncio")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on a fresh event loop: uvloop's (libuv) unless PUPILPOST_EVENT_LOOP=asyncio.

    A service spends much of its CPU in the event loop itself (socket callbacks, timers, task
    steps); uvloop does that work in C. The SMTP/SMSC/push stand-ins stay on asyncio's loop:
    aiosmtpd's STARTTLS wires asyncio's own SSL protocol by hand.
    """
    choice = os.environ.get("PUPILPOST_EVENT_LOOP", "uvloop")
    if choice not in CHOICES:
        main.close()
        raise ValueError(f"PUPILPOST_EVENT_LOOP must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "asyncio":
        return asyncio.run(main)
    import uvloop

    return uvloop.run(main)
