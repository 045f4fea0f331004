"""Every benchmark scenario runs end to end at a tiny size. Nothing here is about speed: the figures
are only checked to exist, so a broken scenario is caught by `make test`, not on the day it is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import SCENARIOS

pytestmark = pytest.mark.processes  # each scenario starts its own servers and Chirp processes


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_runs_at_tiny_size(scenario: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", scenario, "--tiny"],
        env={**os.environ, "CHIRP_BENCH_RESULTS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / f"{scenario}.json").read_text())
    assert report["scenario"] == scenario
    assert report["figures"], "a scenario must report at least one figure"
