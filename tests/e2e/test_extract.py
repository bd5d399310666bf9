"""The school-side extractor, as an IT technician runs it, against a real ingest over HTTP."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import client, serving
from tests.fixtures.mis_fixtures import make_csv, make_ctf
from tests.integration.helpers import admin_token, create_school

pytestmark = pytest.mark.e2e


async def extract(tmp_path: Path, url: str, school_id, key: str, source: Path, fmt: str, *extra: str):
    key_file = tmp_path / "api-key"
    key_file.write_text(key)
    key_file.chmod(0o600)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pupilpost.cli", "extract", "--source", str(source), "--format", fmt,
        "--school", str(school_id), "--api-key-file", str(key_file), "--server", url, *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("PUPILPOST_")})
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_csv_and_ctf_exports_reach_the_directory(services, tmp_path):
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, "131313", "Extract Academy")
    pupils_csv, staff_csv = make_csv("131313", pupils=120, seed=7)
    (tmp_path / "pupils.csv").write_bytes(pupils_csv)
    async with serving(services["ingest"]) as url:
        code, out, err = await extract(tmp_path, url, school_id, key, tmp_path / "pupils.csv", "csv")
        assert code == 0, (out, err)
        assert "imported" in out.lower()
        async with client(services["ingest"], key) as c:
            listed = (await c.get("/v1/directory/pupils", params={"limit": 500})).json()["items"]
            assert len(listed) == 120
        # The same school switching to CTF: the export holds the same pupils, so little changes,
        # and the noise a CTF carries (ethnicity, SEN, medical...) never arrives.
        (tmp_path / "export.xml").write_bytes(make_ctf("131313", pupils=120, seed=7))
        code, out, err = await extract(tmp_path, url, school_id, key, tmp_path / "export.xml", "ctf")
        assert code == 0, (out, err)
        bad = tmp_path / "bad.csv"
        bad.write_bytes(pupils_csv.replace(b"@", b"#", 3))
        code, out, err = await extract(tmp_path, url, school_id, key, bad, "csv")
        assert code == 1 and "email" in (out + err)
        code, out, err = await extract(tmp_path, url, school_id, "pps.00000000-0000-0000-0000-000000000000.x" * 1,
                                       tmp_path / "pupils.csv", "csv")
        assert code == 2 and len(err.strip().splitlines()) == 1
