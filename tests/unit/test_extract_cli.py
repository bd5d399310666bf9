"""The extractor CLI's local behaviour: validation, one-line failures, exit codes, the wire format.

No Pupilpost server runs here: network failures use a closed port, and the
upload flow talks to an httpx MockTransport that checks what a server checks.
"""
from __future__ import annotations

import base64
import gzip
import json
import socket
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from click.testing import CliRunner, Result

from pupilpost import auth, crypto
from pupilpost.extract import extract_command, keys_command, problem_line

URN = "123456"
SCHOOL = uuid4()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    token, _ = auth.new_credential("school", school_id=SCHOOL)
    path = tmp_path / "api-key"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str) -> Result:
    return CliRunner().invoke(extract_command, list(args), catch_exceptions=False)


def base_args(source: Path, key: Path, server: str = "http://127.0.0.1:9") -> list[str]:
    return ["--source", str(source), "--format", "csv", "--school", str(SCHOOL),
            "--api-key-file", str(key), "--server", server]


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in text
    return lines[0]


def test_missing_api_key_file_is_one_line_exit_2(tmp_path: Path):
    source = tmp_path / "export.csv"
    source.write_text("x\n")
    result = run(*base_args(source, tmp_path / "nope"), "--urn", URN, "--dry-run")
    assert result.exit_code == 2
    assert "does not exist" in one_line(result.stderr) and "nope" in result.stderr


def test_an_operator_token_is_not_a_school_api_key(tmp_path: Path):
    source, key = tmp_path / "export.csv", tmp_path / "key"
    source.write_text("x\n")
    key.write_text(auth.new_credential("operator", tier="basic")[0])
    key.chmod(0o600)
    result = run(*base_args(source, key), "--urn", URN, "--dry-run")
    assert result.exit_code == 2 and "school API key" in one_line(result.stderr)


def test_usage_errors_are_one_line_exit_2(tmp_path: Path, key_file: Path):
    source = tmp_path / "export.csv"
    source.write_text("x\n")
    for args in (base_args(tmp_path / "missing.csv", key_file),
                 [*base_args(source, key_file), "--urn", "12345"],
                 [*base_args(source, key_file)[:-2], "--server", "ftp://example.org"]):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert one_line(result.stderr).startswith("error: ")


def test_unreachable_server_is_one_line_naming_the_url(tmp_path: Path, key_file: Path, closed_port: int):
    source = tmp_path / "export.csv"
    source.write_text("x\n")
    server = f"http://127.0.0.1:{closed_port}"
    result = run(*base_args(source, key_file, server))
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert line.startswith("error: cannot reach ") and server in line


def test_world_readable_key_file_is_warned_about(tmp_path: Path, key_file: Path, closed_port: int):
    key_file.chmod(0o644)
    source = tmp_path / "export.csv"
    source.write_text("x\n")
    result = run(*base_args(source, key_file, f"http://127.0.0.1:{closed_port}"))
    assert "warning:" in result.stderr and "chmod 600" in result.stderr
    assert result.stderr.count("error:") == 1


def test_problem_lines_name_record_row_and_field_only():
    assert problem_line({"record": "contact", "row": 14, "field": "email",
                         "reason": "not a valid email address"}) == "contact row 14: email: not a valid email address"
    assert problem_line({"record": "roster", "row": None, "field": None, "reason": "too large"}) == "roster: too large"


def test_keys_rotate_needs_an_operator_token(tmp_path: Path, key_file: Path):
    result = CliRunner().invoke(keys_command, ["rotate", "--server", "http://127.0.0.1:9",
                                               "--token-file", str(key_file)])
    assert result.exit_code == 2 and "operator token" in one_line(result.stderr)


def test_keys_show_prints_the_public_key(monkeypatch: pytest.MonkeyPatch, key_file: Path):
    _, public = crypto.generate_upload_keypair()
    key = {"key_id": str(uuid4()), "public_key": base64.b64encode(public).decode(),
           "algorithm": crypto.UPLOAD_ALGORITHM, "created_at": "2025-01-01T00:00:00Z"}
    mock_server(monkeypatch, lambda req: httpx.Response(200, json=key))
    result = CliRunner().invoke(keys_command, ["show", "--server", "https://pupilpost.example",
                                               "--token-file", str(key_file)])
    assert result.exit_code == 0 and f"key_id: {key['key_id']}" in result.output
    assert key["public_key"] in result.output


def mock_server(monkeypatch: pytest.MonkeyPatch, handler) -> None:
    """Route every httpx.Client the extractor opens to `handler`."""
    original = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: original(transport=httpx.MockTransport(handler), **kw))


# --- with a CSV export (columns documented in pupilpost/mis/csv_format.py) ---------------------

HEADER = ("admission_number,legal_forename,legal_surname,gender,date_of_birth,year_group,reg_group,"
          "contact_id,contact_surname,relationship,parental_responsibility,contact_priority,"
          "contact_email,contact_mobile")
ROWS = [
    "A1001,Amelia,Quennell,F,2014-05-03,Year 7,7Q,C1,Quennell,Mother,Y,1,amelia.parent@example.org,07700 900123",
    "A1001,Amelia,Quennell,F,2014-05-03,Year 7,7Q,C2,Quennell,Father,Y,9,,",
    "A1002,Barnaby,Ostrowski,M,03/11/2013,8,8O,C3,Ostrowski,Carer,N,1,b.carer@example.org,",
]
PERSONAL = ("Amelia", "Quennell", "Barnaby", "Ostrowski", "example.org", "900123")


def write_csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "pupils.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def assert_no_personal_data(text: str) -> None:
    assert not [p for p in PERSONAL if p in text], text


def test_dry_run_validates_locally_and_prints_counts_only(tmp_path: Path, key_file: Path):
    result = run(*base_args(write_csv(tmp_path, ROWS), key_file), "--urn", URN, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "2 pupils, 2 contacts, 0 staff, 1 contacts excluded by opt-out" in result.stdout
    assert "dry run: nothing was uploaded" in result.stdout and not result.stderr
    assert_no_personal_data(result.output)


def test_invalid_export_prints_row_and_field_lines_and_exits_1(tmp_path: Path, key_file: Path):
    rows = [ROWS[0].replace("amelia.parent@example.org", "amelia.parent-at-example.org"),
            ROWS[2].replace("03/11/2013", "31/02/2013")]
    result = run(*base_args(write_csv(tmp_path, rows), key_file), "--urn", URN, "--dry-run")
    assert result.exit_code == 1, result.output
    assert any(line.startswith("contact row 2: email: ") for line in result.stdout.splitlines()), result.stdout
    assert any(line.startswith("pupil row 3: date_of_birth: ") for line in result.stdout.splitlines())
    assert "nothing was imported" in one_line(result.stderr)
    assert "amelia.parent-at-example" not in result.output and "31/02" not in result.output


def test_unreadable_export_is_exit_1_one_line(tmp_path: Path, key_file: Path):
    source = tmp_path / "pupils.csv"
    source.write_bytes(b"\xff\xfe" + "name\n".encode("utf-16-le"))
    result = run(*base_args(source, key_file), "--urn", URN, "--dry-run")
    assert result.exit_code == 1 and "UTF-16" in result.stdout
    one_line(result.stderr)


class FakeServer:
    """What the lead's server checks, as an httpx MockTransport handler."""

    def __init__(self, token: str, *, urn: str = URN, final: dict | None = None) -> None:
        self.private, public = crypto.generate_upload_keypair()
        self.key_id, self.secret = uuid4(), auth.parse_token(token)[1]
        self.key = {"key_id": str(self.key_id), "public_key": base64.b64encode(public).decode(),
                    "algorithm": crypto.UPLOAD_ALGORITHM, "created_at": "2025-01-01T00:00:00Z"}
        self.urn, self.final, self.token = urn, final, token
        self.roster: dict | None = None
        self.polls = 0

    def __call__(self, req: httpx.Request) -> httpx.Response:
        assert req.headers["authorization"] == f"Bearer {self.token}"
        path = req.url.path
        if path == f"/v1/schools/{SCHOOL}":
            return httpx.Response(200, json={"school_id": str(SCHOOL), "urn": self.urn})
        if path == "/v1/upload-key":
            return httpx.Response(200, json=self.key)
        if path == "/v1/uploads" and req.method == "POST":
            return self.upload(req)
        if path.startswith("/v1/uploads/"):
            self.polls += 1
            if self.polls < 2:
                return httpx.Response(200, json={"upload_id": path.rsplit("/", 1)[1], "status": "queued"})
            return httpx.Response(200, json={"upload_id": path.rsplit("/", 1)[1], **(self.final or {})})
        return httpx.Response(404, json={"detail": "not found"})

    def upload(self, req: httpx.Request) -> httpx.Response:
        h, body = req.headers, req.content
        assert h["content-type"] == "application/octet-stream" and len(h["x-pupilpost-nonce"]) == 32
        assert crypto.verify_upload_signature(self.secret, timestamp=int(h["x-pupilpost-timestamp"]),
                                              nonce=h["x-pupilpost-nonce"], body=body,
                                              signature=h["x-pupilpost-signature"])
        assert crypto.upload_key_id(body) == self.key_id
        self.roster = json.loads(gzip.decompress(crypto.open_upload(self.private, SCHOOL, body)))
        return httpx.Response(202, json={"upload_id": str(uuid4()), "status": "queued"})


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pupilpost.extract.time.sleep", lambda _: None)


IMPORTED = {"status": "imported", "counts": {
    "unchanged": False, "pupil": {"added": 2, "changed": 0, "removed": 0},
    "contact": {"added": 2, "changed": 0, "removed": 0, "confirmations_requested": 0},
    "staff": {"added": 0, "changed": 0, "removed": 0}}, "report": []}


def test_upload_is_sealed_signed_and_polled_until_imported(tmp_path, key_file, monkeypatch, no_sleep):
    server = FakeServer(key_file.read_text().strip(), final=IMPORTED)
    mock_server(monkeypatch, server)
    result = run(*base_args(write_csv(tmp_path, ROWS), key_file, "https://pupilpost.example"))
    assert result.exit_code == 0, result.output
    assert server.roster is not None and server.roster["school_urn"] == URN
    assert len(server.roster["pupils"]) == 2 and server.roster["excluded_opt_out"] == 1
    assert "imported" in result.stdout and "pupil: added 2, changed 0, removed 0" in result.stdout
    assert_no_personal_data(result.output)


def test_rejected_upload_prints_the_report_and_exits_1(tmp_path, key_file, monkeypatch, no_sleep):
    report = [{"record": "contact", "row": 2, "field": "email", "reason": "not a valid email address"}]
    mock_server(monkeypatch, FakeServer(key_file.read_text().strip(),
                                        final={"status": "rejected", "counts": {}, "report": report}))
    result = run(*base_args(write_csv(tmp_path, ROWS), key_file, "https://pupilpost.example"))
    assert result.exit_code == 1
    assert "contact row 2: email: not a valid email address" in result.stdout
    assert "1 problem" in one_line(result.stderr)


def test_urn_differing_from_the_server_is_exit_2(tmp_path, key_file, monkeypatch):
    mock_server(monkeypatch, FakeServer(key_file.read_text().strip(), urn="654321"))
    result = run(*base_args(write_csv(tmp_path, ROWS), key_file, "https://pupilpost.example"), "--urn", URN)
    assert result.exit_code == 2 and "654321" in one_line(result.stderr)


def test_refused_credential_is_exit_2_one_line(tmp_path, key_file, monkeypatch):
    mock_server(monkeypatch, lambda req: httpx.Response(401, json={"detail": "invalid or revoked credential"}))
    result = run(*base_args(write_csv(tmp_path, ROWS), key_file, "https://pupilpost.example"))
    assert result.exit_code == 2 and "HTTP 401" in one_line(result.stderr)


def test_an_import_not_finished_in_time_is_exit_2(tmp_path, key_file, monkeypatch):
    server = FakeServer(key_file.read_text().strip(), final={"status": "queued"})
    mock_server(monkeypatch, server)
    result = run(*base_args(write_csv(tmp_path, ROWS), key_file, "https://pupilpost.example"), "--timeout", "1")
    assert result.exit_code == 2 and "still 'queued'" in one_line(result.stderr)


def test_unknown_upload_algorithm_is_refused(tmp_path, key_file, monkeypatch):
    server = FakeServer(key_file.read_text().strip())
    server.key["algorithm"] = "RSA-OAEP"
    mock_server(monkeypatch, server)
    result = run(*base_args(write_csv(tmp_path, ROWS), key_file, "https://pupilpost.example"))
    assert result.exit_code == 2 and "upgrade" in one_line(result.stderr) and server.roster is None


def test_another_schools_key_is_exit_2_naming_the_option(tmp_path, key_file, monkeypatch):
    mock_server(monkeypatch, lambda req: httpx.Response(404, json={"detail": "school not found"}))
    result = run(*base_args(write_csv(tmp_path, ROWS), key_file, "https://pupilpost.example"))
    assert result.exit_code == 2 and "--school" in one_line(result.stderr)
