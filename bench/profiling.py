"""Where a benchmark's processes spend their time: py-spy sampling profiles, and their top functions.

py-spy is not a Chirp dependency; `py_spy()` finds it beside the interpreter (`.venv/bin/py-spy`) or on the
PATH. Profiles are recorded with `--nonblocking` (the process is not paused to sample it, so the run being
measured is barely disturbed) and `--function` (samples grouped by function rather than by line), in
py-spy's raw "collapsed stacks" format: one line per distinct stack, `outer;...;leaf count`, which
speedscope (https://www.speedscope.app) and flamegraph tools open as they are. Idle samples (a thread
waiting in epoll, say) are left out by py-spy, so the samples are where the process was busy.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Report, log


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Profile:
    """A py-spy recording under way (`start_profile`)."""

    name: str
    pid: int
    path: Path
    seconds: float
    rate: int
    popen: subprocess.Popen[bytes]

    def wait(self) -> str | None:
        """Wait for the recording to end; None when it was written, else what py-spy said."""
        _, stderr = self.popen.communicate(timeout=self.seconds + 60)
        if self.popen.returncode or not self.path.exists():
            return stderr.decode(errors="replace").strip()[-500:] or f"py-spy exited {self.popen.returncode}"
        return None


def usable(asked: bool) -> bool:
    """Whether a benchmark's `--profile` can be honoured: asked for, and py-spy installed (said when not)."""
    if asked and py_spy() is None:
        log("--profile: py-spy is not installed (.venv/bin/pip install py-spy); running without it")
        return False
    return asked


def start_profile(
    name: str, pid: int, seconds: float, path: Path, *, rate: int = 100, by_line: bool = False, native: bool = False
) -> Profile:
    """Record `pid` for `seconds`; `by_line`: samples keep the line of each frame (not only the function);
    `native`: C and Cython frames too (costs more while sampling)."""
    exe = py_spy()
    if exe is None:
        raise FileNotFoundError("py-spy is not installed (pip install py-spy)")
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(math.ceil(seconds)),
        "--rate",
        str(rate),
        "--format",
        "raw",
        *([] if by_line else ["--function"]),
        *(["--native"] if native else []),
        "--nonblocking",
        "--output",
        str(path),
    ]
    popen = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return Profile(name, pid, path, seconds, rate, popen)


@dataclass(frozen=True)
class FunctionTime:
    function: str
    own: int  # samples with this function at the top of the stack
    total: int  # samples with this function anywhere in the stack


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    functions: list[FunctionTime]

    def top(self, n: int, *, by: str) -> list[FunctionTime]:
        return sorted(self.functions, key=lambda f: (-getattr(f, by), f.function))[:n]


def summarise(path: Path) -> ProfileSummary:
    """Own and total samples of every function in a collapsed-stacks file."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):  # a recursive function counts once per sample
            total[frame] += count
    return ProfileSummary(samples, [FunctionTime(f, own[f], total[f]) for f in total])


def markdown(profile: Profile, summary: ProfileSummary, *, top: int = 15) -> str:
    """Two tables, the top functions by own time and by total time, as shares of the busy samples."""
    possible = profile.seconds * profile.rate
    lines = [
        f"pid {profile.pid}: {summary.samples:,} samples py-spy did not judge idle, of {possible:,.0f} in "
        f"{profile.seconds:g} s; collapsed stacks in `{profile.path.name}` (open in speedscope). A function's "
        "own time includes the C code it calls: own time in the event loop's frame (`run_app`, `Runner.run`) "
        "is uvloop itself (polling, socket reads and writes, scheduling callbacks).",
        "",
    ]
    for by, title in (("own", "own time (top of the stack)"), ("total", "total time (anywhere in the stack)")):
        lines += [f"| {title} | own | total |", "|---|---|---|"]
        every = max(summary.samples, 1)
        for f in summary.top(top, by=by):
            name = f.function.replace("|", "\\|")
            lines.append(f"| `{name}` | {f.own / every:.1%} | {f.total / every:.1%} |")
        lines.append("")
    return "\n".join(lines)


def add_to_report(
    report: Report, profile: Profile, failure: str | None, title: str, *, top: int = 15, logged: int = 5
) -> None:
    """A finished recording (`failure`: what `Profile.wait` said) as a section of the report, and its
    `logged` top functions by own time in the log."""
    if failure is not None:
        report.add_section(title, f"py-spy failed: `{failure}`")
        return
    summary = summarise(profile.path)
    report.add_section(title, markdown(profile, summary, top=top))
    log(f"profile of {profile.name}: {summary.samples:,} samples, written to {profile.path}")
    for f in summary.top(logged, by="own"):
        log(f"  {f.own / max(summary.samples, 1):6.1%} own  {f.function}")
