"""The controller's heartbeat: a restart on any host tells a live controller from a dead one, and refuses to
unlock under a live one (`vifi.heartbeat`, `scripts/slurm-restart.sh`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, tool_env
from vifi import heartbeat

CHECK = [sys.executable, "-m", "vifi.stages.heartbeat"]
# A controller on login node "login2": this host's name patched in a child process that beats every 0.2 s.
REMOTE = (
    "import socket, sys, time; socket.gethostname = lambda: 'login2'; from vifi import heartbeat; "
    "heartbeat.start(interval=0.2); print('beating', flush=True); time.sleep(600)"
)


def wait_for(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def remote(tmp_path: Path):
    """A live controller of `tmp_path` recorded as running on login2."""
    proc = subprocess.Popen(
        [sys.executable, "-c", REMOTE], cwd=tmp_path, env=tool_env(ROOT), stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "beating\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_start_records_this_process_beats_and_stop_removes_it(tmp_path: Path) -> None:
    record = tmp_path / ".snakemake" / "vifi-controller.json"
    first = heartbeat.start(record, interval=0.05)
    assert first == heartbeat.Controller(socket.gethostname(), os.getpid(), 0.05, 0)
    wait_for(lambda: heartbeat.read(record).beat >= 3)
    assert json.loads(record.read_text())["pid"] == os.getpid()
    heartbeat.stop(record)
    assert not record.exists()
    time.sleep(0.2)
    assert not record.exists(), "the beat thread wrote the record again after stop"


def test_stop_leaves_another_controllers_record_and_a_damaged_one(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"host": "login2", "pid": 7, "interval": 10, "beat": 3}))
    heartbeat.stop(record)
    assert heartbeat.read(record) == heartbeat.Controller("login2", 7, 10.0, 3)
    record.write_text("{")
    heartbeat.stop(record)
    assert record.read_text() == "{"


def test_on_this_host_the_pid_decides(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    for pid, expected in ((os.getpid(), True), (int(gone.stdout), False)):
        record.write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "interval": 10, "beat": 0}))
        assert (heartbeat.alive(record, sleep=pytest.fail) is not None) == expected, pid


def test_on_another_host_only_an_advancing_beat_is_alive(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    fields = {"host": "login2", "pid": 4242, "interval": 10, "beat": 5}
    record.write_text(json.dumps(fields))
    waited: list[float] = []
    assert heartbeat.alive(record, sleep=waited.append) is None
    assert waited == [21.0]

    def advance(seconds: float) -> None:
        record.write_text(json.dumps(fields | {"beat": 6}))

    assert heartbeat.alive(record, sleep=advance) == heartbeat.Controller("login2", 4242, 10.0, 6)
    assert heartbeat.alive(tmp_path / "none.json", sleep=pytest.fail) is None


def test_a_damaged_record_is_named(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    for text in ("{not json", json.dumps({"host": "login2"})):
        record.write_text(text)
        with pytest.raises(ValueError, match=r"record\.json: (unreadable|malformed) controller record"):
            heartbeat.read(record)


def test_the_check_refuses_a_beating_remote_controller_and_passes_once_it_died(tmp_path: Path, remote) -> None:
    record = tmp_path / ".snakemake" / "vifi-controller.json"
    refused = subprocess.run(CHECK, cwd=tmp_path, env=tool_env(ROOT), capture_output=True, text=True)
    assert refused.returncode == 3
    assert f"is alive (PID {remote.pid} on login2); stop it first" in refused.stderr
    remote.send_signal(signal.SIGKILL)
    remote.wait()
    passed = subprocess.run(CHECK, cwd=tmp_path, env=tool_env(ROOT), capture_output=True, text=True)
    assert passed.returncode == 0, passed.stderr
    assert f"names PID {remote.pid} on login2" in passed.stderr and record.exists()


def test_the_restart_script_refuses_under_a_controller_on_another_host(tmp_path: Path, remote) -> None:
    """It stops before unlocking or touching the queue: no SLURM is needed to see it refuse."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "slurm-restart.sh", tmp_path / "scripts")
    refused = subprocess.run(
        ["bash", "scripts/slurm-restart.sh"], cwd=tmp_path, env=tool_env(ROOT), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1
    assert f"PID {remote.pid} on login2" in refused.stderr
    assert f"controller of {tmp_path.resolve()} is still alive" in refused.stderr
    assert not (tmp_path / ".snakemake" / "locks").exists()


def test_the_restart_script_stops_when_it_cannot_check_the_heartbeat(tmp_path: Path) -> None:
    """A damaged record (or a Python without vifi) is no proof that the controller died: nothing is done."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "slurm-restart.sh", tmp_path / "scripts")
    (tmp_path / ".snakemake").mkdir()
    (tmp_path / ".snakemake" / "vifi-controller.json").write_text("{")
    proc = subprocess.run(
        ["bash", "scripts/slurm-restart.sh"], cwd=tmp_path, env=tool_env(ROOT), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "unreadable controller record" in proc.stderr and "could not check" in proc.stderr
