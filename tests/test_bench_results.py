"""The bench's output: smoke runs stay out of the committed bench/results/, and the plots start at each
quantity's least possible value, with a log axis where the values span orders of magnitude."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import results_folder
from bench.harness import LoadResult, Report


def test_a_tiny_run_writes_to_a_temporary_folder_unless_saved() -> None:
    args, folder = results_folder("seed", ["--tiny", "--users", "5"], {})
    assert args == ["--tiny", "--users", "5"]
    assert folder is not None and Path(folder).is_dir() and "bench/results" not in folder
    Path(folder).rmdir()
    assert results_folder("seed", ["--tiny", "--save"], {}) == (["--tiny"], None)
    assert results_folder("seed", ["--users", "5"], {}) == (["--users", "5"], None)  # a full run: bench/results/
    assert results_folder("seed", ["--tiny"], {"CHIRP_BENCH_RESULTS": "/x"}) == (["--tiny"], None)


def _load(samples: list[tuple[float, float, int]]) -> LoadResult:
    return LoadResult("open", 3.0, len(samples), 0, 1.0, {}, samples=samples)


def _plot(monkeypatch: pytest.MonkeyPatch, loads: dict[str, LoadResult]) -> Any:
    saved: list[Any] = []
    monkeypatch.setattr(Report, "_save", lambda self, fig, name: saved.append(fig))
    Report("mixed").plot_latency_over_time("latency", loads)
    return saved[0].axes[0]


def test_a_lag_is_never_plotted_below_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    ax = _plot(monkeypatch, {"fan-out lag": _load([(0.1, -0.004, 200), (1.2, -0.002, 200), (2.5, 0.003, 200)])})
    assert ax.get_ylim()[0] == 0
    assert min(min(line.get_ydata()) for line in ax.get_lines()) == 0
    assert ax.get_yscale() == "linear"  # a few milliseconds: nothing to compress


def test_ranges_over_orders_of_magnitude_get_a_log_axis(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _load([(0.5, 0.005, 200), (1.5, 0.004, 200)])
    lag = _load([(0.5, 55.0, 200), (1.5, 30.0, 200)])
    ax = _plot(monkeypatch, {"reads": reads, "fan-out lag": lag})
    assert ax.get_yscale() == "symlog"
    assert ax.get_ylim()[0] == 0
