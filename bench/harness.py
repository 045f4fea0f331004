"""The benchmark toolkit every scenario uses.

- `bench_stack()`: a throwaway set of servers (temporary directory, free ports), migrated and ready, and
  the environment a Chirp process needs to use them.
- `ChirpProcess` / `spawn_api` / `spawn_worker` / `spawn_ceiling`: processes started by pid and stopped
  by pid, never sharing this process's event loop with the load.
- `run_load` (in `bench.load`, run as a separate process): closed-loop (as fast as N connections go) or
  open-loop (a constant arrival rate, latency measured from the scheduled send time, so a slow server
  cannot hide queueing). `wrk` is used for closed-loop throughput when it is installed. GETs of `urls`, or
  any `LoadRequest`s (a POST with a unique body each time, say). `start_load(...).wait()` is the same run
  without waiting, so several loads (reads and writes, one process each) can run side by side.
- `cpu_seconds` / `machine_cpu_seconds` / `process_tree_cpu`: where the machine's CPU went during a run.
- `Report`: figures side by side with the ceiling measured in the same run, written as JSON and markdown
  with PNG plots under `bench/results/`.

Loopback only; every load is bounded in time and count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.memory import rss_kib

REPO_ROOT = Path(__file__).resolve().parent.parent
# `make test` runs the scenarios at a tiny size into a temporary directory, leaving real results alone.
RESULTS_DIR = Path(os.environ.get("CHIRP_BENCH_RESULTS", REPO_ROOT / "bench" / "results"))
ALL_SERVERS = ("postgres", "valkey", "meilisearch", "s3")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The servers ------------------------------------------------------------------------------------------


# Meilisearch's indexing memory in MiB for a run that wants other than the stack's (stack.servers.MEILI_INDEXING_MB).
MEILI_INDEXING_ENV = "CHIRP_BENCH_MEILI_INDEXING_MB"


def meili_indexing_budget() -> int:
    from stack.servers import MEILI_INDEXING_MB

    raw = os.environ.get(MEILI_INDEXING_ENV, "")
    return int(raw) if raw.isdigit() else MEILI_INDEXING_MB


@contextlib.contextmanager
def bench_stack(
    *, only: Sequence[str] = ALL_SERVERS, extra_env: dict[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """Start throwaway servers, prepare them as `chirp migrate` does, yield the environment for Chirp."""
    with bench_servers(only=only, extra_env=extra_env) as (env, _running):
        yield env


@contextlib.contextmanager
def bench_servers(
    *, only: Sequence[str] = ALL_SERVERS, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[dict[str, str], Any]]:
    """As `bench_stack`, also yielding the running servers (`stack.RunningStack`: `.servers[name].stop()`
    and `.start()`), for a scenario that stops them."""
    from app.launcher import stack_environment
    from config import Settings
    from stack import install_binaries, start_stack
    from storage.prepare import prepare_stores

    install_binaries(REPO_ROOT, log=log)
    with tempfile.TemporaryDirectory(prefix="chirp-bench-") as root:
        log(f"starting {', '.join(only)}")
        running = start_stack(
            Path(root), persistent=False, only=only, log=log, meili_indexing_mb=meili_indexing_budget()
        )
        try:
            env = {
                **stack_environment(running.urls, set(only)),
                "CHIRP_LOG_LEVEL": "warning",
                "CHIRP_RATE_LIMIT": "false",
                **(extra_env or {}),
            }
            if {"postgres", "s3", "meilisearch"} <= set(only):
                asyncio.run(prepare_stores(Settings.from_env(env)))
            yield env, running
        finally:
            running.stop()


# Processes --------------------------------------------------------------------------------------------


@dataclass
class ChirpProcess:
    """A child process started for a benchmark, stopped by its pid."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_kib(self) -> int:
        """Resident memory now, from /proc."""
        return rss_kib(self.pid)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def spawn_process(
    name: str, args: list[str], env: dict[str, str], port: int | None = None, *, cwd: Path | None = None
) -> ChirpProcess:
    """Start `python ARGS` from the repository (or from `cwd`, another checkout of it, whose code then runs)
    with `env` added, in its own session (stopped by pid)."""
    popen = subprocess.Popen(
        [sys.executable, *args],
        env={**os.environ, **env},
        cwd=cwd or REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=None,
    )
    return ChirpProcess(name, popen, port)


def wait_http(url: str, process: ChirpProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout:g} s")


def _with_node(env: dict[str, str], node_id: int | None) -> dict[str, str]:
    """`env` naming `node_id`, or leaving the process to lease a free one (storage/node_leases.py)."""
    return env if node_id is None else {**env, "CHIRP_NODE_ID": str(node_id)}


def spawn_api(
    env: dict[str, str],
    *,
    node_id: int | None = None,
    port: int | None = None,
    reuse_port: bool = False,
    cwd: Path | None = None,
) -> ChirpProcess:
    """One API process; with `reuse_port`, several share `port` (SO_REUSEPORT), each with its own node id.
    `cwd`: another checkout whose code to run (an earlier commit, for alternating before/after runs)."""
    port = port or free_port()
    api_env = {**_with_node(env, node_id), "CHIRP_PORT": str(port)}
    args = ["-m", "app.cli", "serve", *(["--reuse-port"] if reuse_port else [])]
    process = spawn_process("api", args, api_env, port, cwd=cwd)
    wait_http(f"http://127.0.0.1:{port}/healthz", process)
    return process


def spawn_worker(env: dict[str, str], *, node_id: int | None = None) -> ChirpProcess:
    return spawn_process("worker", ["-m", "app.cli", "worker"], _with_node(env, node_id))


def spawn_ceiling(
    body: bytes,
    *,
    content_type: str = "application/json",
    valkey_url: str | None = None,
    database_url: str | None = None,
) -> ChirpProcess:
    """A bare aiohttp process answering every GET with `body`: the most one API process could do. With
    `valkey_url` (and `database_url`) it reads the body from Valkey (and runs one query) per request."""
    port = free_port()
    body_file = Path(tempfile.mkstemp(prefix="chirp-ceiling-")[1])
    body_file.write_bytes(body)
    stores = [
        *(["--valkey-url", valkey_url] if valkey_url else []),
        *(["--database-url", database_url] if database_url else []),
    ]
    process = spawn_process(
        "ceiling",
        [
            "-m",
            "bench.ceiling",
            "--port",
            str(port),
            "--body-file",
            str(body_file),
            "--content-type",
            content_type,
            *stores,
        ],
        {},
        port,
    )
    wait_http(f"http://127.0.0.1:{port}/", process)
    return process


# CPU -------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process, the kernel), from /proc."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu(root: int | None = None) -> dict[int, tuple[str, float]]:
    """pid -> (command name, CPU seconds) of every live descendant of `root` (default: this process), e.g.
    the servers `bench_stack` started and the processes a scenario spawned."""
    parents: dict[int, tuple[int, str, float]] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                head, tail = stat.read().rsplit(")", 1)
        except OSError:  # gone meanwhile
            continue
        fields = tail.split()
        parents[int(entry)] = (int(fields[1]), head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / ticks)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, tuple[str, float]] = {}
    pending = list(children.get(root or os.getpid(), []))
    while pending:
        pid = pending.pop()
        found[pid] = parents[pid][1:]
        pending += children.get(pid, [])
    return found


@dataclass
class CpuSnapshot:
    """The machine's busy CPU seconds and each descendant process's, at one moment."""

    at: float
    machine: float
    processes: dict[int, tuple[str, float]]

    @classmethod
    def now(cls) -> CpuSnapshot:
        return cls(time.time(), machine_cpu_seconds(), process_tree_cpu())


def cpu_by_role(before: CpuSnapshot, after: CpuSnapshot, roles: dict[int, str]) -> dict[str, float]:
    """CPU seconds each kind of process used between the snapshots: processes named by `roles` (pid ->
    role), the others by their command (postgres, valkey-server...). A process started in between counts
    all its CPU (a PostgreSQL backend for a connection a pool opened under load); one that exited in
    between is gone from /proc and cannot count."""
    used: dict[str, float] = {}
    for pid, (name, seconds) in after.processes.items():
        earlier = before.processes.get(pid)
        role = roles.get(pid, name)
        used[role] = used.get(role, 0.0) + seconds - (earlier[1] if earlier else 0.0)
    return used


# Load ------------------------------------------------------------------------------------------------


@dataclass
class LoadRequest:
    """A request for the load generator other than a plain GET. A `{n}` in `body` becomes the request's
    sequence number, so every request differs (posts are never duplicates)."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass
class LoadResult:
    """What a load run saw. `samples` are (seconds since start, latency in seconds, status); `records`, with
    `record_ids`, are (id in the answer, scheduled, answered) in epoch seconds; `generator` is the load
    process's own cost (CPU seconds; in open loop, how late it dispatched requests)."""

    mode: str
    duration: float
    requests: int
    errors: int
    throughput: float
    latencies_ms: dict[str, float]
    offered_rate: float | None = None
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    records: list[tuple[int, float, float]] = field(default_factory=list)
    generator: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("samples", "records")}


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    if not values_ms:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    ordered = sorted(values_ms)

    def pick(q: float) -> float:
        return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)], 3)

    return {
        "p50": pick(0.50),
        "p90": pick(0.90),
        "p99": pick(0.99),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


def run_load(
    urls: Sequence[str] = (),
    *,
    duration: float,
    connections: int = 32,
    rate: float | None = None,
    headers: dict[str, str] | None = None,
    max_requests: int = 2_000_000,
    prefer_wrk: bool = True,
    requests: Sequence[LoadRequest] = (),
    record_ids: bool = False,
    start_at: float | None = None,
) -> LoadResult:
    """Load `urls` (GETs) or `requests`, round-robin, from a separate process and wait for the result.
    Closed-loop unless `rate` (requests/s) is given. See `start_load` for the other parameters."""
    if (
        rate is None
        and prefer_wrk
        and shutil.which("wrk")
        and urls
        and _one_origin(urls)
        and not requests
        and not start_at
    ):
        return _run_wrk(urls, duration=duration, connections=connections, headers=headers or {})
    return start_load(
        urls,
        duration=duration,
        connections=connections,
        rate=rate,
        headers=headers,
        max_requests=max_requests,
        requests=requests,
        record_ids=record_ids,
        start_at=start_at,
    ).wait()


class RunningLoad:
    """A load process under way (`start_load`); `wait()` returns what it saw."""

    def __init__(self, popen: subprocess.Popen[bytes], tmp: Path, rate: float | None, timeout: float) -> None:
        self.popen, self.tmp, self.rate = popen, tmp, rate
        self.deadline = time.monotonic() + timeout

    def wait(self) -> LoadResult:
        try:
            try:
                self.popen.wait(timeout=max(self.deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                raise
            if self.popen.returncode:
                raise subprocess.CalledProcessError(self.popen.returncode, self.popen.args)
            data = json.loads((self.tmp / "out.json").read_text())
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        samples = [(float(a), float(b), int(c)) for a, b, c in data["samples"]]
        latencies = [s[1] * 1000 for s in samples if 200 <= s[2] < 400]
        return LoadResult(
            mode="open" if self.rate else "closed",
            duration=data["duration"],
            requests=len(samples),
            errors=sum(1 for s in samples if not 200 <= s[2] < 400),
            throughput=round(len(samples) / data["duration"], 1) if data["duration"] else 0.0,
            latencies_ms=percentiles(latencies),
            offered_rate=self.rate,
            samples=samples,
            records=[(int(i), float(s), float(a)) for i, s, a in data["records"]],
            generator=data["generator"],
        )


def start_load(
    urls: Sequence[str] = (),
    *,
    duration: float,
    connections: int = 32,
    rate: float | None = None,
    headers: dict[str, str] | None = None,
    max_requests: int = 2_000_000,
    requests: Sequence[LoadRequest] = (),
    record_ids: bool = False,
    start_at: float | None = None,
) -> RunningLoad:
    """Start a load process (`bench.load`) and return at once. `requests` replace `urls` when given;
    `record_ids` keeps the `id` of each 2xx JSON answer (with when it was scheduled and answered);
    `start_at` (epoch seconds) lines up loads started together, the load process's own start-up excluded."""
    tmp = Path(tempfile.mkdtemp(prefix="chirp-load-"))
    spec = tmp / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "urls": list(urls),
                "requests": [asdict(r) for r in requests],
                "duration": duration,
                "connections": connections,
                "rate": rate,
                "headers": headers or {},
                "max_requests": max_requests,
                "record_ids": record_ids,
                "start_at": start_at,
            }
        )
    )
    popen = subprocess.Popen([sys.executable, "-m", "bench.load", str(spec), str(tmp / "out.json")], cwd=REPO_ROOT)
    waiting = max((start_at or 0) - time.time(), 0.0)
    return RunningLoad(popen, tmp, rate, timeout=waiting + duration + 120)


_WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("CHIRP %d %d %d %d %f %f %f %f %f\\n",
    summary.requests, summary.duration, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, 0,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000))
end
"""


def _one_origin(urls: Sequence[str]) -> bool:
    return len({urlsplit(url)[:2] for url in urls}) == 1


def _wrk_paths(urls: Sequence[str]) -> str:
    """wrk Lua sending the URLs' paths round-robin (all on one origin), so a closed-loop run over many
    URLs uses the same load generator as a single-URL ceiling."""
    paths = []
    for url in urls:
        parts = urlsplit(url)
        paths.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    listed = ",\n".join(json.dumps(path) for path in paths)  # JSON strings are valid Lua strings here
    return f"""
local paths = {{
{listed}
}}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
"""


def _run_wrk(urls: Sequence[str], *, duration: float, connections: int, headers: dict[str, str]) -> LoadResult:
    url = urls[0]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_REPORT + (_wrk_paths(urls) if len(urls) > 1 else ""))
    args = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{max(int(duration), 1)}s", "-s", script.name]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    output = subprocess.run([*args, url], capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    os.unlink(script.name)
    line = next(line for line in output.splitlines() if line.startswith("CHIRP "))
    requests, micros, errors, _, p50, p90, p99, worst, mean = line.split()[1:]
    seconds = int(micros) / 1e6
    return LoadResult(
        mode="closed (wrk)",
        duration=round(seconds, 3),
        requests=int(requests),
        errors=int(errors),
        throughput=round(int(requests) / seconds, 1),
        latencies_ms={
            "p50": float(p50),
            "p90": float(p90),
            "p99": float(p99),
            "max": float(worst),
            "mean": float(mean),
        },
    )


# Reports ---------------------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    ceiling: float | None = None
    ceiling_name: str = ""
    goal: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ceiling in (None, 0):
            return None
        return round(self.value / self.ceiling, 3)


# A plotted range wider than this ratio gets a log axis, so a 55 s spike does not flatten 5 ms lines.
LOG_AXIS_SPAN = 100.0


def fit_axis(ax: Any, values: Sequence[float], *, floor: float) -> None:
    """Start the y axis at the quantity's least possible value (`floor`); values spanning orders of
    magnitude get a symmetric-log axis (linear below 1, logarithmic above), which shows 0 as well."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) / max(min(positive), 1.0) >= LOG_AXIS_SPAN:
        ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(bottom=floor)


class Report:
    """Collects a scenario's figures and writes them as JSON, markdown and PNG plots."""

    def __init__(self, scenario: str, *, params: dict[str, Any] | None = None) -> None:
        self.scenario = scenario
        self.params = params or {}
        self.figures: list[Figure] = []
        self.loads: dict[str, LoadResult] = {}
        self.extra: dict[str, Any] = {}
        self.plots: list[Path] = []
        self.sections: list[tuple[str, str]] = []

    def figure(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        ceiling: float | None = None,
        ceiling_name: str = "",
        goal: str = "",
    ) -> Figure:
        fig = Figure(name, round(value, 3), unit, ceiling, ceiling_name, goal)
        self.figures.append(fig)
        ratio = f"  ({fig.ratio:.0%} of {ceiling_name} {ceiling:g} {unit})" if fig.ratio is not None and ceiling else ""
        log(f"{name}: {fig.value:g} {unit}{ratio}{'  goal: ' + goal if goal else ''}")
        return fig

    def add_load(self, name: str, result: LoadResult) -> None:
        self.loads[name] = result

    def add_section(self, title: str, markdown: str) -> None:
        """A titled block of markdown (a table of steps, a profile) written after the figures."""
        self.sections.append((title, markdown))

    def plot_latency_over_time(self, name: str, loads: dict[str, LoadResult]) -> None:
        """p50 and p99 latency per second of each load run, on one chart."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4))
        plotted: list[float] = []
        for label, load in loads.items():
            buckets: dict[int, list[float]] = {}
            for at, latency, status in load.samples:
                if 200 <= status < 400:
                    # A latency or lag is never below 0 (a fan-out that finished before the post's answer
                    # arrived measures slightly negative): clamp there.
                    buckets.setdefault(int(at), []).append(max(latency * 1000, 0.0))
            seconds = sorted(buckets)
            if not seconds:
                continue
            p50 = [percentiles(buckets[s])["p50"] for s in seconds]
            p99 = [percentiles(buckets[s])["p99"] for s in seconds]
            ax.plot(seconds, p50, label=f"{label} p50")
            ax.plot(seconds, p99, linestyle="--", label=f"{label} p99")
            plotted += p50 + p99
        ax.set_xlabel("seconds into the run")
        ax.set_ylabel("latency (ms)")
        fit_axis(ax, plotted, floor=0.0)
        ax.set_title(f"{self.scenario}: latency over time")
        ax.legend()
        ax.grid(alpha=0.3)
        self._save(fig, name)

    def plot_throughput_vs_offered(
        self, name: str, points: Sequence[tuple[float, float, float]], *, label: str = ""
    ) -> None:
        """(offered rate, achieved throughput, p99 ms) points: where the system stops keeping up. `label`
        names the load in the title when a scenario plots several."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4))
        offered = [p[0] for p in points]
        ax.plot(offered, [p[1] for p in points], marker="o", label="achieved (req/s)")
        ax.plot(offered, offered, linestyle=":", color="grey", label="offered")
        ax.set_xlabel("offered load (req/s)")
        ax.set_ylabel("throughput (req/s)")
        fit_axis(ax, [p[1] for p in points] + offered, floor=0.0)
        ax2 = ax.twinx()
        p99 = [max(p[2], 0.0) for p in points]
        ax2.plot(offered, p99, marker="x", color="tab:red", label="p99 latency (ms)")
        ax2.set_ylabel("p99 latency (ms)")
        fit_axis(ax2, p99, floor=0.0)
        ax.set_title(f"{self.scenario}{' ' + label if label else ''}: throughput against offered load")
        ax.legend(loc="upper left")
        ax2.legend(loc="lower right")
        ax.grid(alpha=0.3)
        self._save(fig, name)

    def _save(self, fig: Any, name: str) -> None:
        import matplotlib.pyplot as plt

        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.scenario}-{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        self.plots.append(path)
        log(f"plot written: {path}")

    def write(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        data = {
            "scenario": self.scenario,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "params": self.params,
            "figures": [{**f.__dict__, "ratio": f.ratio} for f in self.figures],
            "loads": {k: v.as_dict() for k, v in self.loads.items()},
            "extra": self.extra,
            "sections": dict(self.sections),
        }
        json_path = RESULTS_DIR / f"{self.scenario}.json"
        json_path.write_text(json.dumps(data, indent=2, default=str))
        lines = [
            f"# {self.scenario}",
            "",
            f"Run {data['when']} on {os.cpu_count()} cores; parameters: "
            + (", ".join(f"{k}={v}" for k, v in self.params.items()) or "defaults"),
            "",
            "| figure | value | ceiling (same run) | ratio | goal |",
            "|---|---|---|---|---|",
        ]
        for f in self.figures:
            ceiling = f"{f.ceiling:g} {f.unit} ({f.ceiling_name})" if f.ceiling is not None else ""
            ratio = f"{f.ratio:.0%}" if f.ratio is not None else ""
            lines.append(f"| {f.name} | {f.value:g} {f.unit} | {ceiling} | {ratio} | {f.goal} |")
        for title, markdown in self.sections:
            lines += ["", f"## {title}", "", markdown.rstrip()]
        for plot in self.plots:
            lines += ["", f"![{plot.stem}]({plot.name})"]
        md_path = RESULTS_DIR / f"{self.scenario}.md"
        md_path.write_text("\n".join(lines) + "\n")
        log(f"results written: {json_path}, {md_path}")
        return json_path
