"""Property-based fuzzing of every operation in /openapi.json with schemathesis: no input may get a 5xx, and
every answer must match the document (status, Content-Type and body schema).

`make test` runs a short pass (a fixed seed, a few examples per operation, bounded to about a minute);
`make fuzz` runs the same with many more examples (CHIRP_FUZZ_EXAMPLES). The streaming endpoints are left
out: their answers never end, and tests/test_streaming.py covers their errors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sys
from pathlib import Path

import pytest
from conftest import UserFactory
from live import serve_app

from app.main import create_app
from config import Settings

EXAMPLES = int(os.environ.get("CHIRP_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("CHIRP_FUZZ_SEED", "20"))
TIME_LIMIT = float(os.environ.get("CHIRP_FUZZ_SECONDS", "90"))
# No 5xx, and every answer as documented: its status among the operation's responses, its Content-Type one
# that status declares, its body valid against that status's schema. CHIRP_FUZZ_CHECKS chooses others.
CHECKS = os.environ.get(
    "CHIRP_FUZZ_CHECKS",
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
)
# CHIRP_FUZZ_REPORT=path writes schemathesis's whole report there (the assertion shows its last lines only).
REPORT = os.environ.get("CHIRP_FUZZ_REPORT", "")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.timeout(TIME_LIMIT + 60)
async def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(
    settings: Settings, make_user: UserFactory, tmp_path: Path
) -> None:
    alice = await make_user("alice")
    app = create_app(dataclasses.replace(settings, rate_limit_enabled=False))
    async with serve_app(app) as base_url:
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS),
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--phases",
            "examples,fuzzing",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--exclude-path-regex",
            "^/api/v1/streaming($|/(user|public|hashtag))",
            "--header",
            f"Authorization: Bearer {alice.token}",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
            cwd=tmp_path,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), TIME_LIMIT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    text = output.decode("utf-8", "replace")
    if REPORT:
        await asyncio.to_thread(Path(REPORT).write_text, text)
    failures = text.find("FAILURES")  # the first failures in full, not schemathesis's closing warnings
    assert process.returncode == 0, text[failures : failures + 6000] if failures >= 0 else text[-6000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", text)
    assert counts is not None, text[-2000:]
    generated, passed = int(counts.group(1)), int(counts.group(2))
    assert generated > 100 and passed == generated, text[-2000:]
