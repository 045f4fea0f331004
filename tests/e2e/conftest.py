"""Browser tests: headless Chromium (Debian's package) driven by Playwright, against the whole stack.

The server runs on the test's event loop on a real port, with the background jobs (fan-out, media
processing, search indexing, notifications, streaming) working beside it, so what the browser shows is
what the API and workers really do. Without Chromium these tests are skipped with the reason, printed at
the end of the run; under CI they fail instead (CI installs Chromium: .ci/run).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from e2e.live_stack import LiveServer
from storage.resources import Resources, open_resources
from workers.queues import all_periodic, all_queues
from workers.runner import JobRunner

CHROMIUM = Path(os.environ.get("CHIRP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Where the screenshot test writes when asked to refresh the README's pictures (see web/README.md).
SCREENSHOTS_ENV = "CHIRP_SCREENSHOTS"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return (
            f"no Chromium at {CHROMIUM}: install Debian's chromium package (apt-get install chromium), "
            "or set CHIRP_CHROMIUM to a Chromium binary"
        )
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[dev]')"
    return None


SKIP_REASON = browser_missing()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(str(item.fspath)).parents]
    for item in mine:
        item.add_marker(pytest.mark.browser)  # `make test-fast` leaves them out (-m "not browser")
    # Under CI nothing is skipped: a missing browser fails the `browser` fixture, naming what is missing.
    if SKIP_REASON is None or os.environ.get("CI"):
        return
    for item in mine:
        item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {SKIP_REASON}"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SKIP_REASON is not None and not os.environ.get("CI"):
        terminalreporter.write_line(f"NOTE: the browser tests (tests/e2e) were skipped: {SKIP_REASON}", yellow=True)


@pytest.fixture
async def stack_res(settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(settings) as resources:
        yield resources


@pytest.fixture
async def live_server(settings: Settings, stack_res: Resources) -> AsyncIterator[LiveServer]:
    """The app served over HTTP, with every worker queue running beside it; rate limits off (one IP here)."""
    server = LiveServer(dataclasses.replace(settings, rate_limit_enabled=False))
    await server.start()
    # The worker renders entities too (the stream's posts): with the server's CHIRP_PUBLIC_URL, as in production.
    async with open_resources(dataclasses.replace(server.settings, public_url=server.url)) as worker_res:
        stop = asyncio.Event()
        worker = asyncio.create_task(JobRunner(worker_res, all_queues(), all_periodic()).run(stop))
        try:
            yield server
        finally:
            stop.set()
            with suppress(asyncio.CancelledError):
                await asyncio.wait_for(worker, 30)
            await server.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if SKIP_REASON is not None:
        pytest.fail(f"CI runs the browser tests, but {SKIP_REASON}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Iterator[Path]:
    """docs/screenshots when CHIRP_SCREENSHOTS=1 (refreshing the README's pictures), else a throwaway folder."""
    if os.environ.get(SCREENSHOTS_ENV):
        target = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        yield target
    else:
        yield tmp_path
