"""The school-side extractor: parse an MIS export, validate it, encrypt it and upload it.

Run nightly from cron or by hand by a school's IT technician. Every failure is
one line on stderr naming no person; exit codes: 0 imported, 1 invalid data or
rejected upload, 2 usage, configuration, network or authentication errors.
The roster is gzip-compressed, then sealed to the platform's X25519 upload key
(pupilpost.crypto.seal_upload) and signed with the school's API key secret.
"""
from __future__ import annotations

import base64
import gzip
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit
from uuid import UUID

import click
import httpx

from pupilpost import crypto

EXIT_OK, EXIT_INVALID, EXIT_CONFIG = 0, 1, 2
MAX_PROBLEM_LINES = 200
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class ExtractFailed(Exception):
    """A failure shown as one line on stderr, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.code = code


class OneLineCommand(click.Command):
    """A click command whose usage errors are one line on stderr (exit 2), not a usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as usual; a usage error becomes `error: ...` and exit 2."""
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            click.echo(f"error: {exc.format_message()} (see --help)", err=True)
            ctx.exit(EXIT_CONFIG)


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """Stop with one line on stderr."""
    raise ExtractFailed(message, code)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn failures into one stderr line and an exit code; never print a traceback."""
    try:
        yield
    except ExtractFailed as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.code)
    except crypto.CryptoError as exc:  # messages never contain key material or plaintext
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except (click.exceptions.Exit, click.Abort):
        raise
    except Exception as exc:  # noqa: BLE001  a bug: say where, never the message (it may quote a value)
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else ""
        click.echo(f"error: internal error ({type(exc).__name__}{where})", err=True)
        sys.exit(EXIT_CONFIG)


# --- configuration ----------------------------------------------------------------------------

_TOKEN_KINDS = {"pps": "school API key (pps.…)", "ppo": "operator token (ppo.…)"}


def read_token(path: Path, *kinds: str) -> str:
    """A bearer token from a file, of one of `kinds` (`pps` school API key, `ppo` operator token)."""
    from pupilpost.auth import parse_token

    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        fail(f"token file {path} does not exist")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read token file {path}: {type(exc).__name__}")
    if parse_token(token) is None or token.split(".", 1)[0] not in kinds:
        fail(f"{path} does not hold a {' or '.join(_TOKEN_KINDS[k] for k in kinds)}")
    _warn_if_exposed(path)
    return token


def _warn_if_exposed(path: Path) -> None:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        click.echo(f"warning: {path} is readable by other users; run chmod 600 on it", err=True)


def server_url(value: str) -> str:
    """The server's base URL without a trailing slash; warns when a token would travel in clear."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"--server must be an http(s) URL, got {value!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        click.echo(f"warning: {value} is plain http; the API key is sent unencrypted", err=True)
    return value.rstrip("/")


def _check_urn(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[0-9]{6}", value):
        raise click.BadParameter("a URN is 6 digits")
    return value


# --- HTTP -------------------------------------------------------------------------------------

class Api:
    """The Pupilpost HTTP API as the extractor uses it: one-line failures, JSON bodies."""

    def __init__(self, server: str, token: str | None, timeout: float) -> None:
        self.server = server
        headers = {"User-Agent": "pupilpost-extract/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=server, timeout=timeout, headers=headers)

    def call(self, method: str, path: str, *, expect: tuple[int, ...] = (200,),
             **kw: Any) -> tuple[int, dict[str, Any]]:
        """Send a request; the status and JSON body of an expected answer, else fail."""
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TimeoutException:
            fail(f"cannot reach {self.server}: timed out")
        except httpx.HTTPError as exc:
            fail(f"cannot reach {self.server}: {_reason(exc)}")
        body = _json(resp)
        if resp.status_code not in expect:
            _refused(method, path, resp.status_code, body)
        return resp.status_code, body

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text[:160] if text else type(exc).__name__


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _refused(method: str, path: str, status: int, body: Mapping[str, Any]) -> NoReturn:
    detail = body.get("detail")
    detail = f": {detail[:200]}" if isinstance(detail, str) else ""
    if status == 401:
        fail(f"the server refused the credential (HTTP 401){detail}")
    if status == 403:
        fail(f"the credential is not allowed to {method} {path} (HTTP 403){detail}")
    fail(f"{method} {path} failed: HTTP {status}{detail}")


# --- steps ------------------------------------------------------------------------------------

def expected_urn(api: Api | None, school: UUID, urn: str | None) -> str:
    """The school's URN from the server, checked against --urn if both are known."""
    if api is None and urn is not None:
        click.echo(f"school URN {urn} (from --urn; server not asked)")
        return urn
    if api is None:
        fail("the school's URN is unknown: give --urn or a reachable --server")
    status, body = api.call("GET", f"/v1/schools/{school}", expect=(200, 404))
    if status == 404:
        fail(f"school {school} not found for this API key: check --school and the key file")
    server_urn = body.get("urn")
    if not isinstance(server_urn, str):
        fail("the server's school record has no URN")
    if urn is not None and urn != server_urn:
        fail(f"--urn {urn} differs from the school's URN on the server ({server_urn})")
    click.echo(f"school URN {server_urn}")
    return server_urn


def load_roster(source: Path, fmt: str, urn: str) -> Any:
    """Parse and validate the export locally; print each problem and exit 1 if any."""
    from pupilpost.mis.parse import read_export
    from pupilpost.mis.roster import Roster
    from pupilpost.mis.validate import validate

    click.echo(f"reading {source.name} ({fmt})")
    try:
        parsed = read_export(source, fmt, school_urn=urn, now=datetime.now(UTC))  # type: ignore[arg-type]
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror or type(exc).__name__}")
    if parsed.roster is None:
        report_problems(parsed.problems, "the export")
    # Validate even a roster with parse problems, so one run lists them all; a clean roster is
    # validated as the exact JSON bytes ingest will validate after decrypting and inflating.
    data = parsed.roster.model_dump_json().encode() if isinstance(parsed.roster, Roster) else parsed.roster
    checked = validate(data, expected_urn=urn)
    problems = list(dict.fromkeys([*parsed.problems, *checked.problems]))
    if problems or checked.roster is None:
        report_problems(problems, "the export")
    click.echo(summary(checked.counts))
    return checked.roster


def problem_line(p: Any) -> str:
    """`contact row 14: email: not a valid email address`, from a Problem or a report entry."""
    get = p.get if isinstance(p, Mapping) else (lambda name: getattr(p, name, None))
    where = str(get("record") or "record")
    if get("row") is not None:
        where += f" row {get('row')}"
    parts = [where, get("field"), get("reason") or "invalid"]
    return ": ".join(str(x) for x in parts if x)


def report_problems(problems: list[Any], what: str) -> NoReturn:
    """Print problem lines (capped), then fail with exit 1."""
    for p in problems[:MAX_PROBLEM_LINES]:
        click.echo(problem_line(p))
    if len(problems) > MAX_PROBLEM_LINES:
        click.echo(f"… and {len(problems) - MAX_PROBLEM_LINES} more problems")
    n = len(problems)
    fail(f"{what} has {n} problem{'s' if n != 1 else ''}; nothing was imported" if n
         else f"{what} could not be read; nothing was imported", EXIT_INVALID)


def summary(counts: Mapping[str, int]) -> str:
    """One line of counts: pupils, contacts, staff, contacts excluded by opt-out."""
    return (f"{counts.get('pupils', 0)} pupils, {counts.get('contacts', 0)} contacts, "
            f"{counts.get('staff', 0)} staff, {counts.get('excluded_opt_out', 0)} contacts excluded "
            "by opt-out (priority 9)")


def upload_key(api: Api) -> tuple[UUID, bytes]:
    """The platform's current upload key id and raw public key."""
    _, body = api.call("GET", "/v1/upload-key")
    if body.get("algorithm") != crypto.UPLOAD_ALGORITHM:
        fail(f"the server's upload key uses {body.get('algorithm')!r}; this extractor supports "
             f"{crypto.UPLOAD_ALGORITHM} (upgrade pupilpost)")
    try:
        key_id, public = UUID(str(body["key_id"])), base64.b64decode(body["public_key"], validate=True)
    except (KeyError, TypeError, ValueError):
        fail("the server returned a malformed upload key")
    if len(public) != 32:
        fail("the server returned a malformed upload key")
    return key_id, public


def send(api: Api, token: str, school: UUID, roster: Any) -> dict[str, Any]:
    """Compress, seal, sign and POST the roster; the server's 202 body."""
    from pupilpost.auth import parse_token

    key_id, public = upload_key(api)
    body = crypto.seal_upload(public, key_id, school, gzip.compress(roster.model_dump_json().encode(), mtime=0))
    timestamp, nonce = int(time.time()), secrets.token_hex(16)
    secret = parse_token(token)[1]  # type: ignore[index]
    headers = {"Content-Type": "application/octet-stream", "X-Pupilpost-Timestamp": str(timestamp),
               "X-Pupilpost-Nonce": nonce,
               "X-Pupilpost-Signature": crypto.sign_upload(secret, timestamp=timestamp, nonce=nonce, body=body)}
    click.echo(f"uploading {len(body) / 1024:.1f} KiB encrypted to upload key {key_id}")
    _, accepted = api.call("POST", "/v1/uploads", content=body, headers=headers, expect=(200, 201, 202))
    if "upload_id" not in accepted:
        fail("the server accepted the upload but returned no upload_id")
    click.echo(f"upload {accepted['upload_id']} accepted ({accepted.get('status', 'queued')})")
    return accepted


def wait(api: Api, accepted: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """Poll the upload until imported or rejected, or fail after `timeout` seconds."""
    upload_id, state, delay = accepted["upload_id"], dict(accepted), 0.5
    deadline = time.monotonic() + timeout
    while state.get("status") not in ("imported", "rejected"):
        if time.monotonic() >= deadline:
            fail(f"upload {upload_id} still {state.get('status')!r} after {timeout:g}s; "
                 f"check GET /v1/uploads/{upload_id} later")
        time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
        delay = min(delay * 2, 5.0)
        _, state = api.call("GET", f"/v1/uploads/{upload_id}")
    return state


def outcome(state: Mapping[str, Any]) -> int:
    """Print an upload's result (counts per kind, or the report's problems); its exit code."""
    if state.get("status") == "rejected":
        if not state.get("report"):
            fail(f"upload {state.get('upload_id')} was rejected; nothing was imported", EXIT_INVALID)
        report_problems(list(state["report"]), f"upload {state.get('upload_id')}")
    counts = state.get("counts") if isinstance(state.get("counts"), Mapping) else {}
    click.echo(f"upload {state.get('upload_id')} imported" + (": no changes" if counts.get("unchanged") else ""))
    for kind, numbers in counts.items():
        if isinstance(numbers, Mapping):
            click.echo(f"  {kind}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in numbers.items()))
    return EXIT_OK


# --- commands ---------------------------------------------------------------------------------

@click.command("extract", cls=OneLineCommand)
@click.option("--source", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The MIS export file.")
@click.option("--format", "fmt", type=click.Choice(["csv", "ctf"]), required=True, help="Export format.")
@click.option("--school", type=click.UUID, required=True, envvar="PUPILPOST_SCHOOL_ID", help="School id.")
@click.option("--api-key-file", type=click.Path(path_type=Path), required=True,
              envvar="PUPILPOST_API_KEY_FILE", help="File holding the school API key (pps.…), mode 600.")
@click.option("--server", required=True, envvar="PUPILPOST_SERVER", help="Pupilpost base URL.")
@click.option("--urn", callback=_check_urn, help="Expected school URN (6 digits); with --dry-run, "
              "the server is not contacted.")
@click.option("--dry-run", is_flag=True, help="Parse and validate only; upload nothing.")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds to wait for each request and for the import to finish.")
def extract_command(source: Path, fmt: str, school: UUID, api_key_file: Path, server: str,
                    urn: str | None, dry_run: bool, timeout: float) -> None:
    """Validate an MIS export locally, then upload it encrypted to Pupilpost."""
    with one_line_errors():
        token, base = read_token(api_key_file, "pps"), server_url(server)
        api = None if dry_run and urn else Api(base, token, timeout)
        try:
            roster = load_roster(source, fmt, expected_urn(api, school, urn))
            if dry_run:
                click.echo("dry run: nothing was uploaded")
                sys.exit(EXIT_OK)
            assert api is not None
            sys.exit(outcome(wait(api, send(api, token, school, roster), timeout)))
        finally:
            if api is not None:
                api.close()


@click.group("keys")
def keys_command() -> None:
    """The platform's upload key pair (extractors encrypt to its public key)."""


def _print_key(body: Mapping[str, Any]) -> None:
    for name in ("key_id", "public_key", "algorithm", "created_at"):
        if body.get(name) is not None:
            click.echo(f"{name}: {body[name]}")


@keys_command.command("rotate", cls=OneLineCommand)
@click.option("--server", required=True, envvar="PUPILPOST_SERVER", help="Pupilpost base URL.")
@click.option("--token-file", type=click.Path(path_type=Path), required=True,
              help="File holding an administrator operator token (ppo.…).")
def rotate_command(server: str, token_file: Path) -> None:
    """Create a new upload key pair; the previous one stays usable for a grace period."""
    with one_line_errors():
        api = Api(server_url(server), read_token(token_file, "ppo"), 30.0)
        try:
            _print_key(api.call("POST", "/v1/ops/upload-keys", expect=(200, 201))[1])
        finally:
            api.close()


@keys_command.command("show", cls=OneLineCommand)
@click.option("--server", required=True, envvar="PUPILPOST_SERVER", help="Pupilpost base URL.")
@click.option("--token-file", type=click.Path(path_type=Path), required=True,
              help="File holding a school API key (pps.…) or an operator token (ppo.…).")
def show_command(server: str, token_file: Path) -> None:
    """Print the current upload public key."""
    with one_line_errors():
        api = Api(server_url(server), read_token(token_file, "pps", "ppo"), 30.0)
        try:
            _print_key(api.call("GET", "/v1/upload-key")[1])
        finally:
            api.close()
