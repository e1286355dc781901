"""Shared test helpers: the repository root and a way to run the project's tools from its virtualenv."""

from __future__ import annotations

import contextlib
import json
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


# Modules that mostly wait (for the SLURM scheduler's status checks): `make test` starts them first, so its
# second worker runs the rest of the suite meanwhile.
FIRST = ("tests/integration/test_slurm.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests of FIRST to the front, keeping every other test's order. Under pytest-xdist
    (`--dist loadfile --no-loadscope-reorder`) modules are handed to workers in this order."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in FIRST)


@dataclass(frozen=True)
class TinyDims:
    """The demo CLIP's sizes, read from its open_clip config, so shape tests follow the config."""

    width: int  # vision and text residual width
    heads: int  # vision heads
    head_width: int
    joint: int  # joint embedding space

    @classmethod
    def load(cls) -> TinyDims:
        cfg = json.loads((ROOT / "src/vifi/models/configs/vifi-tiny.json").read_text())
        vision = cfg["vision_cfg"]
        if vision["width"] != cfg["text_cfg"]["width"]:
            raise ValueError("vifi-tiny.json: the shape tests assume equal vision and text widths")
        return cls(
            vision["width"], vision["width"] // vision["head_width"], vision["head_width"], cfg["embed_dim"]
        )


TINY = TinyDims.load()


@contextlib.contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """Serve requests from a daemon thread for the duration of the block, then shut the server down."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def tool_env(cwd: Path | None = None) -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin first, a fixed git identity, no analytics.

    With `cwd`, the `vifi` package is imported from `cwd/src`, so a copied checkout runs its own code.
    """
    env = dict(os.environ)
    if cwd is not None and (cwd / "src" / "vifi").is_dir():
        env["PYTHONPATH"] = str(cwd / "src")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        GIT_AUTHOR_NAME="vifi-tests",
        GIT_AUTHOR_EMAIL="tests@vifi.invalid",
        GIT_COMMITTER_NAME="vifi-tests",
        GIT_COMMITTER_EMAIL="tests@vifi.invalid",
        DVC_NO_ANALYTICS="1",
    )
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a command, returning its combined output; on failure the output is in the assertion message."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=tool_env(cwd), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for a module of tiny-model tests: their ops are too small to split, so extra threads
    only add contention on shared cores. Restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def root() -> Path:
    return ROOT


def tiny_world(
    root: Path,
    *,
    classes: int,
    train_per_class: tuple[int, int] = (1, 1),
    val_per_class: int = 1,
    height: int = 36,
    width: int = 48,
    frames: int = 8,
    short_side: int = 36,
    codec: str = "jpeg",
    videos: int | None = None,
) -> dict:
    """A synthetic downstream dataset, a one-shard frame store of its first `videos` videos, a random tiny CLIP.

    The engine tests need real encoded videos, a real store and real weights, but small enough to build in a
    second; building them in one place keeps every test on the same code path as the pipeline.
    """
    import torch

    from vifi.data.frames.extract import extract_shard
    from vifi.data.frames.shards import list_videos
    from vifi.data.lists.lists import build_lists
    from vifi.data.synthetic.synthesize import generate_dataset
    from vifi.models.pretrained import build_clip, save_weights

    raw = root / "raw"
    # Kinetics' format names videos in its lists by their keys, so the lists need no resolution step here.
    generate_dataset(
        raw, name="ucf101", fmt="kinetics", role="downstream", classes=classes, train_per_class=train_per_class,
        val_per_class=val_per_class, splits=1, seed=0, height=height, width=width, frames=frames, fps=8,
    )  # fmt: skip
    notes = root / "lists"
    build_lists("kinetics", raw, raw / "labels.csv", notes)
    keys = list_videos(raw / "videos")[:videos]
    shard = root / "frames.bin"
    extract_shard(raw / "videos", keys, shard, short_side=short_side, codec=codec, progress=False)
    torch.manual_seed(0)
    save_weights(build_clip("vifi-tiny")[0], root / "clip.pt")
    return {
        "root": root, "raw": raw, "keys": keys, "shard": shard, "weights": root / "clip.pt",
        "labels": notes / "labels.csv", "train": notes / "train1.txt", "val": notes / "val1.txt",
    }  # fmt: skip


def tar_gz(members: dict[str, bytes]) -> bytes:
    """A gzipped tarball of `{member name: bytes}`, as the publishers' archives are packed."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An 8-class synthetic dataset, its frame store, base-to-novel splits (4 base classes) and a tiny CLIP.

    Shared by the training tests (resume, DDP, kill points) so the session builds it once.
    """
    from vifi.data.lists.splits import write_base2novel

    world = tiny_world(
        tmp_path_factory.mktemp("tiny run"), classes=8, train_per_class=(6, 6), val_per_class=2, height=48,
        width=64, frames=16,
    )  # fmt: skip
    splits = world["root"] / "splits"
    write_base2novel(world["labels"], world["train"], world["val"], splits, shots=4, seeds=[1])
    return {
        "root": world["root"], "shard": world["shard"], "weights": world["weights"],
        "train": splits / "fs_base_s1_train.txt", "labels": splits / "base_labels.csv",
    }  # fmt: skip


# What `vifi train`, `evaluate` and `embed` defaulted to before every flag that changes a result became required
# (the released recipe, METHODS.md §3-§4), for tests that name only the flags they are about.
RELEASED_FLAGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "train": (
        ("--weight-decay", "0.001"), ("--betas", "0.9", "0.98"), ("--no-decay-exclusions",),
        ("--warmup-jump",), ("--min-lr-ratio", "0.01"), ("--normalize", "imagenet"), ("--augment", "vifi"),
        ("--sampling", "segment"), ("--stride", "1"), ("--label-smoothing", "0.1"), ("--mixup", "0.8"),
        ("--cutmix", "1.0"), ("--mixup-switch-prob", "0.5"), ("--hflip", "0.5"), ("--color-jitter", "0.8"),
        ("--grayscale", "0.2"), ("--rng-seed", "1024"), ("--warmup-epochs", "5"),
    ),
    "evaluate": (
        ("--normalize", "imagenet"), ("--sampling", "segment"), ("--stride", "1"), ("--batch-size", "16"),
    ),
    "embed": (("--normalize", "imagenet"), ("--sampling", "segment"), ("--stride", "1")),
}  # fmt: skip
EVL_LAYERS = ("--evl-layers", "4")


def with_released_flags(stage: str, argv: list[str]) -> list[str]:
    """`argv` with each of the stage's `RELEASED_FLAGS` it lacks put first, where they apply to every
    `--dataset` section; EVL also gets its decoder depth."""
    given = {arg.split("=")[0].replace("--no-", "--") for arg in argv if arg.startswith("--")}
    evl = "--method" in argv and argv[argv.index("--method") + 1] == "evl"
    wanted = [*RELEASED_FLAGS[stage], EVL_LAYERS] if evl else RELEASED_FLAGS[stage]
    missing = [part for flag in wanted if flag[0].replace("--no-", "--") not in given for part in flag]
    return [*missing, *argv]


def train_args(
    run: dict, out: Path, *, epochs: int = 4, train_list: Path | None = None, resume_interval: float = 0
) -> list[str]:
    """`vifi train` arguments for `tiny_run` with every random augmentation on, writing under `out`; a resume
    point after every epoch unless `resume_interval` says otherwise."""
    return [
        "train", *with_released_flags("train", [
        "--frames", str(run["shard"]), "--train-list", str(train_list or run["train"]),
        "--labels", str(run["labels"]), "--weights", str(run["weights"]), "--arch", "vifi-tiny",
        "--method", "vifi", "--num-frames", "4", "--epochs", str(epochs), "--warmup-epochs", "1",
        "--lr", "1e-3", "--batch-size", "4", "--effective-batch", "4", "--mixup", "0.8", "--cutmix", "1.0",
        "--hflip", "0.5", "--threads", "1", "--out", str(out / "model.pt"), "--log-csv", str(out / "log.csv"),
        "--resume-interval", str(resume_interval),
    ])]  # fmt: skip


def assert_same_weights(a: Path, b: Path) -> None:
    """Every tensor of the two checkpoints is bit-identical."""
    import torch

    from vifi.models.pretrained import read_state_dict

    sa, sb = read_state_dict(a), read_state_dict(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def assert_same_training(a: Path, b: Path, initial: Path) -> None:
    """Two checkpoints of one recipe trained with different process counts are equal up to reduction order,
    and training moved them away from `initial`.

    The key bias of attention is left out: it shifts every logit of a softmax row equally, so its exact
    gradient is zero, and Adam scales the rounding noise left there up to LR-sized steps, differently per
    reduction order.
    """
    import torch

    from vifi.models.pretrained import read_state_dict

    sa, sb, start = read_state_dict(a), read_state_dict(b), read_state_dict(initial)
    assert sa.keys() == sb.keys()
    moved = sum(not torch.equal(sa[k], start[k]) for k in sa)
    assert moved > 10, "training did not change the weights"
    for key in sa:
        x, y = sa[key], sb[key]
        if key.endswith("attn.in_proj_bias"):
            x, y = torch.cat([x.chunk(3)[0], x.chunk(3)[2]]), torch.cat([y.chunk(3)[0], y.chunk(3)[2]])
        torch.testing.assert_close(y, x, rtol=1e-4, atol=2e-5, msg=key)
