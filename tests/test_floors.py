"""The floors (docs/conventions.md): `lint-imports` holds the code to the contracts in pyproject.toml.

Run on the tree as it is, every contract must be kept; run on a copy with one import planted that points up
(the ground floor reaching for the HTTP kit) or that closes a cycle, the check must fail, so it is known to bite.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bench", "app", "handlers", "api", "realtime", "workers", "domain", "storage", "core", "config", "stack")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "results"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("core/ids.py", "import api.http  # noqa", "Each floor imports only the floors below it"),
        ("storage/db.py", "import domain.posts  # noqa", "Each floor imports only the floors below it"),
        ("domain/post_text.py", "import domain.posts  # noqa", "No import cycle inside a floor"),
        ("domain/post_text.py", "import aiohttp  # noqa", "The domain knows nothing of aiohttp"),
    ],
)
def test_a_planted_import_breaks_its_contract(tmp_path: Path, module: str, planted: str, contract: str) -> None:
    root = _copy_tree(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{planted}\n")
    result = _lint(root)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
