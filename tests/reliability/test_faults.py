"""Faults and hostile input: a full disk, a SIGKILL mid-write, concurrent Snakemake runs, unsafe code and URLs.

Each fault must leave either a complete output or none at its final path, so that a rerun (by hand, by
Snakemake or by DVC) never mistakes a half-written file for a finished one.
"""

from __future__ import annotations

import ast
import copy
import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from tests.conftest import BIN, ROOT, tool_env
from vifi.data.acquire.download import DownloadError, check_url
from vifi.data.acquire.registry import RegistryError, parse_registry
from vifi.data.frames import extract
from vifi.data.frames.extract import extract_shard
from vifi.data.frames.shards import list_videos
from vifi.data.frames.store import FrameStore
from vifi.data.synthetic.synthesize import generate_dataset
from vifi.io import write_json
from vifi.models.pretrained import save_weights

SRC = ROOT / "src" / "vifi"


class FullDisk:
    """A file object whose `fail_at`-th write raises ENOSPC, as a full disk would, after real earlier writes."""

    def __init__(self, fh: Any, fail_at: int) -> None:
        self._fh, self._left = fh, fail_at

    def write(self, data: Any) -> int:
        self._left -= 1
        if self._left <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._fh.write(data)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four tiny synthetic videos."""
    raw = tmp_path_factory.mktemp("raw")
    generate_dataset(
        raw, name="ucf101", fmt="kinetics", role="downstream", classes=2, train_per_class=(1, 1),
        val_per_class=1, splits=1, seed=0, height=36, width=48, frames=8, fps=8,
    )  # fmt: skip
    return raw / "videos"


def assert_nothing_at(out: Path) -> None:
    assert not out.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == [], "a temporary file was left beside the target"


@pytest.mark.parametrize("stage", ["spool", "shard"])
@pytest.mark.parametrize("fail_at", [1, 3])
def test_extract_shard_on_full_disk_leaves_nothing(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str, fail_at: int
) -> None:
    """ENOSPC while spooling encoded frames or while writing the shard propagates and publishes nothing."""
    if stage == "spool":
        real = extract.tempfile.TemporaryFile
        monkeypatch.setattr(extract.tempfile, "TemporaryFile", lambda *a, **k: FullDisk(real(*a, **k), fail_at))
    else:
        monkeypatch.setattr(
            extract,
            "open",
            lambda *a, **k: FullDisk(open(*a, **k), fail_at),  # noqa: SIM115 (FullDisk closes it)
            raising=False,
        )
    out = tmp_path / "frames" / "shard.bin"
    with pytest.raises(OSError) as info:
        extract_shard(videos, list_videos(videos), out, short_side=36, progress=False)
    assert info.value.errno == errno.ENOSPC
    assert_nothing_at(out)


def test_save_weights_on_full_disk_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save's own serialiser hits ENOSPC midway: the checkpoint path stays empty, no temporary remains.

    torch's zip writer turns the ENOSPC of a Python file object into a RuntimeError, so either type counts.
    """
    real_save = torch.save

    def save_on_full_disk(obj: Any, path: Any, **kwargs: Any) -> None:
        with open(path, "wb") as fh:
            real_save(obj, FullDisk(fh, 3), **kwargs)

    monkeypatch.setattr(torch, "save", save_on_full_disk)
    out = tmp_path / "ckpt" / "clip.pt"
    with pytest.raises((OSError, RuntimeError)):
        save_weights(torch.nn.Linear(64, 64), out)
    assert_nothing_at(out)


def test_write_json_on_full_disk_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed rewrite leaves the previous complete file in place, not a truncated one."""
    out = tmp_path / "metrics" / "metrics.json"
    write_json(out, {"top1": 1.0})
    before = out.read_bytes()

    def half_then_enospc(self: Path, text: str, encoding: str | None = None) -> int:
        with open(self, "w", encoding=encoding) as fh:
            fh.write(text[: len(text) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", half_then_enospc)
    with pytest.raises(OSError) as info:
        write_json(out, {"top1": 2.0, "top5": 3.0})
    assert info.value.errno == errno.ENOSPC
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["metrics.json"]


# Runs `python -m vifi extract` with the shard copy slowed down: it writes the first block into the temporary
# file and then stalls, so the kill lands while the shard is half written, every time.
_STALLING_EXTRACT = """
import runpy, shutil, sys, time
def stalling_copy(src, dst, length=0):
    dst.write(src.read(4096)); dst.flush()
    print("writing", flush=True)
    time.sleep(60)
shutil.copyfileobj = stalling_copy
sys.argv = ["vifi", *sys.argv[1:]]
runpy.run_module("vifi", run_name="__main__")
"""


def test_sigkill_during_extraction_then_rerun(videos: Path, tmp_path: Path) -> None:
    """A SIGKILLed extraction leaves no shard at --out; the same command then completes and reads back."""
    out = tmp_path / "frames" / "shard.bin"
    args = ["extract", "--videos", str(videos), "--shard", "0", "--num-shards", "1", "--short-side", "36",
            "--out", str(out)]  # fmt: skip
    env = tool_env(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-c", _STALLING_EXTRACT, *args], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        leftovers = list(out.parent.glob(".shard.bin.*.tmp"))
        assert leftovers and leftovers[0].stat().st_size > 0, "the shard was not being written when killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()

    rerun = subprocess.run(
        [sys.executable, "-m", "vifi", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["shard.bin"], "the killed writer's temp file stayed"
    store = FrameStore([out])
    assert store.keys() == list_videos(videos)
    for key in list_videos(videos):
        assert store.read(key, range(store.num_frames(key))).shape == (8, 36, 48, 3)


_SNAKEFILE = """
rule all:
    input: "out/b.txt"

rule a:
    output: "out/a.txt"
    shell:
        "touch started && for i in $(seq 1200); do [ -e release ] && break; sleep 0.1; done && "
        "echo a > {output}"

rule b:
    input: "out/a.txt"
    output: "out/b.txt"
    shell: "cat {input} > {output} && echo b >> {output}"
"""


def test_second_snakemake_run_is_locked_out(tmp_path: Path) -> None:
    """A second Snakemake in the same directory refuses to start; the first one still finishes its outputs.

    Rule a holds until the test releases it, so the first run is alive however long the second takes to start
    (a fixed sleep raced a slow machine's Snakemake import).
    """
    (tmp_path / "Snakefile").write_text(textwrap.dedent(_SNAKEFILE))
    cmd = [str(BIN / "snakemake"), "--cores", "1"]
    env = tool_env()
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first run never started rule a"
            time.sleep(0.05)
        second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert first.poll() is None, "the first run ended before the second was tried; the lock was not tested"
        (tmp_path / "release").touch()
        assert second.returncode != 0
        assert (
            "LockException" in second.stdout + second.stderr
            or "cannot be locked" in second.stdout + second.stderr
        )
        first_output, _ = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 0, first_output
    assert (tmp_path / "out/b.txt").read_text() == "a\nb\n"


def _unsafe_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
            found.append((node.lineno, f"{node.func.id}()"))
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                found.append((node.lineno, "shell=" + ast.unparse(kw.value)))
    return found


def test_unsafe_call_finder_finds_them() -> None:
    tree = ast.parse(
        "eval('1')\nsubprocess.run('ls', shell=True)\nsubprocess.run(['ls'], shell=False)\n# exec(x)"
    )
    assert _unsafe_calls(tree) == [(1, "eval()"), (2, "shell=True")]


def test_no_shell_eval_or_exec_in_src() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sorted(SRC.rglob("*.py"))
        for line, what in _unsafe_calls(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert found == []


def _urls(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "url"] + [u for v in node.values() for u in _urls(v)]
    if isinstance(node, list):
        return [u for v in node for u in _urls(v)]
    return []


def test_every_registry_url_is_https() -> None:
    urls = _urls(yaml.safe_load((SRC / "data" / "acquire" / "registry.yaml").read_text(encoding="utf-8")))
    assert len(urls) > 10
    assert [u for u in urls if u is not None and not u.startswith("https://")] == []


def test_registry_refuses_an_http_url() -> None:
    raw = yaml.safe_load((SRC / "data" / "acquire" / "registry.yaml").read_text(encoding="utf-8"))
    downgraded = copy.deepcopy(raw)
    spec = downgraded["datasets"]["ucf101"]["files"][0]
    spec["url"] = spec["url"].replace("https://", "http://")
    parse_registry(raw)
    with pytest.raises(RegistryError, match="https"):
        parse_registry(downgraded)


def test_check_url_refuses_http_unless_the_host_is_allowed() -> None:
    check_url("https://example.org/a.zip")
    check_url("http://127.0.0.1:8000/a.zip", allow_insecure={"127.0.0.1"})
    for url, allowed in [
        ("http://example.org/a.zip", ()),
        ("http://example.org/a.zip", {"127.0.0.1"}),
        ("ftp://example.org/a.zip", {"example.org"}),
        ("file:///etc/passwd", ()),
        ("https:///no-host", ()),
    ]:
        with pytest.raises(DownloadError, match="https"):
            check_url(url, allowed)
