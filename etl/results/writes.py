"""Writing the user's files without ever leaving half of one: a temp file beside the target,
then a rename, with Ctrl-C and SIGTERM held for the moment it takes; the user's umask for the
mode; temp files a killed run left behind removed; output folders checked before any request;
one line naming the file and the fix when the OS refuses; the attribution file the sources ask
for. The load stage decides what to write, this module only how (the CLI's reports use it too).

No writer threads: creating a file costs 0.15-0.9 ms of kernel time here, but a writer thread
beside the CPU-bound load waited for the GIL after every syscall and saved nothing (measured with
``benchmarks/run.py``'s 1,000-model store: load 1.2-1.6 s either way, 40% more CPU with threads).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..declared.files import echo
from ..declared.mappings import Mappings

ATTRIBUTION_FILE = "ATTRIBUTION.md"
ATTRIBUTION_STEM = Path(ATTRIBUTION_FILE).stem

#: a temp file of write_atomic older than this is a killed run's: every write renames it at once
STALE_TEMP_SECONDS = 60
#: what write_atomic's temp file adds to a target's stem: '.', '.', mkstemp's 8 characters, '.tmp'
_TEMP_EXTRA = len("..") + 8 + len(".tmp")
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: files get the mode the user's umask gives, not mkstemp's 0600


def check_folder(folder: Path, targets: list[tuple[str, Path]], backups: bool) -> list[str]:
    """One line if the output folder cannot be made or written, else one per name too long
    (``targets``: each model's name and file).
    Folders made for the check are removed again: a run that fails later leaves nothing."""
    fix = "choose another --output-dir (or output_dir in the config)"
    made = [p for p in (folder, *folder.parents) if not p.exists() and not p.is_symlink()]  # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".etl-check.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
        limit = _name_max(folder)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        return [f"{folder}: {blocker} is a file, not a folder; {fix}"]
    except OSError as exc:
        return [f"{folder}: cannot write in the output folder ({exc.strerror}); make it writable, or {fix}"]
    finally:
        for path in made:
            try:
                path.rmdir()
            except OSError:
                break
    problems = []
    for model, target in targets:
        # the longest name a save writes: the temp file beside the target (in place: the backup's)
        longest = target.name if backups else target.stem  # the backup's temp file: '.<name>.XXXXXXXX.tmp'
        size = len(longest.encode("utf-8", "surrogateescape")) + _TEMP_EXTRA
        if size > limit:
            over = size - limit
            problems.append(
                f"{folder}: model {echo(model, 80)}: its file name is too long for this filesystem "
                f"(its temp file needs {size} bytes, the limit is {limit}); shorten the name by {over} byte(s) "
                "or more (in UTF-8 an accented or CJK character takes 2-3)"
            )
    return problems


def _name_max(folder: Path) -> int:
    """The longest file name (in bytes) the folder's filesystem takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):  # not every platform says
        return 255


def remove_stale_temps(folder: Path, stems: list[str]) -> int:
    """Delete write_atomic's temp files (``.<stem>.XXXXXXXX.tmp``) that a killed run left, if
    older than STALE_TEMP_SECONDS (a live run renames its own at once); returns how many."""
    wanted = set(stems)
    cutoff = time.time() - STALE_TEMP_SECONDS
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(".tmp")) or name[1:-13] not in wanted:
            continue
        if name[-13] != "." or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


#: errno -> the fix for a model file that cannot be written
_WRITE_FIXES = {
    errno.ENOSPC: "free some disk space (or choose another --output-dir) and re-run",
    getattr(errno, "EDQUOT", -1): "free some of your disk quota (or choose another --output-dir) and re-run",
    errno.EPERM: "the file is immutable or protected (`lsattr` shows it; `chattr -i` clears it): allow writing and re-run",
    errno.EACCES: "make the file and its folder writable and re-run, or choose another --output-dir",
    errno.EROFS: "the filesystem is read-only: choose another --output-dir, or remount it writable, and re-run",
}


def write_problem(target: Path, exc: OSError, what: str = "the model file") -> str:
    """One line for a file that cannot be written: the file, what the OS said, the fix. Nothing
    was truncated (writes go to a temp file first): the previous file is intact."""
    fix = _WRITE_FIXES.get(exc.errno or 0, "fix the cause and re-run")
    return f"{target}: cannot write {what} ({exc.strerror or exc}); the previous file is unchanged; {fix}"


def write_atomic(target: Path, text: str | bytes, mode: int | None = None) -> None:
    """Write a temp file beside the target, then rename it over the target. Ctrl-C and SIGTERM
    are held for the few microseconds this takes, so an interrupt lands before or after it:
    the target is old or new, and no temp file is left behind."""
    with _signals_held():
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
        try:
            os.chmod(tmp, 0o666 & ~_UMASK if mode is None else mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Block SIGINT/SIGTERM in this thread (delivered on exit). Only the main thread receives them."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def write_attribution(path: Path, mappings: Mappings, used: set[str]) -> Path:
    """ATTRIBUTION.md: the sources used and what each asks for (not rewritten when unchanged)."""
    lines = [
        "# Data sources",
        "",
        "The values in these files come from the sources below; each asks for this attribution.",
        "",
    ]
    lines += [
        f"- **{name}**: {mappings.sources[name].attribution or mappings.sources[name].url}" for name in sorted(used)
    ]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.is_file() and path.read_text(encoding="utf-8", errors="replace") == text):
        write_atomic(path, text)
    return path
