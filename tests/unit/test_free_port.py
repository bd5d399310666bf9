"""free_port hands out ports no outgoing connection can take before the caller binds them."""
from __future__ import annotations

from pupilpost.embedded import _ephemeral_range, free_port, port_is_free


def test_free_ports_are_outside_the_ephemeral_range_and_bindable():
    low, high = _ephemeral_range()
    for span in (0, 26):
        port = free_port(span=span)
        assert not (low <= port <= high) and not (low <= port + span <= high)
        assert all(port_is_free(port + i) for i in range(span + 1))

