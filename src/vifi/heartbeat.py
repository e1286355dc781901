"""The workflow controller's heartbeat: which host and process runs the workflow of a directory, and whether it
still does.

Why: Snakemake's lock says only that a controller once started in a directory. After a crash the lock stays,
and `snakemake --unlock` removes it whether or not that controller is alive. On a cluster the controller may
run on another login node, where this host cannot see its process. So the controller (the Snakefile's
`onstart`) records its host and PID and advances a beat counter every `interval` seconds from a daemon thread.
A restart on another host then tells a live controller (the counter advances while it watches) from a dead one
(it does not), without comparing two hosts' clocks; on the same host the PID answers at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from vifi.io import write_json

RECORD = Path(".snakemake/vifi-controller.json")
INTERVAL = 10.0  # seconds between beats; a restart on another host watches for two of them
_WRITING = threading.Lock()  # a beat is checked and written under it, so `stop` cannot fall between the two


@dataclasses.dataclass(frozen=True)
class Controller:
    host: str
    pid: int
    interval: float
    beat: int

    def __str__(self) -> str:
        return f"PID {self.pid} on {self.host}"


def _write(path: Path, controller: Controller) -> None:
    write_json(path, dataclasses.asdict(controller))


def start(path: Path = RECORD, interval: float | None = None) -> Controller:
    """Record this process as the controller of `path`'s workflow and keep beating until the process exits.

    `interval` defaults to `VIFI_HEARTBEAT_INTERVAL` or `INTERVAL`.
    """
    path = Path(path).resolve()
    interval = float(os.environ.get("VIFI_HEARTBEAT_INTERVAL", INTERVAL)) if interval is None else interval
    first = Controller(socket.gethostname(), os.getpid(), interval, 0)
    _write(path, first)

    def beat() -> None:
        count = 0
        while True:
            time.sleep(interval)
            count += 1
            with _WRITING:
                try:
                    if read(path) != dataclasses.replace(first, beat=count - 1):
                        return  # stopped, or another controller took over the directory
                except ValueError:
                    return  # the record was damaged by hand; `alive` reports it
                _write(path, dataclasses.replace(first, beat=count))

    threading.Thread(target=beat, name="vifi-heartbeat", daemon=True).start()
    return first


def stop(path: Path = RECORD) -> None:
    """Remove the record if it is this process's (a controller that ends normally leaves no heartbeat)."""
    with _WRITING:
        try:
            found = read(path)
        except ValueError:
            return  # damaged by hand: not provably ours, and a finished run must not fail over it
        if found and (found.host, found.pid) == (socket.gethostname(), os.getpid()):
            Path(path).unlink(missing_ok=True)


def read(path: Path = RECORD) -> Controller | None:
    """The recorded controller, or None when there is no record (none started, or it ended normally)."""
    advice = "remove it if no controller runs"
    try:
        fields = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable controller record ({err}); {advice}") from err
    try:
        return Controller(
            str(fields["host"]), int(fields["pid"]), float(fields["interval"]), int(fields["beat"])
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: malformed controller record ({err}); {advice}") from err


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds the PID
    return True


def alive(path: Path = RECORD, sleep: Callable[[float], None] = time.sleep) -> Controller | None:
    """The recorded controller if it is still alive, else None.

    On this host: its PID exists. On another host: its beat advances within two intervals and a second.
    """
    found = read(path)
    if found is None:
        return None
    if found.host == socket.gethostname():
        return found if _pid_alive(found.pid) else None
    sleep(2 * found.interval + 1)
    again = read(path)
    return again if again is not None and again != found else None
