"""Each benchmark runs every system in a fresh process of its own script (`--worker ...`), one after the other, so no
system competes with another for the CPU and each one's peak memory is its own. The worker reports one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys

RESULT_PREFIX = "RESULT "


def report(line: dict) -> None:
    """In a worker: hand the system's figures back to the parent process."""
    print(RESULT_PREFIX + json.dumps(line), flush=True)


class WorkerFailed(RuntimeError):
    """A worker exited with an error or reported nothing; the message carries the tail of its output."""


def run_worker(script: str, arguments: list[str]) -> dict:
    """Run ``script`` with ``arguments`` in a fresh Python process and return the line it reported."""
    result = subprocess.run([sys.executable, script, *arguments], capture_output=True, text=True)
    found = [line[len(RESULT_PREFIX) :] for line in result.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if result.returncode != 0 or not found:
        raise WorkerFailed(
            f"{' '.join(arguments)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return json.loads(found[-1])
