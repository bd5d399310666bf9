"""Pure decisions of dispatch: which channels carry what, and how a delivery's state moves."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Channel = Literal["email", "sms", "app"]
Content = Literal["full", "notice"]
Level = Literal["public", "official", "official-sensitive"]
Kind = Literal["information", "emergency", "marketing"]
State = Literal["queued", "sent", "delivered", "failed", "bounced", "read", "cancelled"]
CHANNELS: tuple[Channel, ...] = ("app", "email", "sms")


@dataclass(frozen=True)
class Recipient:
    """What dispatch knows of one contact: confirmed channels only (pending values never count)."""

    has_email: bool
    has_mobile: bool
    has_app: bool
    preferred: frozenset[Channel] = frozenset()
    marketing_consent: bool = False


@dataclass(frozen=True)
class ChannelPlan:
    """One delivery to make: a channel and whether it carries the content or a neutral notice."""

    channel: Channel
    content: Content


def available(r: Recipient) -> frozenset[Channel]:
    """Channels the recipient can be reached on."""
    return frozenset(c for c, ok in (("app", r.has_app), ("email", r.has_email), ("sms", r.has_mobile)) if ok)


def plan_channels(level: Level, kind: Kind, r: Recipient) -> list[ChannelPlan]:
    """The deliveries for one recipient.

    Marketing needs recorded consent. An emergency goes to every verified channel,
    whatever the preferences. Otherwise the parent's preferences, else the first of
    app, email, SMS. Official-sensitive content goes only to the app inbox: email and
    SMS carry a neutral notice, and the app copy is added even if not preferred.
    """
    if kind == "marketing" and not r.marketing_consent:
        return []
    reach = available(r)
    if kind == "emergency":
        chosen = set(reach)
    else:
        chosen = set(r.preferred & reach) or {next((c for c in CHANNELS if c in reach), None)} - {None}
    if level == "official-sensitive":
        plans = [ChannelPlan("app", "full")]
        plans += [ChannelPlan(c, "notice") for c in ("email", "sms") if c in chosen]  # type: ignore[arg-type]
        return plans
    return [ChannelPlan(c, "full") for c in CHANNELS if c in chosen]


def notice(school_name: str) -> str:
    """The neutral notice for email/SMS when content must be read in the app."""
    return f"You have a new message from {school_name} in Pupilpost. Log in to the app to read it."


def neutral_title(school_name: str) -> str:
    """The headline of a push (lock screens) and of a notice email: never any personal data."""
    return f"New message from {school_name}"


_NEXT: dict[State, frozenset[State]] = {
    "queued": frozenset({"sent", "delivered", "failed", "cancelled"}),
    "sent": frozenset({"delivered", "failed", "bounced", "read"}),
    "delivered": frozenset({"read", "bounced"}),
    "failed": frozenset(), "bounced": frozenset(), "read": frozenset(), "cancelled": frozenset(),
}
TERMINAL = frozenset(s for s, nxt in _NEXT.items() if not nxt)


class IllegalTransition(ValueError):
    """A delivery cannot move from its state to the one reported."""


def advance(current: State, reported: State) -> State:
    """The next state of a delivery; a repeated report is a no-op, an impossible one is refused."""
    if reported == current:
        return current
    if reported not in _NEXT[current]:
        raise IllegalTransition(f"a {current} delivery cannot become {reported}")
    return reported


def next_attempt(attempt: int, now: datetime, *, base: timedelta = timedelta(seconds=5),
                 cap: timedelta = timedelta(minutes=30)) -> datetime:
    """When to retry after a transient failure: exponential backoff, capped."""
    return now + min(cap, base * (2 ** max(0, attempt - 1)))


def fallback_due(channel: Channel, state: State, sent_at: datetime, now: datetime, after: timedelta) -> bool:
    """An app message still unread after `after` triggers an SMS notice."""
    return channel == "app" and state in ("sent", "delivered") and now - sent_at >= after
