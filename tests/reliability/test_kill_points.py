"""SIGKILL at random and at chosen moments: in training, in a download, while a table or aggregate is published.

A killed process cannot clean up, so each stage must leave either its complete output or none (or the previous
complete one) at the final path, and the same command run again must finish with exactly what an uninterrupted
run writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, assert_same_weights, serving, tool_env, train_args
from tests.unit.test_report import RUNS, write_run
from vifi.stages import aggregate, render

# --- training -------------------------------------------------------------------------------------------------

EPOCHS, TRIALS, KILLS_PER_TRIAL = 3, 5, 2
DEADLINE = 120.0  # seconds any single wait may take before the test gives up

# Imports the training stack once, then forks one child per request; each child is `python -m vifi <argv>`
# from there on, with stdout and stderr in the given log. Importing torch and timm takes 5-8 s on two busy
# cores and the test below starts 16 runs, so forking instead of starting each keeps it fast.
_FORKSERVER = """
import json, os, sys, traceback
import vifi.engine.train  # noqa: F401 (the slow imports, once)
from vifi.__main__ import main

for line in sys.stdin:
    argv, log = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = main(argv)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def alive(pid: int) -> bool:
    """Whether `pid` still runs; the fork server reaps its children at once, so an ended one is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Forkserver:
    """Runs `vifi` commands as forked children of one process that has imported torch already."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _FORKSERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=tool_env(ROOT),
        )

    def _line(self) -> int:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the fork server ended (exit code {self.proc.wait()})"
        return int(line)

    def start(self, argv: list[str], log: Path) -> int:
        """Start `vifi <argv>`, logging to `log`; return its pid."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps([argv, str(log)]) + "\n")
        self.proc.stdin.flush()
        return self._line()

    def wait(self, pid: int) -> int:
        """The exit code of the run `pid` (negative: killed by that signal)."""
        deadline = time.monotonic() + DEADLINE
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"run {pid} took more than {DEADLINE} s")
        return self._line()

    def close(self) -> None:
        """Kill the server: every child has been reaped, and a clean interpreter exit only costs seconds."""
        self.proc.kill()
        self.proc.communicate(timeout=30)


@pytest.fixture(scope="session")
def forkserver() -> Iterator[Forkserver]:
    """Session-scoped, and named first by the test, so its imports overlap with building `tiny_run`."""
    server = Forkserver()
    yield server
    server.close()


_PROGRESS = re.compile(r"epoch (\d+)/\d+: mean loss|resuming .* after epoch (\d+)")


def epochs_done(log: Path) -> int:
    """Epochs finished so far in the run chain writing `log`, as its log lines say."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return max((int(a or b) for a, b in _PROGRESS.findall(text)), default=0)


def wait_for_epoch(pid: int, log: Path, epoch: int) -> None:
    """Return once `epoch` epochs are done, or the run ended."""
    deadline = time.monotonic() + DEADLINE
    while epochs_done(log) < epoch and alive(pid):
        assert time.monotonic() < deadline, f"no epoch {epoch} after {DEADLINE} s:\n{log.read_text()[-2000:]}"
        time.sleep(0.005)


def resume_epoch(out: Path) -> int | None:
    """The epoch of the resume point in `out`, None if there is none; loading it proves it is complete."""
    path = out / "model.pt.resume"
    return torch.load(path, map_location="cpu", weights_only=True)["epoch"] if path.exists() else None


@dataclass(frozen=True)
class Kill:
    """Where a kill was aimed (epochs into the run), and what it left."""

    point: float
    code: int
    final_written: bool
    resume_epoch: int | None

    @property
    def landed(self) -> bool:
        return self.code == -signal.SIGKILL and not self.final_written


def test_sigkill_at_random_points_then_rerun_ends_as_uninterrupted(
    forkserver: Forkserver, tiny_run: dict, tmp_path: Path
) -> None:
    """Kills at seeded random points, several per trial, before and after epoch boundaries and resume writes.

    A point p waits for epoch int(p) to end, then for the fraction p % 1 of an epoch's duration. After each
    trial's last kill the same command runs to the end: weights and loss curve must equal the reference run's
    bit for bit, the rerun must have resumed, and no resume point or temporary file may be left.
    """
    train_list = tmp_path / "train.txt"  # 8 videos: 2 steps per epoch
    train_list.write_text("".join(tiny_run["train"].read_text().splitlines(keepends=True)[:8]))
    logs = tmp_path / "logs"
    logs.mkdir()

    def args(out: Path) -> list[str]:
        return train_args(tiny_run, out, epochs=EPOCHS, train_list=train_list)

    ref = tmp_path / "ref"
    pid = forkserver.start(args(ref), logs / "ref.log")
    ends = []
    for epoch in range(1, EPOCHS + 1):
        wait_for_epoch(pid, logs / "ref.log", epoch)
        ends.append(time.monotonic())
    assert forkserver.wait(pid) == 0, (logs / "ref.log").read_text()[-3000:]
    epoch_s = (ends[-1] - ends[0]) / (EPOCHS - 1)

    rng, kills, resumed = random.Random(0), [], 0
    for trial in range(TRIALS):
        out = tmp_path / f"trial{trial}"
        for point in sorted(rng.uniform(0, EPOCHS) for _ in range(KILLS_PER_TRIAL)):
            log = logs / f"trial{trial}-{point:.2f}.log"
            pid = forkserver.start(args(out), log)
            wait_for_epoch(pid, log, int(point))
            time.sleep(point % 1 * epoch_s)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            kills.append(Kill(point, forkserver.wait(pid), (out / "model.pt").exists(), resume_epoch(out)))
        before, log = resume_epoch(out), logs / f"trial{trial}-rerun.log"
        assert forkserver.wait(forkserver.start(args(out), log)) == 0, log.read_text()[-3000:]
        if before:
            assert f"after epoch {before}" in log.read_text()
            resumed += 1
        assert_same_weights(ref / "model.pt", out / "model.pt")
        assert (out / "log.csv").read_text() == (ref / "log.csv").read_text()
        assert sorted(p.name for p in out.iterdir()) == ["log.csv", "model.pt"], (
            "a resume or temp file was left"
        )

    landed = [k for k in kills if k.landed]
    assert landed, f"no kill landed before the final weights were written: {kills}"
    assert resumed > 0, f"no rerun had a resume point to start from: {kills}"
    assert len({k.resume_epoch for k in landed}) > 1, f"the kills did not spread over the epochs: {kills}"


# --- download -------------------------------------------------------------------------------------------------

BODY = os.urandom(1 << 19)
PIECE = 1 << 14
STALL_AT = 1 << 18  # the first transfer stops here, holding the connection open, until the client is killed


class _SlowHandler(BaseHTTPRequestHandler):
    """Serves BODY in throttled pieces, honouring Range; the first response stalls halfway."""

    protocol_version = "HTTP/1.1"
    server: _SlowServer

    def log_message(self, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        wanted = self.headers.get("Range")
        self.server.ranges.append(wanted)
        first = len(self.server.ranges) == 1
        start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted else 0
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
        self.send_header("Content-Length", str(len(BODY) - start))
        self.end_headers()
        with contextlib.suppress(ConnectionError):  # the client was killed mid-body
            for offset in range(start, len(BODY), PIECE):
                if first and offset == STALL_AT:
                    self.server.stalled.set()
                    self.server.release.wait(DEADLINE)
                self.wfile.write(BODY[offset : offset + PIECE])
                self.wfile.flush()
                time.sleep(0.002)


class _SlowServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.ranges: list[str | None] = []
        self.stalled, self.release = threading.Event(), threading.Event()


@pytest.fixture
def slow_server() -> Iterator[_SlowServer]:
    srv = _SlowServer()
    with serving(srv):
        yield srv
        srv.release.set()  # let a stalled handler finish, so that shutdown does not wait on it


_DOWNLOAD = (
    "import sys; from vifi.data.acquire.download import download; "
    "download(sys.argv[1], sys.argv[2], sha256=sys.argv[3], allow_insecure=('127.0.0.1',), backoff=0)"
)


def test_sigkill_during_download_then_rerun_resumes(slow_server: _SlowServer, tmp_path: Path) -> None:
    """Killed mid-transfer: only `.part` exists; the rerun asks for the rest by Range and verifies the whole."""
    dest, part = tmp_path / "cache" / "UCF101.rar", tmp_path / "cache" / "UCF101.rar.part"
    url = f"http://127.0.0.1:{slow_server.server_address[1]}/UCF101.rar"
    cmd = [sys.executable, "-c", _DOWNLOAD, url, str(dest), hashlib.sha256(BODY).hexdigest()]
    proc = subprocess.Popen(cmd, env=tool_env(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert slow_server.stalled.wait(DEADLINE), "the transfer never reached the stall"
        deadline = time.monotonic() + DEADLINE
        while not (part.exists() and part.stat().st_size > 0):
            assert proc.poll() is None and time.monotonic() < deadline, "no partial download was written"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        output, _ = proc.communicate(timeout=30)
    slow_server.release.set()
    assert proc.returncode == -signal.SIGKILL, output
    assert sorted(p.name for p in dest.parent.iterdir()) == [part.name]
    received = part.stat().st_size
    assert 0 < received <= STALL_AT
    assert part.read_bytes() == BODY[:received]

    rerun = subprocess.run(cmd, env=tool_env(ROOT), capture_output=True, text=True, timeout=DEADLINE)
    assert rerun.returncode == 0, rerun.stderr
    assert slow_server.ranges == [None, f"bytes={received}-"]
    assert dest.read_bytes() == BODY
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == hashlib.sha256(BODY).hexdigest()
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]


# --- report tables --------------------------------------------------------------------------------------------

# Put first on PYTHONPATH, this makes the process stall right before a finished temporary file is renamed onto
# the target named by VIFI_TEST_STALL: the kill lands at the last moment a half-done publish is possible.
_STALL = """
import os, time

_replace = os.replace


def _stalling_replace(src, dst, *args, **kwargs):
    if os.path.basename(os.fspath(dst)) == os.environ.get("VIFI_TEST_STALL"):
        print("stalled", flush=True)
        time.sleep(120)
    return _replace(src, dst, *args, **kwargs)


os.replace = _stalling_replace
"""

MAINS: dict[str, Callable[[list[str]], int]] = {"aggregate": aggregate.main, "render": render.main}
OUTPUTS = {"aggregate": ("base2novel.csv", "base2novel.json"), "render": ("base2novel.tex", "base2novel.html")}
PREVIOUS = b"a complete output of an earlier run\n"


def report_argv(stage: str, inputs: dict[str, list[str]], out: Path) -> list[str]:
    """`vifi <stage>` arguments writing the stage's two OUTPUTS into `out`."""
    first, second = (str(out / name) for name in OUTPUTS[stage])
    if stage == "aggregate":
        return ["--protocol", "base2novel", "--out-csv", first, "--out-json", second, *inputs["metrics"]]
    return ["--table", "base2novel", "--metrics", *inputs["csv"], "--mode", "demo", "--no-ci",
            "--out-tex", first, "--out-html", second]  # fmt: skip


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Base-to-novel metrics files, their aggregate and table from uninterrupted runs, and the stall hook.

    Every output directory sits directly under `results/`, so the table's links to the runs read the same.
    """
    tmp = tmp_path_factory.mktemp("reports")
    results, reference = tmp / "results", tmp / "results" / "reference"
    metrics = [
        str(write_run(results, dataset, method, seed, base, novel))
        for (dataset, method), seeds in RUNS.items()
        for seed, (base, novel) in enumerate(seeds, start=1)
    ]
    inputs = {"metrics": metrics, "csv": [str(reference / "base2novel.csv")]}
    for stage in ("aggregate", "render"):  # the table is rendered from the aggregate, as in the workflow
        assert MAINS[stage](report_argv(stage, inputs, reference)) == 0
    (tmp / "stall").mkdir()
    (tmp / "stall" / "sitecustomize.py").write_text(_STALL)
    return {"results": results, "reference": reference, "inputs": inputs, "stall": tmp / "stall"}


@pytest.mark.parametrize(
    ("stage", "stalled", "previous"),
    [("render", 0, False), ("render", 1, True), ("aggregate", 0, True), ("aggregate", 1, False)],
    ids=[
        "render-tex-fresh",
        "render-html-over-previous",
        "aggregate-csv-over-previous",
        "aggregate-json-fresh",
    ],
)
def test_sigkill_before_publishing_a_report_then_rerun(
    reports: dict, stage: str, stalled: int, previous: bool
) -> None:
    """Killed with its output complete in a temp file but not yet renamed: each final path holds the new file
    (written before), the previous one or nothing; the rerun removes the temp and writes the reference bytes."""
    out = reports["results"] / f"{stage}-{stalled}-{previous}"
    out.mkdir()
    names = OUTPUTS[stage]
    if previous:
        for name in names:
            (out / name).write_bytes(PREVIOUS)
    env = tool_env(ROOT) | {
        "PYTHONPATH": os.pathsep.join([str(reports["stall"]), str(ROOT / "src")]),
        "VIFI_TEST_STALL": names[stalled],
    }
    argv = report_argv(stage, reports["inputs"], out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vifi", stage, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert proc.stdout is not None
        assert b"stalled\n" in iter(proc.stdout.readline, b""), "the process ended without reaching the stall"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, output

    expected = {name: (reports["reference"] / name).read_bytes() for name in names}
    temps = sorted(out.glob(f".{names[stalled]}.*.tmp"))
    assert len(temps) == 1 and temps[0].read_bytes() == expected[names[stalled]], "the kill missed the stall"
    for i, name in enumerate(names):
        if i < stalled:
            assert (out / name).read_bytes() == expected[name]
        elif previous:
            assert (out / name).read_bytes() == PREVIOUS
        else:
            assert not (out / name).exists()

    assert MAINS[stage](argv) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(names), "the killed run's temp file was left"
    for name in names:
        assert (out / name).read_bytes() == expected[name]
