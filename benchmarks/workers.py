"""Each benchmark runs every system in a fresh process of its own script (`--worker ...`), one after the other, so no
system competes with another for the CPU and each one's peak memory is its own. The worker reports one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RESULT_PREFIX = "RESULT "


def report(line: dict) -> None:
    """In a worker: hand the system's figures back to the parent process."""
    print(RESULT_PREFIX + json.dumps(line), flush=True)


class WorkerFailed(RuntimeError):
    """A worker exited with an error or reported nothing; the message carries the tail of its output."""


def run_worker(script: str, arguments: list[str], log_file: Path | None = None) -> dict:
    """Run ``script`` with ``arguments`` in a fresh Python process and return the line it reported. With
    ``log_file``, the worker's output is appended there as it runs (follow a long run with ``tail -f``)."""
    command = [sys.executable, script, *arguments]
    if log_file is None:
        result = subprocess.run(command, capture_output=True, text=True)
        stdout, stderr = result.stdout, result.stderr
    else:
        with open(log_file, "a", encoding="utf-8") as log:
            start = log.tell()
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        with open(log_file, encoding="utf-8") as log:
            log.seek(start)
            stdout, stderr = log.read(), ""
    found = [line[len(RESULT_PREFIX) :] for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if result.returncode != 0 or not found:
        raise WorkerFailed(f"{' '.join(arguments)} failed ({result.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return json.loads(found[-1])
