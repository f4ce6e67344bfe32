"""Crash-proof runs: complete checkpoints only, exact resume from any step, a checkpoint on SIGTERM/SIGINT, results
of the whole run, workers that end with their launcher.

- A checkpoint counts only when complete. nlpkit marks a checkpoint complete last (:data:`MARKER`, listing every file
  and its size, written once every rank has written its part); a folder without the marker (written before nlpkit
  marked checkpoints, or cut off right after the Trainer's last file) counts when its content checks out
  (:func:`checkpoint_problem`). Incomplete folders are moved aside into ``.incomplete-checkpoints/``; checkpoint
  rotation (``save_total_limit``) runs after the marker, over complete checkpoints only.
- The training samplers are seeded per epoch from the run's seed (:func:`epoch_seeded`): the order of an epoch does
  not depend on the global random state, so skipping the batches already trained replays the same epoch.
- SIGTERM or SIGINT while training saves a checkpoint at the current step; the run then exits with 128 + the signal
  number (:func:`exit_if_stopped`).
- :class:`RunTotals` keeps the loss sum and training time of every step in the checkpoints, so the results after a
  resume cover the whole run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import signal
import struct
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import RandomSampler, Sampler
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState, TrainerState
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from nlpkit.errors import ConfigError
from nlpkit.io import atomic_write_json, give_usual_modes

logger = logging.getLogger("nlpkit")

MARKER = "nlpkit_checkpoint.json"  # written last: {"global_step": N, "files": {relative path: size in bytes}}
TRANSFORMERS_SENTINEL = "checkpoint-is-incomplete.txt"  # transformers' JIT checkpoints, removed when done
SET_ASIDE = ".incomplete-checkpoints"  # hidden: never pushed, never seen by rotation or get_last_checkpoint
_CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
_TORCH_FILES = (".pt", ".pth", ".bin")  # torch.save writes zip archives: a cut-off one has no central directory


# ---- Completeness ----


def checkpoint_problem(folder: str | Path) -> str | None:
    """Why ``folder`` cannot be resumed from (``"trainer_state.json is missing"``), or None when it is complete.

    With nlpkit's marker, every file it lists must be there with its size. Without it (a checkpoint written before
    nlpkit marked them, or one cut off between the Trainer's last file and the marker), no file may be empty or cut
    short (JSON files parse, safetensors files are as long as their header says, torch files are whole zip archives),
    and the folder must hold model weights and a ``trainer_state.json``, which the Trainer writes after the weights,
    optimizer, scheduler and random states.
    """
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return "it is not a folder"
        if (folder / TRANSFORMERS_SENTINEL).exists():
            return f"its save was interrupted ({TRANSFORMERS_SENTINEL})"
        if (folder / MARKER).is_file():
            return _marked_problem(folder)
        return _content_problem(folder)
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"


def _marked_problem(folder: Path) -> str | None:
    try:
        files = json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError):
        return f"{MARKER} is unreadable"
    for name, size in sorted(files.items()):
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} of its {size} bytes"
    return None


def _content_problem(folder: Path) -> str | None:
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    if not files:
        return "it is empty"
    for path in files:
        name = path.relative_to(folder).as_posix()
        if path.stat().st_size == 0:
            return f"{name} is empty"
        if path.suffix == ".json" and not _parses(path):
            return f"{name} is cut short"
        if path.suffix == ".safetensors" and not _whole_safetensors(path):
            return f"{name} is cut short"
        if path.suffix in _TORCH_FILES and not zipfile.is_zipfile(path):
            return f"{name} is cut short"
    if not (folder / "trainer_state.json").is_file():
        return "trainer_state.json is missing"
    if not any(_is_weights(path.relative_to(folder)) for path in files):
        return "it holds no model weights (model.safetensors)"
    return None


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except ValueError:
        return False
    return True


def _whole_safetensors(path: Path) -> bool:
    """Whether the file is as long as its header says (8-byte header length, JSON header, then the tensor data)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            return False
        header_length = struct.unpack("<Q", prefix)[0]
        if 8 + header_length > size:
            return False
        try:
            header = json.loads(handle.read(header_length))
        except ValueError:
            return False
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    return 8 + header_length + max(ends, default=0) == size


def _is_weights(relative: Path) -> bool:
    top = relative.parts[0]
    if top.startswith(("global_step", "pytorch_model_fsdp")):  # DeepSpeed and FSDP sharded checkpoints
        return True
    return "model" in relative.name and relative.suffix in (".safetensors", ".bin")


def mark_complete(folder: str | Path, global_step: int) -> None:
    """Give the files of ``folder`` the usual permissions, flush them to disk, then write the marker that lists them
    (atomically, last)."""
    folder = Path(folder)
    give_usual_modes(folder)  # save_pretrained writes model.safetensors 0600
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in (MARKER, TRANSFORMERS_SENTINEL):
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            files[path.relative_to(folder).as_posix()] = path.stat().st_size
    atomic_write_json(folder / MARKER, {"global_step": global_step, "files": files})


def checkpoint_folders(output_dir: str | Path) -> list[Path]:
    """The ``checkpoint-N`` folders of ``output_dir``, oldest step first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [path for path in output_dir.iterdir() if _CHECKPOINT_NAME.match(path.name) and path.is_dir()]
    return sorted(found, key=checkpoint_step)


def checkpoint_step(folder: str | Path) -> int:
    return int(_CHECKPOINT_NAME.match(Path(folder).name).group(1))


def set_aside(folder: Path, problem: str) -> Path:
    """Move an incomplete checkpoint into ``output_dir/.incomplete-checkpoints/`` (replacing an older copy there)."""
    target = folder.parent / SET_ASIDE / folder.name
    target.parent.mkdir(exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    os.replace(folder, target)
    logger.warning("Skipped incomplete %s (%s): moved to %s", folder.name, problem, target)
    return target


def choose_checkpoint(output_dir: Path, resume: str | None, *, tidy: bool) -> str | None:
    """The checkpoint a run resumes from: ``resume`` is None, ``"auto"`` (the newest complete checkpoint of
    ``output_dir``) or a checkpoint folder. ``tidy`` (the process that saves): move the incomplete checkpoints of
    ``output_dir`` aside. Raises ConfigError for an explicit checkpoint that is incomplete, and, without ``resume``,
    for an ``output_dir`` that holds a complete checkpoint (it would be overwritten)."""
    if resume not in (None, "auto"):
        if not Path(resume).is_dir():
            raise ConfigError(f"resume_from_checkpoint: no checkpoint folder at {resume}")
        problem = checkpoint_problem(resume)
        if problem:
            raise ConfigError(
                f"resume_from_checkpoint: {resume} is incomplete ({problem}): pass an earlier checkpoint, or "
                "--resume_from_checkpoint auto for the newest complete one"
            )
    folders = checkpoint_folders(output_dir)
    complete = []
    for folder in folders:
        problem = checkpoint_problem(folder)
        if problem is None:
            complete.append(folder)
        elif tidy:
            set_aside(folder, problem)
    last = str(complete[-1]) if complete else None
    if resume == "auto":
        if last:
            logger.info("Resuming from %s", last)
        elif folders:
            logger.warning("No complete checkpoint in %s: starting from scratch", output_dir)
        else:
            logger.info("No checkpoint in %s: starting from scratch", output_dir)
        return last
    if resume is None and last is not None:
        raise ConfigError(
            f"output_dir {output_dir} already holds {Path(last).name}: pass --resume_from_checkpoint auto to "
            "continue that run, or choose another --output_dir"
        )
    return resume


def rotate_checkpoints(output_dir: Path, limit: int | None, keep: list[str | Path | None]) -> None:
    """Delete the oldest complete checkpoints beyond ``limit``, never one of ``keep`` (the newest and the best);
    incomplete folders are not counted and not touched."""
    if not limit or limit <= 0:
        return
    kept = {Path(path).resolve() for path in keep if path}
    complete = [folder for folder in checkpoint_folders(output_dir) if checkpoint_problem(folder) is None]
    excess = len(complete) - max(limit, len(kept))
    for folder in complete:
        if excess <= 0:
            break
        if folder.resolve() not in kept:
            logger.info("Deleting older checkpoint %s (save_total_limit %d)", folder, limit)
            shutil.rmtree(folder, ignore_errors=True)
            excess -= 1


# ---- Samplers seeded per epoch ----


class EpochSeededRandomSampler(Sampler[int]):
    """A random permutation per epoch from ``seed + epoch`` (the order accelerate's SeedableRandomSampler gives for
    the same seed); ``set_epoch`` is called by accelerate's DataLoaderShard and the Trainer at each epoch."""

    def __init__(self, length: int, seed: int) -> None:
        self.length = length
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """transformers' LengthGroupedSampler (random mega-batches sorted by length) shuffled from ``seed + epoch``
    instead of the global random state."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


def epoch_seeded(sampler: Sampler | None, seed: int) -> Sampler | None:
    """The Trainer's training sampler, seeded per epoch from ``seed`` (random and length-grouped samplers; any
    other sampler is returned as it is)."""
    if type(sampler) is LengthGroupedSampler:
        return EpochSeededLengthGroupedSampler(sampler.batch_size, sampler.lengths, seed)
    if type(sampler) is RandomSampler and not sampler.replacement and sampler._num_samples is None:
        return EpochSeededRandomSampler(len(sampler.data_source), seed)
    return sampler


# ---- Signals ----


class StopSignals:
    """SIGTERM and SIGINT while training. The first asks for a checkpoint at the end of the current step and the end
    of training; a second SIGINT (Ctrl-C again) stops at once. Further SIGTERMs are ignored: a launcher forwarding the
    one a scheduler also sent must not cut the checkpoint short (schedulers follow up with SIGKILL anyway)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # handlers can only be set from the main thread
            return
        for signum in self.SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:  # e.g. SIGINT of a background job stays ignored
                self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signum
            again = " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else ""
            logger.warning("%s received: saving a checkpoint after this step%s", signal.Signals(signum).name, again)
        elif signum == signal.SIGINT:
            signal.signal(signum, self._previous.get(signum, signal.default_int_handler))
            raise KeyboardInterrupt


def agreed_signal(received: int | None, args: Any) -> int:
    """The signal number any rank received (0: none), the same on every rank so that all stop at one step."""
    signum = received or 0
    if _distributed(args):
        flag = torch.tensor([signum], dtype=torch.int64, device=args.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        signum = int(flag.item())
    return signum


def exit_if_stopped(trainer: Any) -> None:
    """After ``trainer.train()``: when a signal stopped training, say so in one line (main process) and exit with
    128 + the signal number, without writing the final outputs."""
    signum = getattr(trainer, "stopped_by_signal", None)
    if not signum:
        return
    if signum == signal.SIGTERM and threading.current_thread() is threading.main_thread():
        signal.signal(signum, signal.SIG_IGN)  # exiting with 143 now: a second one must not cut the last line short
    if trainer.is_world_process_zero():
        name, step = signal.Signals(signum).name, trainer.state.global_step
        folder = Path(trainer.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}"
        print(f"stopped by {name} at step {step}: {folder} saved; rerun the same command to continue", file=sys.stderr)
    sys.stdout.flush()
    raise SystemExit(128 + signum)


class OrphanSafeStream:
    """A text stream (``sys.stderr``) that, when its pipe breaks, goes on writing to stdout (or /dev/null).

    ``accelerate launch`` (1.16+) reads its worker's stderr through a pipe, to keep the tail for its error message;
    once the launcher is killed, every write there raises BrokenPipeError, and the worker would crash mid-step (a
    progress bar's redraw) instead of saving. Its stdout is still the launcher's own (the terminal, a log file), so
    the file descriptor is pointed there and the write is repeated.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._reroute()
            return self._stream.write(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reroute()
            self._stream.flush()

    def _reroute(self) -> None:
        try:
            target = os.dup(sys.__stdout__.fileno())
        except (AttributeError, OSError, ValueError):
            target = os.open(os.devnull, os.O_WRONLY)
        os.dup2(target, self._stream.fileno())
        os.close(target)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def end_with_launcher(poll_seconds: float = 0.5) -> None:
    """Under a launcher (``accelerate launch``, ``torchrun``), send this worker SIGTERM once its parent, the launcher,
    has died: a ``kill -9`` of the launcher then stops the workers (each saves a checkpoint) instead of leaving them
    running.

    A thread watches the parent process id rather than asking the kernel (``PR_SET_PDEATHSIG``): that signal comes
    once per exiting *thread* of the launcher, the first while its other threads still hold the pipes it reads, the
    later ones while this worker is already saving; the parent id changes once, after the whole launcher is gone.
    """
    launched = "TORCHELASTIC_RUN_ID" in os.environ or "ACCELERATE_MIXED_PRECISION" in os.environ
    if not launched:
        return
    if not isinstance(sys.stderr, OrphanSafeStream) and hasattr(sys.stderr, "fileno"):
        sys.stderr = OrphanSafeStream(sys.stderr)
    launcher = os.getppid()

    def watch() -> None:
        while os.getppid() == launcher:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="nlpkit-launcher-watch", daemon=True).start()


# ---- Whole-run results ----


def _distributed(args: Any) -> bool:
    return args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()


def saved_attributes(state: TrainerState, callback: Any) -> dict[str, Any] | None:
    """The attributes a checkpoint's trainer_state.json holds for ``callback`` (its ExportableState), or None when it
    holds none; then an entry is added (the Trainer would fail on the missing one at the next save)."""
    name = type(callback).__name__
    if name not in state.stateful_callbacks:
        state.stateful_callbacks[name] = callback.state()
        return None
    saved = state.stateful_callbacks[name]
    if isinstance(saved, list):
        saved = saved[0] if saved else None
    return saved.get("attributes") if isinstance(saved, dict) else None


class RunTotals(TrainerCallback, ExportableState):
    """The training loss summed over every optimizer step of the run, and the training time (wall and CPU) of the
    steps a checkpoint holds; saved in each checkpoint, so the figures after a resume are those of the whole run.

    The Trainer's mixin adds each micro-batch loss (:meth:`add`); at the end of each step the step's loss joins the sum
    in float64, in step order, averaged over the ranks: a resumed run adds exactly what an uninterrupted one adds.
    """

    def __init__(self) -> None:
        self.loss_sum = 0.0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.exact = True
        self._total: torch.Tensor | None = None  # the running sum, on the loss's device (no sync per step)
        self._pending: torch.Tensor | None = None  # this step's micro-batches
        self._began: tuple[float, float] | None = None
        self._steps = 0  # steps in the sum

    def state(self) -> dict[str, Any]:
        return {
            "args": {},
            "attributes": {
                "loss_sum": self.total_loss(),
                "seconds": self.total_seconds(),
                "cpu_seconds": self.total_cpu_seconds(),
                "exact": self.exact,
            },
        }

    def add(self, loss: torch.Tensor, *, micro_batches: int = 1, replace_non_finite: bool = True) -> None:
        """Add one micro-batch loss (its share of the step's loss, as ``training_step`` returns it). A NaN or inf
        counts as the mean step loss so far, over ``micro_batches``, as the Trainer's ``logging_nan_inf_filter``
        does."""
        loss = loss.detach().to(torch.float64)
        if replace_non_finite and not torch.isfinite(loss):
            mean = self.total_loss() / self._steps if self._steps else 0.0
            loss = torch.full_like(loss, mean / max(1, micro_batches))
        self._pending = loss if self._pending is None else self._pending + loss

    def on_train_begin(self, args, state, control, **kwargs):
        saved = saved_attributes(state, self)
        if state.global_step > 0 and saved and "loss_sum" in saved:
            self.loss_sum, self.seconds, self.cpu_seconds = saved["loss_sum"], saved["seconds"], saved["cpu_seconds"]
            self.exact = saved.get("exact", True)
        elif state.global_step > 0:  # a checkpoint written before nlpkit kept totals: estimate from the logs
            self.loss_sum = _loss_sum_from_logs(state.log_history, state.global_step)
            self.exact = False
        self._total = None
        self._steps = state.global_step
        self._began = (time.monotonic(), _cpu_seconds())

    def on_step_end(self, args, state, control, **kwargs):
        if self._pending is None:
            return
        step_loss, self._pending = self._pending, None
        if _distributed(args):
            torch.distributed.all_reduce(step_loss)
            step_loss = step_loss / args.world_size
        if self._total is None:
            self._total = torch.tensor(self.loss_sum, dtype=torch.float64, device=step_loss.device)
        self._total += step_loss
        self._steps += 1

    def total_loss(self) -> float:
        return self.loss_sum if self._total is None else float(self._total.item())

    def total_seconds(self) -> float:
        return self.seconds + (time.monotonic() - self._began[0] if self._began else 0.0)

    def total_cpu_seconds(self) -> float:
        return self.cpu_seconds + (_cpu_seconds() - self._began[1] if self._began else 0.0)

    def mean_loss(self, steps: int) -> float:
        return self.total_loss() / steps if steps else math.nan


def _cpu_seconds() -> float:
    """This process's CPU time over its torch threads (what one thread would have taken)."""
    return time.process_time() / max(1, torch.get_num_threads())


def _loss_sum_from_logs(log_history: list[dict[str, Any]], step: int) -> float:
    """The loss sum of the first ``step`` steps from the logged means (each over the steps since the last log)."""
    total, last, logged = 0.0, 0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry and entry["step"] > last:
            total += entry["loss"] * (entry["step"] - last)
            logged += entry["step"] - last
            last = entry["step"]
    return total * step / logged if logged else 0.0


# ---- The Trainer ----


class ResumableTrainerMixin:
    """What a Trainer needs for crash-proof runs; :func:`resumable` puts it in front of a Trainer class.

    - the training sampler is seeded per epoch (:func:`epoch_seeded`);
    - each checkpoint is marked complete once every rank has written it, then rotated (``save_total_limit``) over
      complete checkpoints only;
    - a SIGTERM/SIGINT during ``train()`` saves a checkpoint at the current step and ends training
      (``stopped_by_signal`` holds the signal number);
    - each micro-batch loss goes to :class:`RunTotals` (when the trainer has one);
    - resumed from a checkpoint at the end of its plan (``max_steps`` mid-epoch), no step more is trained (the
      Trainer checks the plan only after a step);
    - the best checkpoint (``load_best_model_at_end``) is found in the output folder after a resume, kept by rotation,
      and neither loaded nor left alone in the folder after a stop by a signal.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.stop_signals = StopSignals()
        self.stopped_by_signal: int | None = None
        self._saved_step: int | None = None
        super().__init__(*args, **kwargs)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        with self.stop_signals.handling():
            return super().train(*args, **kwargs)

    def _get_train_sampler(self, train_dataset: Any = None) -> Sampler | None:
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return epoch_seeded(super()._get_train_sampler(train_dataset), seed)

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> torch.Tensor:
        loss = super().training_step(model, inputs, num_items_in_batch)
        totals = self.run_totals
        if totals is not None:
            totals.add(
                loss,
                micro_batches=self.current_gradient_accumulation_steps,
                replace_non_finite=self.args.logging_nan_inf_filter,
            )
        return loss

    @property
    def run_totals(self) -> RunTotals | None:
        # Looked up each time: restore_callback_states_from_checkpoint replaces callbacks by new instances.
        return next((cb for cb in self.callback_handler.callbacks if isinstance(cb, RunTotals)), None)

    def get_batch_samples(self, epoch_iterator: Any, num_batches: int, device: Any) -> tuple[list, Any]:
        if self.state.global_step >= self.state.max_steps:  # resumed at the end of the plan: nothing left to train
            self.control.should_training_stop = True
            return [], None
        return super().get_batch_samples(epoch_iterator, num_batches, device)

    def _maybe_log_save_evaluate(self, tr_loss: Any, grad_norm: Any, model: Any, trial: Any, *args, **kwargs) -> None:
        if self.stopped_by_signal:  # the epoch end after a stop: the step is saved, the run ends
            self.control.should_save = self.control.should_evaluate = False
        super()._maybe_log_save_evaluate(tr_loss, grad_norm, model, trial, *args, **kwargs)
        if self.stopped_by_signal:
            return
        signum = agreed_signal(self.stop_signals.received, self.args)
        if signum:
            self.stopped_by_signal = signum
            self.control.should_training_stop = True
            if self._saved_step != self.state.global_step:
                self._save_checkpoint(model, trial)
                self.control = self.callback_handler.on_save(self.args, self.state, self.control)

    def _init_training_state(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
        trained = super()._init_training_state(*args, **kwargs)
        self._find_best_checkpoint()
        return trained

    def _find_best_checkpoint(self) -> None:
        """Resumed: the best checkpoint is ``checkpoint-<best step>`` of this run's output folder. The path the
        checkpoint recorded may be another one (a relative output_dir resumed from elsewhere, a moved folder): the
        Trainer then drops it, and would neither keep that checkpoint from rotation nor load it at the end."""
        step = self.state.best_global_step
        if not step:
            return
        folder = Path(self.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}"
        if checkpoint_problem(folder) is None:
            if self.state.best_model_checkpoint != str(folder):
                logger.info("The best checkpoint so far is %s (step %d)", folder, step)
            self.state.best_model_checkpoint = str(folder)

    def _finalize_training(self, *args: Any, **kwargs: Any) -> Any:
        if not self.stopped_by_signal:
            return super()._finalize_training(*args, **kwargs)
        # Stopped by a signal, the run goes on later from its newest checkpoint: the best model is not loaded, and
        # the newest checkpoint is not deleted (with save_total_limit 1 the Trainer keeps only the best at the end).
        settings = self.args.load_best_model_at_end, self.args.save_total_limit
        self.args.load_best_model_at_end, self.args.save_total_limit = False, None
        try:
            return super()._finalize_training(*args, **kwargs)
        finally:
            self.args.load_best_model_at_end, self.args.save_total_limit = settings

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        if self.args.should_save:
            (folder / MARKER).unlink(missing_ok=True)  # saved again (an epoch end at the last step): not complete
        limit, self.args.save_total_limit = self.args.save_total_limit, None  # rotation waits for the marker
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        self.accelerator.wait_for_everyone()  # every rank's files (random states) are written
        self._saved_step = self.state.global_step
        if self.args.should_save:
            mark_complete(folder, self.state.global_step)
            rotate_checkpoints(folder.parent, limit, keep=[folder, self.state.best_model_checkpoint])


def resumable(trainer_class: type) -> type:
    """``trainer_class`` with :class:`ResumableTrainerMixin` in front (the same name; itself if it has it)."""
    if issubclass(trainer_class, ResumableTrainerMixin):
        return trainer_class
    namespace = {"__module__": trainer_class.__module__, "__qualname__": trainer_class.__qualname__}
    return type(trainer_class.__name__, (ResumableTrainerMixin, trainer_class), namespace)
