"""The lock file ``{prefix}.lock``: one run at a time per checkpoint directory and prefix.

On POSIX the lock is ``fcntl.flock`` on a descriptor held open while the run trains: the kernel drops
it when the process ends, however it ends. Without ``fcntl`` (Windows) the lock file is created with
``O_CREAT | O_EXCL`` and a file left by a process of this host that no longer runs is taken over. The
file records the holder's pid and host name for the other run's error message. Imports
:mod:`~minikd.checkpoint.config` and :mod:`~minikd.checkpoint.files` from the package.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

from .config import CheckpointError
from .files import _unlink_quietly

try:
    import fcntl
except ImportError:  # not POSIX (Windows): DirectoryLock.acquire falls back to O_CREAT | O_EXCL
    fcntl = None

__all__ = ["DirectoryLock"]


class DirectoryLock:
    """The lock of one checkpoint directory and prefix, taken by :meth:`acquire`, given back by :meth:`release`.

    Parameters
    ----------
    directory : Path
        The checkpoint directory (it must exist when :meth:`acquire` is called).
    prefix : str
        The config's prefix: the lock file is ``directory / "{prefix}.lock"``.

    Attributes
    ----------
    path : Path
        The lock file.
    held : bool
        Whether this object holds the lock (or, on a file system that cannot lock, runs unlocked).
    """

    def __init__(self, directory: Path, prefix: str):
        self.directory = directory
        self.prefix = prefix
        self.path = directory / f"{prefix}.lock"
        self._mode = None  # None (not held), "flock", "exclusive" (no fcntl) or "unlocked" (no locking)
        self._fd = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock (or runs unlocked on a file system that cannot lock)."""
        return self._mode is not None

    def acquire(self) -> None:
        """Take the lock; idempotent (an object that holds it keeps it). The directory must exist.

        On POSIX the lock is ``fcntl.flock(LOCK_EX | LOCK_NB)`` on a file descriptor held open until
        :meth:`release`: the kernel drops it when the process ends, however it ends (``kill -9``
        included), so a lock is never stale. The file records the holder's pid and host name for the
        error message. Without ``fcntl`` (Windows) the file is created with ``O_CREAT | O_EXCL``; a file
        left by a process of this host that no longer runs (``os.kill(pid, 0)`` fails) is taken over;
        where that check cannot be made (another host, Windows) a left-over file must be deleted by hand,
        as the error says. On a file system that cannot lock (some network file systems) a
        ``UserWarning`` says so and the run goes on unlocked.

        Raises
        ------
        CheckpointError
            If another run holds the lock (the message names the directory and the holder's pid and
            host), or if the lock file cannot be created (the ``OSError`` is its ``__cause__``).
        """
        if self._mode is not None:
            return
        try:
            if fcntl is not None:
                self._acquire_flock()
            else:
                self._acquire_exclusive()
        except OSError as exc:
            raise CheckpointError(
                f"could not create the lock file {str(self.path)!r}: {type(exc).__name__}: {exc}"
            ) from exc

    def release(self) -> None:
        """Give the lock back and delete the lock file. Idempotent; never raises an ``OSError``."""
        mode, fd = self._mode, self._fd
        self._mode = self._fd = None
        try:
            if mode in ("flock", "exclusive"):
                try:  # while we hold it nobody else can have replaced it: this is our file
                    _unlink_quietly(self.path)
                except OSError:
                    pass
        finally:  # even if interrupted: closing the descriptor is what releases the flock
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _acquire_flock(self) -> None:
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise self._held_error() from None
                except OSError as exc:
                    warnings.warn(
                        f"could not lock {str(self.path)!r} ({type(exc).__name__}: {exc}): the file system "
                        "does not support locks, so a second run in this checkpoint_directory is not detected",
                        UserWarning, stacklevel=5)
                    self._mode = "unlocked"
                    os.close(fd)
                    return
                # The last holder deletes the file on release: if it did so after our open, we locked a
                # file that is no longer the lock file. Lock the current one instead.
                mine, now = os.fstat(fd), _stat_or_none(self.path)
                if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                    _write_holder(fd)
                    self._mode, self._fd = "flock", fd
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise CheckpointError(f"could not take the lock file {str(self.path)!r}: it kept being replaced")

    def _acquire_exclusive(self) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid, host = _read_holder(self.path)
                if not _holder_is_gone(pid, host):
                    raise self._held_error(stale_hint=True) from None
                _unlink_quietly(self.path)  # its holder is dead: take it over
                continue
            self._mode = "exclusive"
            try:
                _write_holder(fd)
            finally:
                os.close(fd)
            return
        raise self._held_error(stale_hint=True)

    def _held_error(self, stale_hint: bool = False) -> CheckpointError:
        pid, host = _read_holder(self.path)
        who = f"pid {pid} on {host}" if pid is not None else "a process whose pid is not recorded yet"
        hint = (f" If no run is using it (its process is gone), delete {self.path.name!r}." if stale_hint
                else "")
        return CheckpointError(
            f"checkpoint_directory {str(self.directory)!r} is in use: another run with prefix "
            f"{self.prefix!r} holds its lock file {self.path.name!r} ({who}). Wait for that run "
            f"to finish, or choose another checkpoint_directory or prefix.{hint}"
        )


def _stat_or_none(path: Path):
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _write_holder(fd: int) -> None:
    """Record this process's pid and host name in the lock file (for the other run's error message)."""
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{socket.gethostname()}\n".encode())
    except OSError:
        pass  # the lock is held all the same; only the message loses its pid


def _read_holder(path: Path):
    """(pid, host) recorded in a lock file, each None if it cannot be read."""
    try:
        lines = path.read_bytes()[:512].decode("utf-8", "replace").splitlines()
    except OSError:
        return None, None
    pid = int(lines[0]) if lines and lines[0].isascii() and lines[0].isdigit() else None
    return pid, (lines[1] if len(lines) > 1 else None)


def _holder_is_gone(pid, host) -> bool:
    """True only if the lock's holder surely no longer runs: a pid of this host that ``os.kill(pid, 0)`` cannot find."""
    if pid is None or host != socket.gethostname() or os.name == "nt":  # on Windows os.kill(pid, 0) sends Ctrl-C
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it runs, as another user
        return False
    return False
