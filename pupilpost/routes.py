"""Which service serves which HTTP path prefix. The local gateway (`pupilpost up`)
and the production ingress (deploy/) both route by this table; longest prefix wins."""
from __future__ import annotations

ROUTES: tuple[tuple[str, str], ...] = (
    ("/v1/ops/audit", "audit"),
    ("/v1/ops/retention", "retention"),
    ("/v1/ops", "ingest"),
    ("/v1/schools", "ingest"),
    ("/v1/uploads", "ingest"),
    ("/v1/upload-key", "ingest"),
    ("/v1/contact-changes", "ingest"),
    ("/v1/payments.csv", "ingest"),
    ("/v1/directory", "ingest"),
    ("/v1/payments", "ingest"),
    ("/v1/messages", "ingest"),
    ("/v1/classify", "classifier"),
    ("/v1/inbox", "dispatch"),
    ("/v1/deliveries", "dispatch"),
    ("/v1/case-records", "dispatch"),
)

# Default HTTP port of each service in the embedded run: gateway port + offset.
PORT_OFFSETS = {"ingest": 1, "classifier": 2, "dispatch": 3, "audit": 4, "retention": 5}


def service_for(path: str) -> str | None:
    """The service that serves `path`, by longest matching prefix."""
    best: tuple[int, str] | None = None
    for prefix, service in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            if best is None or len(prefix) > best[0]:
                best = (len(prefix), service)
    return best[1] if best else None
