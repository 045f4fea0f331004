"""`python -m bench <scenario> [options]`: run one benchmark scenario (see bench/README.md).

Every scenario takes `--tiny` (a seconds-long run at a tiny size: `make test` uses it to prove the
scenario runs; it asserts nothing about speed) and writes its results under bench/results/.
"""

from __future__ import annotations

import importlib
import sys

# scenario name -> module with `main(argv: list[str]) -> int`
SCENARIOS = {
    "media_upload": "bench.media_upload",
    "middleware": "bench.middleware",
    "mixed": "bench.mixed",
    "posting": "bench.posting",
    "scale_out": "bench.scale_out",
    "search": "bench.search",
    "seed": "bench.seed",
    "streaming_capacity": "bench.streaming_capacity",
    "streaming_delivery": "bench.streaming_delivery",
    "timeline_fanout": "bench.timeline_fanout",
    "timeline_read": "bench.timeline_read",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SCENARIOS:
        print("usage: python -m bench <scenario> [--tiny] [options]\nscenarios: " + ", ".join(sorted(SCENARIOS)))
        return 2
    module = importlib.import_module(SCENARIOS[argv[0]])
    return int(module.main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
