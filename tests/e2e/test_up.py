"""`pupilpost up` as a user runs it: one command, one base URL, Ctrl-C leaves nothing behind."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx
import psutil
import pytest

from pupilpost.embedded import accepts_connections, free_port
from pupilpost.routes import PORT_OFFSETS
from pupilpost.up import PEER_OFFSETS
from pupilpost.settings import SERVICES

pytestmark = pytest.mark.e2e

READY_TIMEOUT = 90.0
PROVISION_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


@dataclass
class Up:
    """One `pupilpost up` process and where it listens."""

    proc: subprocess.Popen[bytes]
    port: int
    pg_port: int
    kafka_port: int
    data_dir: Path
    output: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ports(self) -> list[int]:
        return [self.port, *(self.port + PORT_OFFSETS[s] for s in SERVICES),
                *(self.port + o for o in PEER_OFFSETS.values()), self.pg_port, self.kafka_port]

    def said(self) -> str:
        return self.output.read_text(errors="replace")[-4000:]


def gateway_port() -> int:
    """A port p such that p and every service and stand-in port p+offset are free."""
    return free_port(span=max((*PORT_OFFSETS.values(), *PEER_OFFSETS.values())))


def start_up(data_dir: Path, pg_port: int, kafka_port: int, run: int) -> Up:
    """Run `python -m pupilpost.cli up` on fresh ports, output to a file."""
    port = gateway_port()
    env = {**os.environ, "PUPILPOST_DATA_DIR": str(data_dir), "PUPILPOST_PG_PORT": str(pg_port),
           "PUPILPOST_KAFKA_PORT": str(kafka_port)}
    output = data_dir.parent / f"up-{run}.out"
    with output.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pupilpost.cli", "up", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Up(proc, port, pg_port, kafka_port, data_dir, output)


def wait_ready(up: Up, timeout: float = READY_TIMEOUT) -> None:
    """Wait until the gateway's /readyz says every service is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert up.proc.poll() is None, f"up exited with {up.proc.returncode}:\n{up.said()}"
        try:
            if httpx.get(f"{up.base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not ready within {timeout:.0f} s:\n{up.said()}")


def interrupt(up: Up) -> int:
    """Ctrl-C: SIGINT, and the exit code within STOP_TIMEOUT."""
    up.proc.send_signal(signal.SIGINT)
    try:
        return up.proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"up did not stop within {STOP_TIMEOUT:.0f} s:\n{up.said()}")


def leftovers(up: Up) -> list[str]:
    """Processes of this run still alive: data dir in their command line or environment."""
    marker, found = str(up.data_dir), []
    for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        environ = proc.info["environ"] or {}
        if marker in cmdline or environ.get("PUPILPOST_DATA_DIR") == marker:
            found.append(f"{proc.info['pid']}: {cmdline[:120]}")
    return found


def assert_nothing_left(up: Up) -> None:
    listening = [p for p in up.ports() if accepts_connections(p)]
    assert not listening, f"ports still accepting connections: {listening}"
    assert not leftovers(up), f"processes left running: {leftovers(up)}"


@pytest.fixture
def runs() -> Iterator[list[Up]]:
    """Every `up` started by a test; killed (with whatever it left) if the test fails midway."""
    started: list[Up] = []
    yield started
    for up in started:
        if up.proc.poll() is None:
            up.proc.send_signal(signal.SIGINT)
            try:
                up.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                up.proc.kill()


def provisioned(body: dict) -> set[str]:
    """The services a school-status body reports as provisioned (dict or list form)."""
    services = body.get("services") or {}
    if isinstance(services, dict):
        return {name for name, done in services.items() if done}
    return {s if isinstance(s, str) else s.get("service", "") for s in services}


def onboard_school(up: Up, token: str) -> dict:
    """POST /v1/ops/schools through the gateway as the bootstrap operator."""
    urn = f"{int(time.time() * 1000) % 900_000 + 100_000}"
    resp = httpx.post(f"{up.base}/v1/ops/schools", json={"name": "Northwick Park Primary", "urn": urn},
                      headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    UUID(body["school_id"])
    assert isinstance(body["api_key"], str) and body["api_key"]
    return {**body, "urn": urn}


def wait_provisioned(up: Up, token: str, school_id: str) -> dict:
    """Poll the school's status until every service has provisioned it."""
    deadline, body = time.monotonic() + PROVISION_TIMEOUT, {}
    while time.monotonic() < deadline:
        resp = httpx.get(f"{up.base}/v1/ops/schools/{school_id}",
                         headers={"authorization": f"Bearer {token}"}, timeout=10)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        if body.get("provisioned") is True and provisioned(body) >= set(SERVICES):
            return body
        time.sleep(0.3)
    raise AssertionError(f"school not provisioned by every service within {PROVISION_TIMEOUT:.0f} s: {body}")


def message_reaches_the_mail_stand_in(up: Up, school: dict) -> None:
    """Upload a roster and send a message through the gateway; the mail arrives at the SMTP stand-in."""
    import asyncio

    from tests.integration.upload_client import roster, send

    key, school_id, urn = school["api_key"], UUID(school["school_id"]), school["urn"]

    async def upload_and_send() -> str:
        async with httpx.AsyncClient(base_url=up.base, headers={"authorization": f"Bearer {key}"},
                                     timeout=10) as c:
            r = await send(c, key, school_id, roster(urn, pupils=2))
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 60
            while (await c.get(f"/v1/uploads/{r.json()['upload_id']}")).json()["status"] != "imported":
                assert time.monotonic() < deadline, "upload not imported"
                await asyncio.sleep(0.3)
            await asyncio.sleep(2)  # dispatch's projection of the directory catches up
            m = await c.post("/v1/messages", json={"audience": {"whole_school": True}, "subject": "Sports day",
                                                   "body": "Sports day is on Friday."})
            assert m.status_code == 202, m.text
            return m.json()["message_id"]
    asyncio.run(upload_and_send())
    mails_url = f"http://127.0.0.1:{up.port + PEER_OFFSETS['smtp-view']}/mails"
    deadline, mails = time.monotonic() + 60, []
    while time.monotonic() < deadline and len(mails) < 4:
        mails = httpx.get(mails_url, timeout=5).json()
        mails = mails.get("mails", mails) if isinstance(mails, dict) else mails
        time.sleep(0.3)
    assert len(mails) == 4 and all(m["subject"] == "Sports day" for m in mails), mails


def test_up_serves_the_proving_flow_and_stops_cleanly(tmp_path: Path, runs: list[Up]) -> None:
    data_dir = tmp_path / "data"
    pg_port, kafka_port = free_port(), free_port()

    first = start_up(data_dir, pg_port, kafka_port, run=1)
    runs.append(first)
    wait_ready(first)
    token_file = data_dir / "operator-token"
    assert token_file.is_file() and token_file.read_text().strip(), first.said()
    token = token_file.read_text().strip()

    school = onboard_school(first, token)
    wait_provisioned(first, token, school["school_id"])
    anonymous = httpx.get(f"{first.base}/v1/ops/schools/{school['school_id']}", timeout=10)
    assert anonymous.status_code == 401, anonymous.text
    message_reaches_the_mail_stand_in(first, school)

    assert interrupt(first) == 0, first.said()
    assert_nothing_left(first)

    second = start_up(data_dir, pg_port, kafka_port, run=2)
    runs.append(second)
    wait_ready(second)
    again = httpx.get(f"{second.base}/v1/ops/schools/{school['school_id']}",
                      headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert again.status_code == 200, again.text  # PostgreSQL data survived the restart
    assert interrupt(second) == 0, second.said()
    assert_nothing_left(second)


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {**os.environ, "PUPILPOST_DATA_DIR": str(tmp_path / "data"),
               "PUPILPOST_PG_PORT": str(free_port()), "PUPILPOST_KAFKA_PORT": str(free_port())}
        done = subprocess.run([sys.executable, "-m", "pupilpost.cli", "up", "--port", str(port)],
                              env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"port {port} (gateway)" in done.stderr
    assert "Traceback" not in done.stderr
