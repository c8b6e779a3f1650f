"""Trainer work folders (``.work-<name>`` beside a checkpoint): who owns one, and removing the stale ones.

A run writes its Trainer checkpoints (optimizer state included: about 1 GB for distilgpt2) to
``<models>/.work-<name>`` and removes the folder when it succeeds; a failed or interrupted run keeps it for
``--resume``. A run killed with ``kill -9`` (or a crashed bot) keeps it forever, so each run reports the
stale ones it finds and removes those older than ``stale_work_hours``.

A run marks its folder as in use with ``LOCK_FILE`` (pid, start time, host). A folder is in use while that
pid is alive, is a Python process and started no later than the lock was written (a pid reused by another
process does not count), or, when the lock is on another host, always. A folder without a lock counts as in
use for ``STARTUP_GRACE_S`` after its last write (a run between ``mkdir`` and writing its lock).

A killed run can also leave ``checkpoint.staged_dir``'s folders beside the checkpoint: ``.tmp-<name>-*``
(the checkpoint half written) and ``.old-<name>-*`` (the one it was replacing). They are in use while the
run's ``.work-<name>`` lock is, and stale like work folders otherwise.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WORK_PREFIX = ".work-"
LOCK_FILE = "run.lock.json"
# checkpoint.staged_dir's folders beside the checkpoint: ".tmp-<name>-<8 hex>" and ".old-<name>-<8 hex>".
STAGING_PREFIXES = (".tmp-", ".old-")
STAGING_NAME = re.compile(r"\.(?:tmp|old)-(?P<name>.+)-[0-9a-f]{8}")
# What only a qabot work folder holds: a ``.work-*`` folder with none of these is left alone.
MARKERS = (LOCK_FILE, "train_config.json", "trainer")
STARTUP_GRACE_S = 60.0
START_SLACK_S = 5.0  # clock granularity between a process's start time and the time it wrote its lock

# Set by a process that runs training as its child (the bot's retrain job) to its own pid: if that process
# dies (kill -9, a crash), the run stops too (``callbacks.ParentWatch``) instead of training on, unwatched,
# into a model nobody gates.
PARENT_ENV = "QABOT_TRAINER_PARENT"


@dataclass(frozen=True)
class WorkDir:
    """One ``.work-*`` folder: its size in bytes, seconds since anything in it was written, its owner."""

    path: Path
    size: int
    age_s: float
    pid: int | None
    in_use: bool
    removed: bool = False

    def describe(self) -> str:
        return f"{self.path} ({format_size(self.size)}, {format_age(self.age_s)} old)"


def format_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# -- the lock ------------------------------------------------------------------------------------------
def write_lock(work: Path) -> None:
    """Mark ``work`` as used by this process (call it as soon as the folder exists)."""
    lock = {"pid": os.getpid(), "started": time.time(), "host": socket.gethostname()}
    tmp = Path(work) / f".{LOCK_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(lock), encoding="utf-8")
    os.replace(tmp, Path(work) / LOCK_FILE)


def read_lock(work: Path) -> dict[str, Any] | None:
    try:
        lock = json.loads((Path(work) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return lock if isinstance(lock, dict) and isinstance(lock.get("pid"), int) else None


def release_lock(work: Path) -> None:
    """Drop this process's lock on ``work`` (the folder stays, for ``--resume``); another's is kept."""
    lock = read_lock(work)
    if lock is not None and lock["pid"] == os.getpid() and lock.get("host") == socket.gethostname():
        with contextlib.suppress(OSError):
            (Path(work) / LOCK_FILE).unlink()


def lock_in_use(lock: dict[str, Any]) -> bool:
    """Whether the process that wrote ``lock`` may still be running the run."""
    if lock.get("host", socket.gethostname()) != socket.gethostname():
        return True  # another machine's process (a shared disk): it cannot be checked from here
    pid = lock["pid"]
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return False
    if not _is_python(pid):
        return False
    started = _process_start(pid)
    lock_time = lock.get("started")
    return started is None or not isinstance(lock_time, int | float) or started <= lock_time + START_SLACK_S


def held_by_another_run(work: Path) -> int | None:
    """The pid of another live run whose lock is on ``work``, or None when this process may train there.

    This process's own lock does not count, nor, under torchrun (``WORLD_SIZE`` > 1), a sibling rank's (a
    process with the same parent): rank 0 writes the lock the other ranks then see."""
    lock = read_lock(work)
    if lock is None or not lock_in_use(lock):
        return None
    if lock.get("host", socket.gethostname()) == socket.gethostname():
        pid = lock["pid"]
        if pid == os.getpid():
            return None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and _parent_pid(pid) == os.getppid():
            return None
    return int(lock["pid"])


def _parent_pid(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def _is_python(pid: int) -> bool:
    """From ``/proc`` (Linux); where there is none, any live process counts as Python."""
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return True
    names: list[str] = []
    with contextlib.suppress(OSError):
        names.append((proc / "comm").read_text().strip())
    with contextlib.suppress(OSError, IndexError):
        argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0]
        names.append(os.path.basename(argv0.decode(errors="replace")))
    with contextlib.suppress(OSError):
        names.append(os.path.basename(os.readlink(proc / "exe")))
    return any("python" in name.lower() for name in names)


def _process_start(pid: int) -> float | None:
    """The process's start time (epoch seconds) from ``/proc``, or None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after "pid (comm)"
        lines = Path("/proc/stat").read_text().splitlines()
        btime = next(int(line.split()[1]) for line in lines if line.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


# -- finding and removing stale folders ----------------------------------------------------------------
def _size_and_newest(path: Path) -> tuple[int, float]:
    size, newest = 0, path.lstat().st_mtime
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(folder, name))
                newest = max(newest, st.st_mtime)
                if name in files:
                    size += st.st_size
    return size, newest


def scan(root: Path, prefix: str = "") -> list[WorkDir]:
    """The qabot work folders ``root/.work-<prefix>*``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    now = time.time()
    for path in root.glob(f"{WORK_PREFIX}{prefix}*"):
        if not path.is_dir() or path.is_symlink() or not any((path / m).exists() for m in MARKERS):
            continue
        if (entry := _entry(path, path, now)) is not None:
            found.append(entry)
    return sorted(found, key=lambda w: -w.age_s)


def _entry(path: Path, work: Path, now: float) -> WorkDir | None:
    """``path``'s size and age, and whether the run whose work folder is ``work`` holds it (its lock; none:
    a write within ``STARTUP_GRACE_S``); None when it was removed meanwhile."""
    try:
        size, newest = _size_and_newest(path)
    except OSError:
        return None
    age = max(0.0, now - newest)
    lock = read_lock(work)
    in_use = lock_in_use(lock) if lock is not None else age < STARTUP_GRACE_S
    return WorkDir(path, size, age, lock["pid"] if lock else None, in_use)


def scan_staging(root: Path, prefix: str = "") -> list[WorkDir]:
    """The staging folders ``root/.tmp-<prefix>*-<hex>`` (a checkpoint being written, see
    ``checkpoint.staged_dir``) and ``root/.old-<prefix>*-<hex>`` (the checkpoint it replaced, removed right
    after the rename), oldest first. One is in use while its run's ``.work-<name>`` lock is (the run holds
    it until the checkpoint is in place), or, without a lock, for ``STARTUP_GRACE_S`` after its last write."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    now = time.time()
    for kind in STAGING_PREFIXES:
        for path in root.glob(f"{kind}{prefix}*"):
            match = STAGING_NAME.fullmatch(path.name)
            if match is None or not path.is_dir() or path.is_symlink():
                continue
            if (entry := _entry(path, root / f"{WORK_PREFIX}{match['name']}", now)) is not None:
                found.append(entry)
    return sorted(found, key=lambda w: -w.age_s)


def staging_target(path: Path) -> Path:
    """The checkpoint folder a staging folder was for: ``.tmp-<name>-<hex>`` -> ``<name>``."""
    match = STAGING_NAME.fullmatch(path.name)
    assert match is not None
    return path.parent / match["name"]


def clean_stale_work(
    root: Path, max_age_hours: float, *, keep: Iterable[Path | None] = (), prefix: str = ""
) -> list[WorkDir]:
    """Report the stale work and staging folders under ``root`` and remove those ``max_age_hours`` old or
    older.

    Stale: not in use (see the module docstring) and not in ``keep`` (the run being resumed). 0 removes
    every stale one, a negative number none. Returns the stale folders, ``removed`` set on those removed.
    Never raises for a folder it cannot read or remove: it reports it and goes on. A ``.old-<name>-*``
    folder whose ``<name>`` is missing (a run killed between its two renames) holds the only copy of the
    previous model: it is reported, never removed.
    """
    keep = list(keep)
    stale = _clean_work(root, max_age_hours, keep, prefix)
    return stale + _clean_staging(root, max_age_hours, keep, prefix)


def _clean_staging(
    root: Path, max_age_hours: float, keep: Iterable[Path | None], prefix: str
) -> list[WorkDir]:
    kept = {Path(p).absolute() for p in keep if p is not None}
    stale = []
    for folder in scan_staging(root, prefix):
        target = staging_target(folder.path)
        work = target.parent / f"{WORK_PREFIX}{target.name}"
        if folder.in_use or {target.absolute(), work.absolute()} & kept:
            continue
        if folder.path.name.startswith(".old-") and not target.exists():
            log.warning(
                "%s holds the previous model of %s, which is missing (a run was killed while replacing "
                "it): rename it back to %s",
                folder.describe(),
                target,
                target.name,
            )
            continue
        due = max_age_hours >= 0 and folder.age_s >= max_age_hours * 3600
        if due:
            shutil.rmtree(folder.path, ignore_errors=True)
            folder = replace(folder, removed=not folder.path.exists())
        what = "staging folder" if folder.path.name.startswith(".tmp-") else "replaced checkpoint"
        if folder.removed:
            log.warning("removed the %s %s left by a killed training run", what, folder.describe())
        elif due:
            log.warning("could not remove the %s %s left by a killed training run", what, folder.describe())
        else:
            log.warning(
                "%s %s left by a killed training run: %s",
                what,
                folder.describe(),
                "kept (--stale-work-hours < 0)"
                if max_age_hours < 0
                else f"removed once {max_age_hours:g} h old (--stale-work-hours)",
            )
        stale.append(folder)
    return stale


def _clean_work(root: Path, max_age_hours: float, keep: Iterable[Path | None], prefix: str) -> list[WorkDir]:
    kept = {Path(p).absolute() for p in keep if p is not None}
    stale = []
    for work in scan(root, prefix):
        if work.in_use:
            log.info("training work folder %s is in use by pid %s; kept", work.path, work.pid)
            continue
        if work.path.absolute() in kept:
            continue
        if max_age_hours >= 0 and work.age_s >= max_age_hours * 3600:
            shutil.rmtree(work.path, ignore_errors=True)
            work = replace(work, removed=not work.path.exists())
        if work.removed:
            log.warning("removed the stale training work folder %s", work.describe())
        elif max_age_hours >= 0 and work.age_s >= max_age_hours * 3600:
            log.warning("could not remove the stale training work folder %s", work.describe())
        else:
            when = (
                "kept (--stale-work-hours < 0)"
                if max_age_hours < 0
                else (f"removed once {max_age_hours:g} h old (--stale-work-hours)")
            )
            log.warning(
                "stale training work folder %s from an interrupted run: continue it with --resume --out %s; "
                "%s",
                work.describe(),
                work.path.parent / work.path.name[len(WORK_PREFIX) :],
                when,
            )
        stale.append(work)
    return stale
