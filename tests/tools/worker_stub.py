"""A stand-in benchmark worker for :func:`attnseg.tools.measure.run_workers`:
``python -m tests.tools.worker_stub --worker SPEC`` prints the spec's rows (and a line that is not
a row), then sleeps and exits as the spec says. No torch import: it starts in milliseconds."""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    spec = json.loads(argv[argv.index("--worker") + 1])
    for row in spec["rows"]:
        print(spec["prefix"] + json.dumps(row), flush=True)
    print("a line that is not a row", flush=True)
    time.sleep(spec.get("sleep", 0))
    return spec.get("exit", 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
