"""One sender per data directory: an exclusive flock on DATA_DIR/digest.lock.

`digest daemon` holds it for its whole life and `digest run` for its cycle, so two of them
can never send the same edition at once. The kernel drops the lock when the process
ends, however it ends, so a crash never leaves a stale lock behind. The file holds a
line naming the holder, for the refusal message and for `digest status`.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from digest.errors import DigestError

LOCK_FILE = "digest.lock"


class AlreadyRunning(DigestError):
    """Another daemon or run holds the data directory's lock.

    Exit status 2, like a config error: nothing failed and retrying will not help until
    someone stops the other process (a systemd unit can say RestartPreventExitStatus=2).
    """

    exit_code = 2


@dataclass(frozen=True)
class Holder:
    command: str
    pid: int
    started: datetime

    def __str__(self) -> str:
        return f"digest {self.command} (pid {self.pid}, since {self.started:%Y-%m-%d %H:%M} UTC)"


class DataDirLock:
    """``with DataDirLock(data_dir, "daemon"):`` — or AlreadyRunning at once, never a wait."""

    def __init__(self, data_dir: Path, command: str) -> None:
        self.path = data_dir / LOCK_FILE
        self.command = command
        self._fd: int | None = None

    def __enter__(self) -> DataDirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            other = holder(self.path.parent)
            who = str(other) if other else "another digest process"
            raise AlreadyRunning(
                f"{self.path.parent}: {who} is already using this data directory; "
                "stop it first (one daemon per data directory)"
            ) from None
        me = {"command": self.command, "pid": os.getpid(), "started": datetime.now(UTC)}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(me, default=str).encode() + b"\n")
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # an empty file: nobody holds it
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def holder(data_dir: Path) -> Holder | None:
    """Who holds (or last held, if it crashed) the data directory's lock, if it is alive."""
    try:
        entry = json.loads((data_dir / LOCK_FILE).read_text(encoding="utf-8"))
        found = Holder(
            entry["command"], int(entry["pid"]), datetime.fromisoformat(entry["started"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if alive(found.pid) else None


def alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, and someone else's
    return True
