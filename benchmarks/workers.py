"""Each benchmark runs every system in a fresh process of its own script (`--worker ...`), one after the other, so no
system competes with another for the CPU and each one's peak memory is its own. The worker reports one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def run_systems(script: str, benchmark: str, systems: list[str], name_key: str | None = None) -> dict[str, dict]:
    """In the parent: run each of ``systems`` in its own worker (``script --worker SYSTEM`` plus this process's
    arguments), printing its JSON line (``benchmark``, and the system under ``name_key`` when given) as it ends;
    a failed worker ends the benchmark with its output. Returns the lines by system."""
    lines = {}
    for system in systems:
        try:
            lines[system] = run_worker(script, ["--worker", system, *sys.argv[1:]])
        except WorkerFailed as error:
            sys.exit(str(error))
        named = {name_key: system} if name_key else {}
        print(json.dumps({"benchmark": benchmark, **named, **lines[system]}), flush=True)
    return lines


def add_sst2_arguments(parser: Any, *, clock: bool = True) -> None:
    """``--data`` (the SST-2 folder) and, with ``clock``, ``--clock`` (what a time budget counts)."""
    parser.add_argument("--data", type=Path, required=True, help="Folder with SST-2 train.tsv and dev.tsv.")
    if clock:
        parser.add_argument(
            "--clock",
            choices=["wall", "cpu"],
            default="wall",
            help="Budget clock: 'cpu' counts this process's CPU time over its threads (fair on a busy shared machine).",
        )


def check_sst2_folder(parser: Any, data: Path) -> None:
    """A usage error naming the file when ``data`` is not an SST-2 folder."""
    for name in ("train.tsv", "dev.tsv"):
        if not (data / name).is_file():
            parser.error(f"{data / name} not found: --data must be the SST-2 folder (train.tsv, dev.tsv)")
