"""`python -m bench <scenario> [options]`: run one benchmark scenario (see bench/README.md).

Every scenario takes `--tiny` (a seconds-long run at a tiny size: `make test` uses it to prove the
scenario runs; it asserts nothing about speed). A full run writes its results under bench/results/, which
are committed; a `--tiny` run writes to a fresh temporary folder instead (printed), unless `--save` is
given. CHIRP_BENCH_RESULTS names the folder outright.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile

# scenario name -> module with `main(argv: list[str]) -> int`
SCENARIOS = {
    "failover": "bench.failover",
    "edit_delivery": "bench.edit_delivery",
    "faults": "bench.faults",
    "hostile_upload": "bench.hostile_upload",
    "list_read": "bench.list_read",
    "media_upload": "bench.media_upload",
    "middleware": "bench.middleware",
    "mixed": "bench.mixed",
    "posting": "bench.posting",
    "poll_votes": "bench.poll_votes",
    "safety_streaming": "bench.safety_streaming",  # issue 22
    "safety_timeline_read": "bench.safety_timeline_read",  # issue 22
    "scale_out": "bench.scale_out",
    "search": "bench.search",
    "seed": "bench.seed",
    "streaming_capacity": "bench.streaming_capacity",
    "streaming_delivery": "bench.streaming_delivery",
    "tag_fanout": "bench.tag_fanout",
    "timeline_fanout": "bench.timeline_fanout",
    "timeline_read": "bench.timeline_read",
    "trends": "bench.trends",  # issue 24 (discovery)
}
RESULTS_ENV = "CHIRP_BENCH_RESULTS"


def results_folder(scenario: str, argv: list[str], environ: dict[str, str]) -> tuple[list[str], str | None]:
    """The scenario's own arguments (`--save` taken out), and the temporary folder a smoke run writes
    to instead of bench/results/ (None: where CHIRP_BENCH_RESULTS says, else bench/results/)."""
    save = "--save" in argv
    args = [arg for arg in argv if arg != "--save"]
    if save or RESULTS_ENV in environ or "--tiny" not in args:
        return args, None
    return args, tempfile.mkdtemp(prefix=f"chirp-bench-{scenario}-")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SCENARIOS:
        print(
            "usage: python -m bench <scenario> [--tiny] [--save] [options]\n"
            "  --tiny: a seconds-long smoke run, written to a temporary folder unless --save\n"
            "  --save: write a --tiny run's results into bench/results/ as well\n"
            "scenarios: " + ", ".join(sorted(SCENARIOS))
        )
        return 2
    args, folder = results_folder(argv[0], argv[1:], dict(os.environ))
    if folder is not None:
        os.environ[RESULTS_ENV] = folder  # before the scenario imports bench.harness, which reads it
        print(f"bench: a --tiny run writes its results to {folder} (--save writes bench/results/)", flush=True)
    module = importlib.import_module(SCENARIOS[argv[0]])
    return int(module.main(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
