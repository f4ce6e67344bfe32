"""Atomic file writes: a crash or a kill leaves either the old file or the new one, never half of one.

Also the file-system pieces of :mod:`nlpkit.output_folder`: swapping two folders in one step
(:func:`exchange_paths`), flushing a folder to disk (:func:`fsync_tree`), and :func:`disk_full_errors`, which turns a
write that failed on a full disk (or a used-up quota) into a one-line :class:`~nlpkit.errors.OutputError` naming the
file.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nlpkit.errors import OutputError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    path = Path(path)
    with disk_full_errors(file=path):  # a full disk: OutputError naming ``path``
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


# ---- Swapping folders ----

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
_renameat2: Any = None


def exchange_paths(first: str | Path, second: str | Path) -> bool:
    """Swap two existing paths (two folders) in one step, with Linux's ``renameat2(RENAME_EXCHANGE)``: every reader
    sees one or the other, never neither. Returns False, changing nothing, where the system or the file system cannot
    (not Linux, a libc without ``renameat2``, a file system without exchange: EINVAL); raises OSError otherwise."""
    global _renameat2
    if _renameat2 is None:
        try:
            function = ctypes.CDLL(None, use_errno=True).renameat2
        except (AttributeError, OSError):
            function = False
        else:
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            function.restype = ctypes.c_int
        _renameat2 = function
    if not _renameat2:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def fsync_directory(path: str | Path) -> None:
    """Flush a folder's entries (names created, renamed or removed in it) to disk; a no-op where that is refused."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno in DISK_FULL_ERRNOS:
            raise
    finally:
        os.close(descriptor)


def give_usual_modes(path: str | Path) -> None:
    """Give every file under ``path`` the mode any file the user writes gets (``0666 & ~umask``) and every folder
    ``0777 & ~umask``: some writers create theirs private (0600: ``mkstemp``, transformers' ``save_pretrained`` for
    ``model.safetensors``), which another user of a shared run folder could not read. Links are left alone."""
    file_mode, folder_mode = 0o666 & ~_UMASK, 0o777 & ~_UMASK
    os.chmod(path, folder_mode)
    for root, folders, files in os.walk(path):
        for name, mode in [*((name, folder_mode) for name in folders), *((name, file_mode) for name in files)]:
            entry = os.path.join(root, name)
            if not os.path.islink(entry):
                os.chmod(entry, mode)


def fsync_tree(path: str | Path) -> None:
    """Flush every file and folder under ``path`` to disk (before it is renamed into place)."""
    for root, _, files in os.walk(path):
        for name in files:
            file = os.path.join(root, name)
            if os.path.islink(file):
                continue
            descriptor = os.open(file, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        fsync_directory(root)


# ---- A full disk ----

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# How a full disk reads in the errors of code that does not raise OSError: safetensors (Rust: "No space left on
# device (os error 28)", "StorageFull"), tokenizers, and torch's C++ writer, whose stream error names no cause at all.
_FULL_TEXTS = ("no space left on device", "os error 28", "storagefull")
_QUOTA_TEXTS = ("disk quota exceeded", "os error 122", "quotaexceeded")
_WRITE_FAILED_TEXTS = ("iostream error", "file write failed", "pytorchstreamwriter failed", "unexpected pos")
LOW_SPACE_BYTES = 64 * 2**20  # a torch write error with less free than this is taken for a full disk


@contextmanager
def disk_full_errors(
    *where: str | Path, file: str | Path | None = None, hint: str = "free some space, then run again"
) -> Iterator[None]:
    """Turn a write that fails on a full disk (ENOSPC) or a used-up quota (EDQUOT) into a one-line OutputError:

        cannot write out/checkpoint-500/optimizer.pt: the disk is full (0 B free); free some space, then run again

    The file named is, in order: ``file``, the file the error names, else the newest file in the folders ``where``
    (looking one level into the newest sub-folder: a checkpoint's file), else the first of ``where``. torch's C++
    writer reports a full disk as ``basic_ios::clear: iostream error``, ``file write failed`` or ``unexpected pos``;
    such an error counts as a full disk when the disk has under 64 MiB left. Anything else is raised unchanged."""
    try:
        yield
    except OutputError:
        raise
    except Exception as error:
        message = disk_full_message(error, where, file=file, hint=hint)
        if message is None:
            raise
        raise OutputError(message) from error


def disk_full_message(
    error: BaseException, where: tuple[str | Path, ...] = (), *, file: str | Path | None = None, hint: str = ""
) -> str | None:
    """The one-line message for ``error`` when it is a full disk or a used-up quota; None when it is not."""
    kind, named = None, None
    for link in _chain(error):
        text = str(link).lower()
        if isinstance(link, OSError) and link.errno in DISK_FULL_ERRNOS:
            kind = "quota" if link.errno == errno.EDQUOT else "full"
            named = link.filename
            break
        if any(part in text for part in _QUOTA_TEXTS):
            kind = "quota"
            break
        if any(part in text for part in _FULL_TEXTS):
            kind = "full"
            break
    paths = [Path(path) for path in where]
    file = Path(file) if file is not None else (Path(os.fsdecode(named)) if named else _newest_file(paths))
    free = _free_bytes(file or (paths[0] if paths else Path.cwd()))
    if kind is None:
        written = any(part in str(link).lower() for link in _chain(error) for part in _WRITE_FAILED_TEXTS)
        if not (written and free is not None and free < LOW_SPACE_BYTES):
            return None
        kind = "full"
    target = str(file) if file is not None else (str(paths[0]) if paths else "a file")
    left = f"{format_bytes(free)} free" if free is not None else "free space unknown"
    what = "the disk quota is used up" if kind == "quota" else "the disk is full"
    return f"cannot write {target}: {what} ({left}){'; ' + hint if hint else ''}"


def format_bytes(count: int) -> str:
    """``12.3 MiB``."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"  # not reached


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _newest_file(folders: list[Path]) -> Path | None:
    """The most recently modified file in ``folders``, looking one level into the newest sub-folder."""

    def newest(folder: Path) -> Path | None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return None
        entries.sort(key=lambda entry: entry.stat(follow_symlinks=False).st_mtime_ns, reverse=True)
        return Path(entries[0].path) if entries else None

    found: list[Path] = []
    for folder in folders:
        entry = newest(folder) if folder.is_dir() else None
        if entry is not None and entry.is_dir():
            entry = newest(entry) or entry
        if entry is not None:
            found.append(entry)
    try:
        return max(found, key=lambda path: path.stat().st_mtime_ns) if found else None
    except OSError:
        return found[0]


def _free_bytes(path: Path) -> int | None:
    """Free bytes on the disk of ``path`` (its nearest existing parent), as an unprivileged user sees them."""
    for candidate in (path, *path.absolute().parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None
