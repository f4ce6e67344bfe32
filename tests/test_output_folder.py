"""One output folder, one run (nlpkit.output_folder): the lock, the run record and its rules, the final save that
swaps the whole folder in, the repair of a kill at every point of it, and the one-line error of a full disk.

Real files and real processes: the lock is held and crashed by child processes, and the kills during a final save
are real SIGKILLs of a child at the point under test.
"""

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nlpkit import io as nlpkit_io
from nlpkit import output_folder
from nlpkit.cli import recipe_main
from nlpkit.errors import USER_ERRORS, ConfigError, OutputError, RunFinished
from nlpkit.io import atomic_write_text, disk_full_errors, exchange_paths
from nlpkit.output_folder import (
    LOCK_FILE,
    RECORD_FILE,
    lock_holder,
    prepare_output_dir,
    read_record,
    recipe_name,
    run_settings,
    wants_resume,
)
from tests.helpers import REPO_ROOT

SETTINGS = {"num_train_epochs": 1, "learning_rate": 0.001, "output_dir": "ignored", "logging_steps": 5}


@pytest.fixture(autouse=True)
def _release_locks():
    yield
    output_folder.release_all()  # each test starts with this process holding no lock


def prepare(path, recipe="lstm_sentiment", settings=SETTINGS, **options):
    return prepare_output_dir(path, recipe=recipe, settings=settings, **options)


def save(folder, *, model_type="lstm_classifier", files=None, steps=4):
    """A final save as save_outputs makes it: every final file into the staging folder, then the commit."""
    staging = folder.begin_final_save()
    staging.mkdir()
    files = files or {"model.safetensors": "weights", "README.md": "card", "modeling_lstm_classifier.py": "code"}
    (staging / "config.json").write_text(json.dumps({"model_type": model_type, "architectures": ["Model"]}))
    for name, text in files.items():
        (staging / name).write_text(text)
    folder.commit_final_save(train_steps=steps)


def checkpoint(path, step):
    (path / f"checkpoint-{step}").mkdir(parents=True)
    (path / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))


def finished_run(path, **options):
    folder = prepare(path, **options)
    checkpoint(path, 2)
    checkpoint(path, 4)
    save(folder)
    folder.release()
    return folder


def listing(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*"))


def siblings(path):
    """The staging and old folders beside ``path`` (``.NAME.saving``, ``.NAME.replaced``)."""
    return sorted(p.name for p in Path(path).parent.glob(f".{Path(path).name}.*"))


# ---- Child processes ----

# The child is a script named `nlpkit`, so that `import nlpkit` skips registering the models (see nlpkit/__init__.py):
# it starts in a tenth of a second instead of seconds.
CHILD = """
import json, os, signal, sys, time
from pathlib import Path

from nlpkit import io, output_folder

path, mode = sys.argv[1], sys.argv[2]
settings = {"num_train_epochs": 1, "learning_rate": 0.001}

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

folder = output_folder.prepare_output_dir(path, recipe="lstm_sentiment", settings=settings, resume=True)
if mode == "hold":
    print("locked", flush=True)
    time.sleep(600)
if mode == "exit":
    sys.exit(3)
for step in (2, 4):
    (Path(path) / f"checkpoint-{step}").mkdir(exist_ok=True)
(Path(path) / "samples.jsonl").write_text("{}\\n")
staging = folder.begin_final_save()
staging.mkdir()
(staging / "config.json").write_text(json.dumps({"model_type": "lstm_classifier", "architectures": ["Model"]}))
(staging / "model.safetensors").write_text("new weights")
if mode == "kill_while_staging":
    die()
if mode == "kill_before_swap":
    output_folder.exchange_paths = die
if mode == "kill_after_swap":
    output_folder._carry_over = die
if mode == "kill_between_renames":
    output_folder.exchange_paths = lambda first, second: False
    renames = []
    real_rename = os.rename
    def rename(source, target):
        renames.append(source)
        if len(renames) == 2:
            die()
        real_rename(source, target)
    output_folder.os.rename = rename
folder.commit_final_save(train_steps=4)
print("committed", flush=True)
"""


def child(tmp_path, path, mode, **popen):
    script = tmp_path / "child" / "nlpkit"
    script.parent.mkdir(exist_ok=True)
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, str(script), str(path), mode]
    if popen:
        return subprocess.Popen(command, env=env, text=True, **popen)
    return subprocess.run(command, env=env, text=True, capture_output=True, timeout=60)


def holding_child(tmp_path, path):
    process = child(tmp_path, path, "hold", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().strip() == "locked", process.stderr.read()
    return process


# ---- The lock ----


def test_a_second_run_into_a_busy_folder_is_refused_naming_the_folder_and_pid(tmp_path):
    out = tmp_path / "out"
    holder = holding_child(tmp_path, out)
    try:
        with pytest.raises(ConfigError) as error:
            prepare(out)
        message = str(error.value)
        assert message.startswith(f"output_dir {out} is in use by another run (pid {holder.pid} on ")
        assert message.endswith(": wait for it to end, or choose another --output_dir")
        assert "\n" not in message
        assert read_record(out)["status"] == "running"  # the holder's record is untouched
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_crashed_run_is_taken_over_with_a_log_line(tmp_path, caplog):
    out = tmp_path / "out"
    holder = holding_child(tmp_path, out)
    holder.kill()  # SIGKILL: no clean-up, the lock file stays with the dead pid in it
    holder.wait()
    assert lock_holder(out)["pid"] == holder.pid

    with caplog.at_level(logging.INFO, logger="nlpkit"):
        folder = prepare(out)

    assert f"Took over the lock of {out} left by pid {holder.pid}" in caplog.text
    assert lock_holder(out)["pid"] == os.getpid()
    folder.release()
    assert not (out / LOCK_FILE).exists()


def test_a_lock_is_released_when_its_process_ends_and_held_again_by_the_same_process(tmp_path):
    out = tmp_path / "out"
    first = prepare(out)
    assert prepare(out).lock is first.lock  # a second start_run in one process (tests, notebooks) is no rival
    first.release()
    assert not (out / LOCK_FILE).exists()
    done = child(tmp_path, out, "commit")  # a process that ends normally removes its lock (atexit)
    assert done.returncode == 0, done.stderr
    assert not (out / LOCK_FILE).exists()


def test_without_flock_a_lock_whose_pid_is_gone_is_taken_over(tmp_path, monkeypatch):
    def no_flock(descriptor, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(output_folder.fcntl, "flock", no_flock)
    out = tmp_path / "out"
    out.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = output_folder.socket.gethostname()
    (out / LOCK_FILE).write_text(json.dumps({"pid": int(gone.stdout), "host": host, "since": "then"}))
    assert prepare(out).lock.flocked is False
    output_folder.release_all()

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_FILE).write_text(json.dumps({"pid": alive.pid, "host": host, "since": "then"}))
        with pytest.raises(ConfigError, match=f"in use by another run \\(pid {alive.pid} on "):
            prepare(out)
    finally:
        alive.kill()
        alive.wait()


def test_other_ranks_neither_lock_nor_write(tmp_path):
    out = tmp_path / "out"
    folder = prepare(out, is_main_process=False)
    assert folder.lock is None and not out.exists()
    assert folder.begin_final_save() == folder.staging and not folder.staging.exists()
    folder.commit_final_save()  # nothing to do on a rank other than 0
    assert not out.exists()


# ---- The run record and its rules ----


def test_a_new_run_records_its_recipe_and_defining_settings(tmp_path):
    out = tmp_path / "new" / "out"
    prepare(out, settings={**SETTINGS, "hub_model_id": "me/x", "push_to_hub": True, "lr_scheduler_type": Path("x")})
    record = read_record(out)
    assert record["recipe"] == "lstm_sentiment" and record["status"] == "running"
    assert record["settings"] == {"learning_rate": 0.001, "lr_scheduler_type": "x", "num_train_epochs": 1}
    assert len(record["run_id"]) == 32 and record["model_type"] is None
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, RECORD_FILE]


def test_a_run_stopped_before_any_work_leaves_no_trace(tmp_path):
    out = tmp_path / "deep" / "out"
    prepare(out).release()  # e.g. a bad data file: the recipe stops before training
    assert not out.exists() and (tmp_path / "deep").is_dir()
    kept = tmp_path / "kept"
    kept.mkdir()
    prepare(kept).release()
    assert kept.is_dir() and list(kept.iterdir()) == []
    failed = child(tmp_path, tmp_path / "failed", "exit")  # a process that ends with an error: the same, at exit
    assert failed.returncode == 3 and not (tmp_path / "failed").exists()


def test_a_finished_run_rerun_says_so_and_changes_nothing(tmp_path):
    out = tmp_path / "out"
    finished_run(out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    record = read_record(out)
    assert record["status"] == "finished" and record["train_steps"] == 4
    assert record["model_type"] == "lstm_classifier" and record["architectures"] == ["Model"]

    # Keys that only say where to log or push are not the run's: still the same run.
    rerun = {**SETTINGS, "logging_steps": 50, "output_dir": "elsewhere", "hub_model_id": "me/model"}
    with pytest.raises(RunFinished) as finished:
        prepare(out, settings=rerun, resume=True, push_repo="me/model")
    assert str(finished.value) == (
        f"output_dir {out} already holds this lstm_sentiment run, finished {record['finished']} after 4 steps: "
        "nothing to do (pass --overwrite_output_dir true to train it again, or choose another --output_dir); "
        f"to push it, run `nlpkit push {out} me/model`"
    )
    with pytest.raises(RunFinished):  # every rank stops
        prepare(out, settings=rerun, is_main_process=False)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert not (out / LOCK_FILE).exists()  # the refusal let go of the lock


def test_a_finished_run_with_changed_settings_continues_from_its_checkpoints_only_when_asked(tmp_path, caplog):
    out = tmp_path / "out"
    finished_run(out)
    longer = {**SETTINGS, "num_train_epochs": 3}
    with pytest.raises(ConfigError) as error:
        prepare(out, settings=longer)
    assert str(error.value) == (
        f"output_dir {out} already holds checkpoint-4 of a finished lstm_sentiment run with other settings "
        "(num_train_epochs: 1 -> 3): pass --resume_from_checkpoint auto to continue that run with these settings, "
        "--overwrite_output_dir true to replace it, or choose another --output_dir"
    )
    run_id = read_record(out)["run_id"]

    with caplog.at_level(logging.INFO, logger="nlpkit"):
        prepare(out, settings=longer, resume=True)

    assert "Continuing the finished run in" in caplog.text and "num_train_epochs: 1 -> 3" in caplog.text
    record = read_record(out)
    assert record["status"] == "running" and record["run_id"] == run_id
    assert record["settings"]["num_train_epochs"] == 3
    assert (out / "checkpoint-4").is_dir() and (out / "model.safetensors").is_file()


def test_a_finished_run_without_checkpoints_and_other_settings_is_refused(tmp_path):
    out = tmp_path / "out"
    folder = prepare(out)
    save(folder)
    folder.release()
    with pytest.raises(ConfigError, match="no checkpoint to continue from: pass --overwrite_output_dir true"):
        prepare(out, settings={**SETTINGS, "seed": 3}, resume=True)


def test_another_recipes_run_is_refused_and_an_overwrite_leaves_nothing_of_it(tmp_path):
    out = tmp_path / "out"
    finished_run(out)
    (out / "runs" / "deep").mkdir(parents=True)
    (out / "runs" / "deep" / "events").write_text("x")
    with pytest.raises(ConfigError) as error:
        prepare(out, recipe="text_generation")
    assert str(error.value) == (
        f"output_dir {out} holds a finished run of another recipe (lstm_sentiment, Model): pass "
        "--overwrite_output_dir true to replace it, or choose another --output_dir"
    )

    prepare(out, recipe="text_generation", overwrite=True)

    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, RECORD_FILE]
    assert read_record(out)["recipe"] == "text_generation" and read_record(out)["status"] == "running"


def test_an_unfinished_run_that_saved_no_checkpoint_is_replaced_without_asking(tmp_path):
    out = tmp_path / "out"
    prepare(out, recipe="ner")
    (out / "samples.jsonl").write_text("{}\n")
    output_folder.release_all()
    prepare(out, recipe="translation")
    assert read_record(out)["recipe"] == "translation" and not (out / "samples.jsonl").exists()


def test_an_unfinished_run_continues_and_overwrite_starts_it_over_only_without_resume(tmp_path):
    out = tmp_path / "out"
    first = prepare(out, resume=True)
    checkpoint(out, 2)
    output_folder.release_all()

    assert prepare(out, resume=True, overwrite=True).record["run_id"] == first.record["run_id"]
    assert (out / "checkpoint-2").is_dir()  # resume wins: a preempted run keeps its checkpoints
    output_folder.release_all()

    assert prepare(out, overwrite=True).record["run_id"] != first.record["run_id"]
    assert not (out / "checkpoint-2").exists()


def test_a_folder_without_a_record(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds a model \\(config.json\\) but no nlpkit run record"):
        prepare(model)
    prepare(model, overwrite=True)
    assert not (model / "config.json").exists()

    legacy = tmp_path / "legacy"  # checkpoints of an earlier nlpkit: resumed when asked
    checkpoint(legacy, 3)
    (legacy / "config.json").write_text("{}")
    prepare(legacy, resume=True)
    assert (legacy / "checkpoint-3").is_dir() and read_record(legacy)["status"] == "running"

    notes = tmp_path / "notes"  # other files are kept, and carried into the finished folder
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    folder = prepare(notes, overwrite=True)
    save(folder)
    assert (notes / "notes.txt").read_text() == "mine"


def test_an_overwrite_killed_halfway_is_finished_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    finished_run(out)
    record = read_record(out)
    output_folder.write_record(out, {**record, "status": "removing"})  # as a kill inside _wipe leaves it
    (out / "model.safetensors").unlink()
    prepare(out)  # the same settings: without the mark, this would pass for the finished run
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, RECORD_FILE]


# ---- The final save ----


def test_the_final_save_swaps_the_whole_folder_in_and_keeps_the_checkpoints(tmp_path):
    out = tmp_path / "out"
    folder = prepare(out, resume=True)
    checkpoint(out, 2)
    (out / "samples.jsonl").write_text("{}\n")
    lock_inode = os.stat(out / LOCK_FILE).st_ino

    save(folder)

    assert listing(out) == sorted([
        LOCK_FILE, RECORD_FILE, "README.md", "checkpoint-2", "checkpoint-2/trainer_state.json", "config.json",
        "model.safetensors", "modeling_lstm_classifier.py", "samples.jsonl",
    ])  # fmt: skip
    assert siblings(out) == []  # no staging or old folder left
    assert read_record(out)["status"] == "finished"
    assert os.stat(out / LOCK_FILE).st_ino == lock_inode  # the lock held on across the swap
    busy = child(tmp_path, out, "hold")
    assert busy.returncode == 1 and "is in use by another run (pid" in busy.stderr


def test_continuing_a_finished_run_replaces_its_final_files(tmp_path):
    out = tmp_path / "out"
    finished_run(out)
    folder = prepare(out, settings={**SETTINGS, "num_train_epochs": 2}, resume=True)
    checkpoint(out, 6)
    save(folder, files={"model.safetensors": "longer", "README.md": "card 2"}, steps=6)
    assert (out / "model.safetensors").read_text() == "longer" and (out / "README.md").read_text() == "card 2"
    assert [p.name for p in output_folder._checkpoints(out)] == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert read_record(out)["train_steps"] == 6


def test_the_final_save_without_an_exchange_takes_two_renames(tmp_path, monkeypatch):
    monkeypatch.setattr(output_folder, "exchange_paths", lambda first, second: False)
    out = tmp_path / "out"
    finished_run(out)
    assert (out / "checkpoint-4").is_dir() and (out / "model.safetensors").read_text() == "weights"
    assert siblings(out) == []


def test_a_folder_that_cannot_be_renamed_gets_its_files_one_by_one(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)  # renaming the current directory away would strand the process
    finished_run(out)
    assert (out / "checkpoint-4").is_dir() and read_record(out)["status"] == "finished"
    assert siblings(out) == []


def test_a_symlinked_output_dir_stays_a_link_to_its_folder(tmp_path):
    real, link = tmp_path / "disk" / "run", tmp_path / "out"
    real.mkdir(parents=True)
    link.symlink_to(real)
    finished_run(link)
    assert link.is_symlink() and (real / "model.safetensors").is_file() and (real / "checkpoint-4").is_dir()
    assert siblings(real) == []


def test_a_reader_sees_the_old_folder_or_the_new_one_never_a_mix(tmp_path):
    out = tmp_path / "out"
    folder = prepare(out)
    mixes, reads, stop = [], [0], threading.Event()

    def read_both():
        while not stop.is_set():
            try:
                directory = os.open(out, os.O_RDONLY | os.O_DIRECTORY)  # one folder, whatever its name points to
            except FileNotFoundError:
                mixes.append("missing")
                continue
            try:
                texts = []
                for name in ("model.safetensors", "README.md"):
                    with open(os.open(name, os.O_RDONLY, dir_fd=directory)) as handle:
                        texts.append(handle.read())
                reads[0] += 1
                if texts[0].split()[-1] != texts[1].split()[-1]:
                    mixes.append(texts)
            except FileNotFoundError:
                pass  # the old folder, emptied after the swap
            finally:
                os.close(directory)

    save(folder, files={"model.safetensors": "weights 0", "README.md": "card 0"})
    reader = threading.Thread(target=read_both)
    reader.start()
    try:
        for version in range(1, 40):
            save(folder, files={"model.safetensors": f"weights {version}", "README.md": f"card {version}"})
    finally:
        stop.set()
        reader.join()
    assert reads[0] > 0 and mixes == []


def test_exchange_paths_swaps_two_folders_on_this_machine(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "one").write_text("1")
    if not exchange_paths(first, second):
        pytest.skip("this file system cannot exchange two paths")
    assert (second / "one").exists() and not (first / "one").exists()
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):  # tmpfs too
        base = Path(os.path.join(shm, f"nlpkit-test-{os.getpid()}"))
        try:
            (base / "a").mkdir(parents=True)
            (base / "b").mkdir()
            assert exchange_paths(base / "a", base / "b")
        finally:
            shutil.rmtree(base)


# ---- A kill at every point of the final save, repaired by the next run ----


@pytest.mark.parametrize(
    ("mode", "finished"),
    [("kill_while_staging", False), ("kill_before_swap", True), ("kill_after_swap", True),
     ("kill_between_renames", True)],
)  # fmt: skip
def test_a_kill_during_the_final_save_is_repaired_by_the_next_run(tmp_path, mode, finished):
    out = tmp_path / "out"
    killed = child(tmp_path, out, mode)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert siblings(out) or not finished  # something to repair

    if finished:  # the staging folder was complete: the run is finished
        with pytest.raises(RunFinished):
            prepare(out, settings={"num_train_epochs": 1, "learning_rate": 0.001}, resume=True)
        assert read_record(out)["status"] == "finished"
        assert (out / "model.safetensors").read_text() == "new weights"
    else:
        folder = prepare(out, settings={"num_train_epochs": 1, "learning_rate": 0.001}, resume=True)
        assert folder.record["status"] == "running" and not (out / "model.safetensors").exists()
    assert (out / "checkpoint-2").is_dir() and (out / "checkpoint-4").is_dir() and (out / "samples.jsonl").is_file()
    assert siblings(out) == []


# ---- A full disk ----


def test_a_full_disk_is_one_line_naming_the_file_and_the_space_left(tmp_path):
    target = tmp_path / "out" / "model.safetensors"
    with pytest.raises(OutputError) as error:
        with disk_full_errors(tmp_path / "out"):
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
    free = nlpkit_io.format_bytes(shutil.disk_usage(tmp_path).free)
    assert str(error.value) == f"cannot write {target}: the disk is full ({free} free); free some space, then run again"
    assert OutputError in USER_ERRORS

    with pytest.raises(OutputError, match=f"cannot write {target}: the disk quota is used up"):
        with disk_full_errors(file=target, hint=""):
            raise OSError(errno.EDQUOT, "Disk quota exceeded")


def test_an_atomic_write_on_a_full_disk_names_its_file_and_leaves_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "all_results.json"
    path.write_text("old")

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nlpkit_io.os, "fsync", full)
    with pytest.raises(OutputError, match=f"^cannot write {path}: the disk is full \\("):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["all_results.json"]


def test_torch_and_safetensors_write_errors_on_a_full_disk(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "checkpoint-8").mkdir(parents=True)
    time.sleep(0.01)
    (out / "checkpoint-8" / "optimizer.pt").write_bytes(b"half")
    usage = shutil.disk_usage(tmp_path)

    monkeypatch.setattr(nlpkit_io.shutil, "disk_usage", lambda path: usage._replace(free=4096))
    with pytest.raises(OutputError) as error:
        with disk_full_errors(out):
            raise RuntimeError("basic_ios::clear: iostream error")
    assert str(error.value).startswith(f"cannot write {out / 'checkpoint-8' / 'optimizer.pt'}: the disk is full (4.0")

    with pytest.raises(OutputError, match="optimizer.pt: the disk is full"):  # what torch.save says on a full tmpfs
        with disk_full_errors(out):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(nlpkit_io.shutil, "disk_usage", lambda path: usage._replace(free=50 * 2**30))
    with pytest.raises(RuntimeError, match="iostream error"):  # plenty of space: not a full disk, left as it is
        with disk_full_errors(out):
            raise RuntimeError("basic_ios::clear: iostream error")
    with pytest.raises(OutputError, match="the disk is full"):  # safetensors says why
        with disk_full_errors(out):
            raise ValueError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No sp" })')
    with pytest.raises(PermissionError):
        with disk_full_errors(out):
            raise PermissionError(errno.EACCES, "Permission denied")


def test_a_recipe_on_a_full_disk_ends_with_one_line_and_status_2(tmp_path, capsys):
    folder = prepare(tmp_path / "out")

    def main():
        with folder.disk_full_errors():
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "checkpoint-2" / "x.pt"))

    with pytest.raises(SystemExit) as exit_:
        recipe_main(main)
    assert exit_.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"error: cannot write {tmp_path / 'out' / 'checkpoint-2' / 'x.pt'}: the disk is full")
    assert line.endswith("free some space, then rerun the same command (it continues from the last checkpoint)")


# ---- Helpers ----


def test_recipe_name_settings_and_resume():
    assert recipe_name(REPO_ROOT / "recipes" / "configs" / "ner" / "quickstart.yaml") == "ner"
    assert recipe_name(None) == Path(sys.argv[0]).stem
    assert run_settings({"seed": 1, "hub_private_repo": True, "dataloader_num_workers": 2, "use_cpu": 1}) == {"seed": 1}
    assert list(run_settings({"seed": 1, "logging_dir": "x", "report_to": ["none"]})) == ["seed"]
    assert [wants_resume(value) for value in ("auto", "out/checkpoint-2", None, "none", "", False, "False")] == [
        True, True, False, False, False, False, False,
    ]  # fmt: skip


# ---- End to end (needs the integration into nlpkit/training.py) ----

LSTM = REPO_ROOT / "recipes" / "lstm_sentiment.py"
TEXT_GENERATION = REPO_ROOT / "recipes" / "text_generation.py"
TINY = ["--max_train_samples", "32", "--max_eval_samples", "16", "--embedding_size", "8", "--hidden_size", "8",
        "--per_device_train_batch_size", "8", "--max_steps", "5", "--save_strategy", "steps", "--save_steps", "2",
        "--eval_strategy", "no", "--sample_texts", "ok"]  # fmt: skip


def recipe(script, *args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_recipes_one_folder_one_run(tmp_path):
    out = tmp_path / "out"
    first = recipe(LSTM, *TINY, "--output_dir", str(out))
    assert first.returncode == 0, first.stderr[-3000:]
    before = {str(p): p.stat().st_mtime_ns for p in out.rglob("*")}
    assert read_record(out)["status"] == "finished" and read_record(out)["train_steps"] == 5

    again = recipe(LSTM, *TINY, "--output_dir", str(out), "--resume_from_checkpoint", "auto")
    assert again.returncode == 0 and "nothing to do" in again.stderr.strip().splitlines()[-1]
    assert {str(p): p.stat().st_mtime_ns for p in out.rglob("*")} == before  # 5 steps: not a whole epoch

    other = recipe(TEXT_GENERATION, "--output_dir", str(out), "--max_steps", "2", "--block_size", "16")
    assert other.returncode == 2
    assert other.stderr.strip().splitlines()[-1].startswith(f"error: output_dir {out} holds a finished run of another")

    replaced = recipe(TEXT_GENERATION, "--output_dir", str(out), "--max_steps", "2", "--block_size", "16",
                      "--hidden_size", "16", "--num_hidden_layers", "1", "--num_attention_heads", "2",
                      "--save_strategy", "no", "--eval_strategy", "no", "--overwrite_output_dir", "true")  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert not list(out.glob("modeling_lstm_classifier.py")) and not list(out.glob("checkpoint-*"))
    assert read_record(out)["recipe"] == "text_generation"


def test_two_runs_into_one_folder_one_is_refused(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(LSTM), *TINY, "--max_steps", "100000", "--output_dir", str(out)]
    first = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while lock_holder(out) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        second = recipe(LSTM, *TINY, "--output_dir", str(out))
        assert second.returncode == 2
        assert second.stderr.strip().splitlines()[-1] == (
            f"error: output_dir {out} is in use by another run (pid {first.pid} on {lock_holder(out)['host']}, "
            f"since {lock_holder(out)['since']}): wait for it to end, or choose another --output_dir"
        )
    finally:
        first.kill()
        first.communicate()
