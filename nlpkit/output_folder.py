"""One output folder, one run: a lock, a run record, and a final save that replaces the whole folder in one step.

A run's ``output_dir`` holds two hidden files of nlpkit's own (never pushed to the Hub: hidden entries stay local):

- ``.nlpkit.lock``: held (``flock``) by the main process from :func:`prepare_output_dir` to :meth:`OutputFolder.
  release` (or the process's end); it says which pid on which host holds it. A second run into the folder stops with
  one line naming the folder and that pid. The kernel drops the lock when its process dies, so a crash leaves no lock
  that counts: the next run takes the file over, with a log line. Where the file system has no ``flock``, a lock
  whose pid no longer runs on this host is taken over instead.
- ``.nlpkit_run.json``, the run record (see :func:`new_record`): the recipe, the settings that define the run (every
  key set by the recipe's defaults, the config file or the command line, less the keys of :data:`NOT_DEFINING_KEYS`),
  the status (``running``, then ``finished`` as the very last file of the final save), the model type and
  architectures, the steps trained.

What a run does with the folder it finds (:func:`prepare_output_dir`, on the main process, under the lock):

- empty or missing: a new run. If it ends before writing anything (a bad config, bad data), its record goes when
  the lock is let go, and the folder too if the run made it: a run stopped before any work leaves no trace.
- this run (same recipe and settings), finished: nothing to do (:class:`~nlpkit.errors.RunFinished`: the recipe
  says so and exits with status 0). ``overwrite_output_dir`` trains it again from scratch.
- this run, unfinished (killed, stopped, failed): it continues (``resume_from_checkpoint`` picks the checkpoint). With
  ``overwrite_output_dir`` and no ``resume_from_checkpoint`` it starts over; with both, it continues (so a config
  that sets both never throws a preempted run's checkpoints away).
- the same recipe with other settings (more epochs, another learning rate...): with ``resume_from_checkpoint`` and a
  checkpoint to resume, it continues from that checkpoint with the new settings (the log lists what changed), as
  transformers does; otherwise it is refused, naming the changed keys.
- another recipe's run, finished or with checkpoints: refused (one line) unless ``overwrite_output_dir``.
- an unfinished run without any checkpoint (it failed before saving one): nothing to keep, so it is replaced.
- a folder without a record: one holding a model (``config.json``: a run of an earlier nlpkit, or of another tool)
  is refused unless ``overwrite_output_dir`` or (checkpoints and ``resume_from_checkpoint``) continuing them; other
  files are kept, and carried into the finished folder.

Replacing a run (``overwrite_output_dir``) removes every file of it first (weights, ``modeling_*.py``, checkpoints,
card...); the record says ``removing`` meanwhile, so a kill halfway is finished by the next run.

The final save (:meth:`OutputFolder.begin_final_save`, :meth:`OutputFolder.commit_final_save`) writes every final
file into a staging folder beside the output folder (``.NAME.saving``), the record (``finished``) last, then swaps
the two folders in one ``renameat2(RENAME_EXCHANGE)``, so a reader sees the old folder or the new one, never a mix.
The entries of the old folder that the new one lacks (the checkpoints, files written while training such as
``samples.jsonl``) are then moved in, and the old folder is deleted. Without the exchange (not Linux, a file system
that refuses it) the old folder is renamed to ``.NAME.replaced`` and the staging folder into place: two renames, with
an instant between them where the folder is missing. Where renaming the folder cannot work at all (``output_dir`` is
a mount point, or the current directory is inside it), the files are moved in one by one, the record last.

A kill at any point of this is repaired by the next run into the folder (:func:`recover`): a missing folder is put
back from ``.NAME.saving`` (complete) or ``.NAME.replaced``; a complete staging folder is swapped in (the run is
then finished); an incomplete one is deleted; an old folder left after the swap has its checkpoints moved across
and is deleted.

Under DDP only the main process (rank 0) locks, writes and moves; the other ranks read the record (after rank 0: see
``TrainingArguments.main_process_first``) to stop as it does when the run is finished.

A run with ``do_train false`` (predictions with a trained model) claims no folder: :func:`prepare_prediction_dir`
locks ``output_dir`` and checks that it is empty, or holds no run and no model, or holds the finished run of the
model that predicts; it writes no record, and the run only adds ``predictions.jsonl`` and results (the finished run's
files stay as they are). ``predictions.jsonl`` belongs to the model it came from: a final save never carries an old
one across into the new folder.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import stat
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpkit.errors import ConfigError, RunFinished
from nlpkit.io import (
    atomic_write_json,
    disk_full_errors,
    exchange_paths,
    fsync_directory,
    fsync_tree,
    give_usual_modes,
)

logger = logging.getLogger("nlpkit")

RECORD_FILE = ".nlpkit_run.json"
LOCK_FILE = ".nlpkit.lock"
STAGING_SUFFIX = ".saving"  # .NAME.saving: the final save being written (after the swap: the old folder)
REPLACED_SUFFIX = ".replaced"  # .NAME.replaced: the old folder, when the swap took two renames
RECORD_FORMAT = 1
CHECKPOINT_PREFIX = "checkpoint-"
PREDICTIONS_FILE = "predictions.jsonl"  # the test predictions of the folder's model (never carried to a new one)
DISK_FULL_HINT = "free some space, then rerun the same command (it continues from the last checkpoint)"

# Keys that do not change what a run trains: where it is saved, pushed or logged, how data is fed, evaluation batch
# sizes. A rerun that differs from the recorded run only in these is the same run.
NOT_DEFINING_KEYS = frozenset(
    {
        "output_dir",
        "overwrite_output_dir",
        "resume_from_checkpoint",
        "push_to_hub",
        "report_to",
        "run_name",
        "project",
        "disable_tqdm",
        "log_level",
        "log_level_replica",
        "log_on_each_node",
        "per_device_eval_batch_size",
        "eval_accumulation_steps",
        "eval_do_concat_batches",
        "eval_use_gather_object",
        "save_total_limit",
        "save_on_each_node",
        "skip_memory_metrics",
        "use_cpu",
        "local_rank",
        "ddp_backend",
        "ddp_timeout",
    }
)
NOT_DEFINING_PREFIXES = ("hub_", "logging_", "dataloader_", "trackio_")
_NO_RESUME = ("", "none", "null", "no", "false")


# ---- The run's identity ----


def recipe_name(default_config: str | Path | None = None) -> str:
    """The recipe's name: the folder of its default config (``recipes/configs/<recipe>/quickstart.yaml``), else the
    stem of the script that runs (``sys.argv[0]``)."""
    if default_config is not None:
        config = Path(default_config)
        if config.parent.parent.name == "configs":
            return config.parent.name
    script = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return Path(script).stem or "python"


def run_settings(explicit: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that define a run, JSON-ready: the keys that were set (recipe defaults, config file, command
    line) less :data:`NOT_DEFINING_KEYS` and the keys that start with :data:`NOT_DEFINING_PREFIXES`."""
    return {
        key: _plain(value)
        for key, value in sorted(explicit.items())
        if key not in NOT_DEFINING_KEYS and not key.startswith(NOT_DEFINING_PREFIXES)
    }


def wants_resume(resume_from_checkpoint: Any) -> bool:
    """Whether ``resume_from_checkpoint`` asks to resume (``auto`` or a path; not unset, ``none``, ``false``...)."""
    if resume_from_checkpoint is None or resume_from_checkpoint is False:
        return False
    return not (isinstance(resume_from_checkpoint, str) and resume_from_checkpoint.strip().lower() in _NO_RESUME)


def _plain(value: Any) -> Any:
    value = getattr(value, "value", value)  # enums
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


# ---- The run record ----


def new_record(recipe: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """A run record, status ``running``. Its keys:

    ``format`` (1), ``run_id`` (random, kept by a run that continues), ``recipe``, ``settings`` (see
    :func:`run_settings`), ``status`` (``running``, ``finished`` or, while a replaced run's files are removed,
    ``removing``), ``model_type`` and ``architectures`` (from the saved ``config.json``; None until the final save),
    ``train_steps``, ``started`` / ``finished`` (UTC, ISO 8601), ``nlpkit_version``."""
    return {
        "format": RECORD_FORMAT,
        "run_id": uuid.uuid4().hex,
        "recipe": recipe,
        "settings": dict(settings),
        "status": "running",
        "model_type": None,
        "architectures": None,
        "train_steps": None,
        "started": _now(),
        "finished": None,
        "nlpkit_version": _nlpkit_version(),
    }


def read_record(folder: str | Path) -> dict[str, Any] | None:
    """The run record of ``folder``, or None (none, or not readable as one)."""
    try:
        record = json.loads((Path(folder) / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "status" in record else None


def write_record(folder: str | Path, record: Mapping[str, Any]) -> None:
    atomic_write_json(Path(folder) / RECORD_FILE, dict(record))


def changed_settings(recorded: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    """``["num_train_epochs: 10 -> 20", "seed: unset -> 3"]``: the settings that differ, in key order."""
    changes = []
    for key in sorted(set(recorded) | set(settings)):
        before, after = recorded.get(key, _UNSET), settings.get(key, _UNSET)
        if _plain(before) != _plain(after):
            changes.append(f"{key}: {_shown(before)} -> {_shown(after)}")
    return changes


_UNSET = object()


def _shown(value: Any) -> str:
    return "unset" if value is _UNSET else json.dumps(_plain(value))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _nlpkit_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("nlpkit")
    except Exception:  # not installed (a source checkout on sys.path)
        return None


# ---- The lock ----

_HELD: dict[str, FolderLock] = {}


@dataclass
class FolderLock:
    """The lock of one output folder, held by this process (see :func:`acquire_lock`)."""

    path: Path  # the lock file
    descriptor: int | None
    flocked: bool
    # (run_id, created the folder) of a run that began here: if it ends leaving nothing but its record, the record
    # (and the folder it created) go too, so that a run stopped before any work (a bad config) leaves no trace.
    new_run: tuple[str, bool] | None = None

    def release(self) -> None:
        """Remove the lock file (when it is still this lock's) and let go of it."""
        if self.descriptor is None:
            return
        folder = self.path.parent
        try:
            if _same_file(self.path, self.descriptor):
                if self.new_run is not None:
                    _undo_empty_run(folder, self.new_run[0])
                self.path.unlink()
        except OSError:
            pass
        os.close(self.descriptor)  # drops the flock
        self.descriptor = None
        if self.new_run is not None and self.new_run[1]:
            try:
                folder.rmdir()  # only if empty
            except OSError:
                pass
        for key, lock in list(_HELD.items()):
            if lock is self:
                del _HELD[key]


def acquire_lock(folder: str | Path, *, shown: str | Path | None = None) -> FolderLock:
    """Lock ``folder`` (which must exist) for this process, or raise ConfigError naming the folder (as ``shown``) and
    the pid that holds it. A lock this process holds already is returned as it is. A lock file left by a process
    that died is taken over, with a log line."""
    folder = Path(os.path.realpath(folder))
    shown = folder if shown is None else shown
    held = _HELD.get(str(folder))
    if held is not None and held.descriptor is not None:
        return held
    path = folder / LOCK_FILE
    for _ in range(20):  # the file may be removed (its holder ending) between our open and our flock: open again
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            flocked = True
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise ConfigError(_busy_message(shown, holder)) from None
        except OSError as error:
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL):
                os.close(descriptor)
                raise
            flocked = False  # a file system without flock: the pid in the file decides
        if _same_file(path, descriptor):
            break
        os.close(descriptor)
    else:
        raise ConfigError(f"output_dir {shown}: its lock file keeps changing; is another run starting there?")
    holder = _read_holder(descriptor)
    if holder and holder.get("pid") != os.getpid():
        if not flocked and _alive(holder):
            os.close(descriptor)
            raise ConfigError(_busy_message(shown, holder))
        logger.info(
            "Took over the lock of %s left by pid %s on %s (that run is no longer running)",
            shown,
            holder.get("pid"),
            holder.get("host"),
        )
    content = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}) + "\n"
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, content.encode(), 0)
    lock = FolderLock(path=path, descriptor=descriptor, flocked=flocked)
    _HELD[str(folder)] = lock
    return lock


def _undo_empty_run(folder: Path, run_id: str) -> None:
    """Remove the record of the run ``run_id`` if it is all that run left in ``folder`` (still ``running``)."""
    record = read_record(folder)
    left = {entry.name for entry in folder.iterdir()} - {LOCK_FILE, RECORD_FILE}
    if record is not None and record.get("run_id") == run_id and record.get("status") == "running" and not left:
        (folder / RECORD_FILE).unlink()


def lock_holder(folder: str | Path) -> dict[str, Any] | None:
    """What the lock file of ``folder`` says (``pid``, ``host``, ``since``), whether or not it is held."""
    try:
        return json.loads((Path(folder) / LOCK_FILE).read_text(encoding="utf-8")) or None
    except (OSError, ValueError):
        return None


def _read_holder(descriptor: int) -> dict[str, Any] | None:
    try:
        return json.loads(os.pread(descriptor, 4096, 0).decode("utf-8")) or None
    except (OSError, ValueError):
        return None


def _busy_message(shown: str | Path, holder: dict[str, Any] | None) -> str:
    who = "another run"
    if holder:
        who = f"another run (pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')})"
    return f"output_dir {shown} is in use by {who}: wait for it to end, or choose another --output_dir"


def _alive(holder: dict[str, Any]) -> bool:
    """Whether the pid of a lock file may still run: on this host, os.kill(pid, 0) tells; on another, assume so."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError, OverflowError):
        return True
    return True


def _same_file(path: Path, descriptor: int) -> bool:
    try:
        on_disk, opened = os.stat(path), os.fstat(descriptor)
    except OSError:
        return False
    return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)


@atexit.register
def release_all() -> None:
    """Let go of every output folder this process holds (done when it ends; a test may call it to mimic that)."""
    for lock in list(_HELD.values()):
        lock.release()


# ---- The folder ----


@dataclass
class OutputFolder:
    """A run's output folder, as :func:`prepare_output_dir` left it: locked and recorded on the main process."""

    path: Path  # as the run names it (messages show this)
    is_main_process: bool
    record: dict[str, Any] | None = None
    lock: FolderLock | None = None
    real: Path = field(init=False)

    def __post_init__(self) -> None:
        self.real = Path(os.path.realpath(self.path))

    @property
    def staging(self) -> Path:
        """Where the final save is written: ``.NAME.saving`` beside the output folder (symbolic links resolved)."""
        return _sibling(self.real, STAGING_SUFFIX)

    def begin_final_save(self) -> Path:
        """The staging folder to write the final files into (every rank gets the path; the main process clears what
        an earlier run may have left there)."""
        if self.is_main_process:
            _remove(self.staging)
        return self.staging

    def commit_final_save(self, *, train_steps: int | None = None) -> None:
        """Main process: mark the staging folder's run finished (the record, its last file), flush it to disk, swap
        it in for the output folder, move the checkpoints and other training-time entries across, delete the old
        folder. Other ranks: nothing."""
        if not self.is_main_process:
            return
        if not self.staging.is_dir():
            raise RuntimeError(f"{self.staging} does not exist: call begin_final_save and save into it first")
        record = dict(self.record or read_record(self.real) or {})
        record.update(_model_fields(self.staging))
        record.update(status="finished", finished=_now(), train_steps=train_steps)
        with self.disk_full_errors():
            give_usual_modes(self.staging)  # save_pretrained writes model.safetensors 0600
            write_record(self.staging, record)  # the last file: from here on, the staging folder is complete
            fsync_tree(self.staging)
            _publish(self.real, self.staging, self.lock)
        self.record = record

    def release(self) -> None:
        """Let go of the lock (main process; also done when the process ends)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @contextmanager
    def disk_full_errors(self, hint: str = DISK_FULL_HINT) -> Iterator[None]:
        """:func:`nlpkit.io.disk_full_errors` for this folder and its staging folder: wrap the Trainer's training
        (its checkpoints) and the final save in it."""
        with disk_full_errors(self.real, self.staging, hint=hint):
            yield


def prepare_output_dir(
    output_dir: str | Path,
    *,
    recipe: str,
    settings: Mapping[str, Any],
    overwrite: bool = False,
    resume: bool = False,
    is_main_process: bool = True,
    push_repo: str | None = None,
) -> OutputFolder:
    """Make ``output_dir`` this run's, before any data or model loads: on the main process, repair what a kill left
    (:func:`recover`), take the lock, apply the rules of the module's docstring and write the record (``running``).

    ``settings``: the keys set (``Run.explicit``; :func:`run_settings` keeps those that define the run);
    ``overwrite``: ``overwrite_output_dir``; ``resume``: whether ``resume_from_checkpoint`` is set
    (:func:`wants_resume`); ``push_repo``: where a finished run would have been pushed (named in the message).
    Raises :class:`~nlpkit.errors.RunFinished` when the folder holds this run finished (on every rank), ConfigError
    when the folder is busy or holds a run that may not be replaced. Other ranks only read the record, to raise
    RunFinished as the main process does: call this on rank 0 first."""
    shown = Path(output_dir)
    folder = OutputFolder(path=shown, is_main_process=is_main_process)
    settings = run_settings(settings)
    if not is_main_process:
        record = read_record(folder.real)
        if _is_finished_run(record, recipe, settings) and not overwrite:
            raise RunFinished(_finished_message(shown, record, push_repo))
        folder.record = record
        return folder
    real = folder.real
    _restore_missing(real)
    created = not real.exists()
    real.mkdir(parents=True, exist_ok=True)
    folder.lock = acquire_lock(real, shown=shown)
    try:
        recover(real, lock=folder.lock)
        before = read_record(real)
        folder.record = _claim(folder, recipe, settings, overwrite=overwrite, resume=resume, push_repo=push_repo)
        if before is None or before.get("run_id") != folder.record["run_id"]:
            folder.lock.new_run = (folder.record["run_id"], created)
    except BaseException:
        folder.release()
        raise
    return folder


def prepare_prediction_dir(output_dir: str | Path, *, model: str, is_main_process: bool = True) -> OutputFolder:
    """Make ``output_dir`` ready for the predictions of a ``do_train false`` run with ``model`` (a folder or a Hub
    id): on the main process, repair what a kill left (:func:`recover`), take the lock, and check what the folder
    holds. Empty, missing, or holding neither a run record nor a model: fine (other files are kept). The finished run
    of ``model`` itself: fine (the predictions go beside it; nothing of it is removed). Anything else, an unfinished
    run or another model, is a ConfigError: the predictions of one model must not land beside another's run. No
    record is written: a predicting run leaves the folder's run as it was."""
    shown = Path(output_dir)
    folder = OutputFolder(path=shown, is_main_process=is_main_process)
    if not is_main_process:
        return folder
    real = folder.real
    _restore_missing(real)
    created = not real.exists()
    real.mkdir(parents=True, exist_ok=True)
    folder.lock = acquire_lock(real, shown=shown)
    try:
        recover(real, lock=folder.lock)
        record = read_record(real)
        holds_model = (real / "config.json").exists()
        is_model = Path(model).exists() and os.path.realpath(model) == str(real)
        if record is not None and record.get("status") != "finished":
            what = f"an unfinished {record.get('recipe')} run"
            raise ConfigError(
                f"output_dir {shown} holds {what} ({record.get('status')}): "
                + (
                    "finish its training first (rerun it with --resume_from_checkpoint auto)"
                    if is_model
                    else "choose another --output_dir for the predictions"
                )
            )
        if (record is not None or holds_model) and not is_model:
            what = f"a finished run ({_describe(record)})" if record is not None else "a model (config.json)"
            raise ConfigError(
                f"output_dir {shown} holds {what}, not the model that predicts ({model}): choose another "
                f"--output_dir for its predictions (or --model_name_or_path {shown} to predict with that run)"
            )
        folder.record = record
        folder.lock.new_run = ("", created) if created else None  # a folder made for nothing goes when let go
    except BaseException:
        folder.release()
        raise
    return folder


def _claim(
    folder: OutputFolder,
    recipe: str,
    settings: dict[str, Any],
    *,
    overwrite: bool,
    resume: bool,
    push_repo: str | None,
) -> dict[str, Any]:
    """Decide what this run does with the folder (see the module's docstring); returns the record written."""
    real, shown = folder.real, folder.path
    record = read_record(real)
    if record is not None and record.get("status") == "removing":
        logger.info("Finishing the removal of the earlier run in %s, which was interrupted", shown)
        _wipe(real, record)
        record = None
    checkpoints = _checkpoints(real)
    fresh = new_record(recipe, settings)
    if record is None:
        if (real / "config.json").exists() and not (resume and checkpoints):
            if not overwrite:
                raise ConfigError(
                    f"output_dir {shown} holds a model (config.json) but no nlpkit run record ({RECORD_FILE}): pass "
                    "--overwrite_output_dir true to replace it, or choose another --output_dir"
                )
            _replace(real, None, shown, "overwrite_output_dir")
        elif overwrite and checkpoints and not resume:
            _replace(real, None, shown, "overwrite_output_dir")
        elif checkpoints:
            logger.info("%s holds checkpoints but no run record: they are taken for this run's", shown)
        write_record(real, fresh)
        return fresh
    state = record.get("status", "running")
    if record.get("recipe") != recipe:
        if not overwrite and (state == "finished" or checkpoints):
            raise ConfigError(
                f"output_dir {shown} holds a {state} run of another recipe ({_describe(record)}): pass "
                "--overwrite_output_dir true to replace it, or choose another --output_dir"
            )
        _replace(real, record, shown, "overwrite_output_dir" if overwrite else "it saved no checkpoint")
        write_record(real, fresh)
        return fresh
    changes = changed_settings(record.get("settings") or {}, settings)
    if not changes:
        if state == "finished" and not overwrite:
            raise RunFinished(_finished_message(shown, record, push_repo))
        if overwrite and (state == "finished" or not resume):
            _replace(real, record, shown, "overwrite_output_dir")
            write_record(real, fresh)
            return fresh
        continued = {**record, "status": "running", "finished": None}
        write_record(real, continued)
        return continued
    listed = _listed(changes)
    if overwrite:
        _replace(real, record, shown, "overwrite_output_dir")
    elif resume and checkpoints:
        logger.info("Continuing the %s run in %s with other settings: %s", state, shown, listed)
        continued = {**record, "settings": settings, "status": "running", "finished": None, "train_steps": None}
        write_record(real, continued)
        return continued
    elif state != "finished" and not checkpoints:
        _replace(real, record, shown, "it saved no checkpoint")
    elif checkpoints:
        raise ConfigError(
            f"output_dir {shown} already holds {checkpoints[-1].name} of a {state} {recipe} run with other settings "
            f"({listed}): pass --resume_from_checkpoint auto to continue that run with these settings, "
            "--overwrite_output_dir true to replace it, or choose another --output_dir"
        )
    else:
        raise ConfigError(
            f"output_dir {shown} holds a finished {recipe} run with other settings ({listed}) and no checkpoint to "
            "continue from: pass --overwrite_output_dir true to replace it, or choose another --output_dir"
        )
    write_record(real, fresh)
    return fresh


def _is_finished_run(record: Mapping[str, Any] | None, recipe: str, settings: Mapping[str, Any]) -> bool:
    return (
        record is not None
        and record.get("status") == "finished"
        and record.get("recipe") == recipe
        and not changed_settings(record.get("settings") or {}, settings)
    )


def _finished_message(shown: Path, record: Mapping[str, Any], push_repo: str | None) -> str:
    steps = f" after {record['train_steps']} steps" if record.get("train_steps") is not None else ""
    message = (
        f"output_dir {shown} already holds this {record.get('recipe')} run, finished {record.get('finished')}"
        f"{steps}: nothing to do (pass --overwrite_output_dir true to train it again, or choose another --output_dir)"
    )
    if push_repo:
        message += f"; to push it, run `nlpkit push {shown} {push_repo}`"
    return message


def _describe(record: Mapping[str, Any]) -> str:
    model = record.get("architectures") or record.get("model_type")
    model = ", ".join(model) if isinstance(model, list) else model
    return f"{record.get('recipe')}, {model}" if model else str(record.get("recipe"))


def _listed(changes: list[str], shown: int = 4) -> str:
    more = len(changes) - shown
    return "; ".join(changes[:shown]) + (f"; and {more} more" if more > 0 else "")


def _checkpoints(folder: Path) -> list[Path]:
    """The ``checkpoint-N`` folders of ``folder``, by step."""
    found = []
    for entry in folder.iterdir() if folder.is_dir() else ():
        suffix = entry.name[len(CHECKPOINT_PREFIX) :]
        if entry.name.startswith(CHECKPOINT_PREFIX) and suffix.isdigit() and entry.is_dir():
            found.append((int(suffix), entry))
    return [entry for _, entry in sorted(found)]


def _replace(real: Path, record: Mapping[str, Any] | None, shown: Path, why: str) -> None:
    logger.info("Removing the earlier run in %s (%s): %s", shown, why, _describe(record) if record else "no record")
    _wipe(real, record or {})


def _wipe(real: Path, record: Mapping[str, Any]) -> None:
    """Remove every entry of ``real`` but the lock; the record says ``removing`` until the end, so that a kill
    halfway leaves a folder that the next run empties (and never one that passes for the old run)."""
    write_record(real, {**record, "status": "removing"})
    for entry in list(real.iterdir()):
        if entry.name not in (LOCK_FILE, RECORD_FILE):
            _remove(entry)
    (real / RECORD_FILE).unlink(missing_ok=True)


# ---- Swapping the final save in, and repairing a kill ----


def recover(real: str | Path, *, lock: FolderLock | None = None) -> list[str]:
    """Repair what a kill during a final save left beside the folder ``real`` (locked by the caller); returns what
    was done, one line each (also logged). See the module's docstring for the cases."""
    real = Path(real)
    done: list[str] = []
    staging, replaced = _sibling(real, STAGING_SUFFIX), _sibling(real, REPLACED_SUFFIX)
    if staging.is_dir():
        ours, theirs = read_record(real), read_record(staging)
        ours_finished = ours is not None and ours.get("status") == "finished"
        staged_finished = theirs is not None and theirs.get("status") == "finished"
        if staged_finished and not ours_finished and ours is not None and theirs.get("run_id") == ours.get("run_id"):
            _publish(real, staging, lock)  # killed before the swap, once the staging folder was complete
            done.append(f"finished the final save of {real} that was interrupted")
        elif ours_finished:  # killed after the swap: the old folder, with the checkpoints
            _carry_over(staging, real)
            _remove(staging)
            done.append(f"moved what the old folder {staging.name} still held into {real}")
        else:
            _remove(staging)
            done.append(f"removed the incomplete final save {staging}")
    if replaced.is_dir():
        _carry_over(replaced, real)
        _remove(replaced)
        done.append(f"moved what the old folder {replaced.name} still held into {real}")
    for line in done:
        logger.info("Repaired %s: %s", real, line)
    return done


def _restore_missing(real: Path) -> None:
    """Before locking: a folder missing since a kill between the two renames of a swap is put back."""
    if real.exists():
        return
    staging, replaced = _sibling(real, STAGING_SUFFIX), _sibling(real, REPLACED_SUFFIX)
    staged = read_record(staging) if staging.is_dir() else None
    source = staging if staged is not None and staged.get("status") == "finished" else replaced
    if source.is_dir():
        try:
            os.rename(source, real)
        except OSError as error:  # another run got there first
            if error.errno not in (errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY):
                raise
        else:
            logger.info("Repaired %s: it was missing; put back from %s", real, source.name)


def _publish(real: Path, staging: Path, lock: FolderLock | None) -> None:
    """Swap the complete ``staging`` folder in for ``real``, then move the old folder's other entries across."""
    if _cannot_rename(real):
        logger.warning("%s cannot be swapped as a whole: moving its new files in one by one", real)
        _move_entries(staging, real, last=RECORD_FILE)
        staging.rmdir()
        fsync_directory(real)
        return
    if not real.exists():
        os.rename(staging, real)
        fsync_directory(real.parent)
        return
    _copy_folder_mode(real, staging)
    if lock is not None and lock.descriptor is not None and _same_file(real / LOCK_FILE, lock.descriptor):
        (staging / LOCK_FILE).unlink(missing_ok=True)
        try:
            os.link(real / LOCK_FILE, staging / LOCK_FILE)  # the same file: the lock holds on across the swap
        except OSError:
            pass
    if exchange_paths(staging, real):
        old = staging
    else:
        old = _sibling(real, REPLACED_SUFFIX)
        _remove(old)
        os.rename(real, old)
        os.rename(staging, real)  # until this returns, `real` is missing (see _restore_missing)
    fsync_directory(real.parent)
    _carry_over(old, real)
    fsync_directory(real)
    _remove(old)


def _carry_over(old: Path, new: Path) -> None:
    """Move into ``new`` the entries of ``old`` that ``new`` lacks (checkpoints, samples written while training...),
    but the lock and the record, which are ``new``'s own, and the old model's predictions (:data:`PREDICTIONS_FILE`),
    which would pass for the new model's."""
    for entry in list(old.iterdir()):
        if entry.name in (LOCK_FILE, RECORD_FILE, PREDICTIONS_FILE) or os.path.lexists(new / entry.name):
            continue
        os.rename(entry, new / entry.name)


def _move_entries(source: Path, destination: Path, *, last: str) -> None:
    """Move every entry of ``source`` into ``destination`` (replacing what is there), ``last`` at the end."""
    entries = sorted(source.iterdir(), key=lambda entry: entry.name == last)
    for entry in entries:
        if entry.name == LOCK_FILE:
            entry.unlink()
            continue
        target = destination / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)


def _cannot_rename(real: Path) -> bool:
    """Whether ``real`` cannot be renamed: a mount point, or a folder the current directory is in."""
    if real.exists() and os.path.ismount(real):
        return True
    try:
        cwd = Path(os.path.realpath(os.getcwd()))
    except OSError:
        return False
    return cwd == real or real in cwd.parents


def _copy_folder_mode(source: Path, destination: Path) -> None:
    """Give ``destination`` the permissions and group of ``source`` (a shared folder stays shared)."""
    try:
        info = os.stat(source)
        os.chmod(destination, stat.S_IMODE(info.st_mode))
        if os.stat(destination).st_gid != info.st_gid:
            os.chown(destination, -1, info.st_gid)
    except OSError:
        pass


def _model_fields(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {"model_type": config.get("model_type"), "architectures": config.get("architectures")}


def _sibling(real: Path, suffix: str) -> Path:
    return real.parent / f".{real.name}{suffix}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


__all__ = [
    "CHECKPOINT_PREFIX",
    "DISK_FULL_HINT",
    "LOCK_FILE",
    "NOT_DEFINING_KEYS",
    "PREDICTIONS_FILE",
    "RECORD_FILE",
    "FolderLock",
    "OutputFolder",
    "acquire_lock",
    "changed_settings",
    "lock_holder",
    "new_record",
    "prepare_output_dir",
    "prepare_prediction_dir",
    "read_record",
    "recipe_name",
    "recover",
    "release_all",
    "run_settings",
    "wants_resume",
    "write_record",
]
