"""Provenance for every number: the full recipe, the inputs by hash, the code, the packages and the machine.

The papers' code leaves readers unable to tell which seeds or versions were used; each of our metrics files
answers that on its own, in one schema (`SCHEMA`):

- `params`: the evaluation's settings and `argv`, the `vifi evaluate` command of this run alone;
- `train`: the record `vifi train` stored in the evaluated checkpoint (its resolved arguments with their real
  types, its argv, its inputs by hash, its environment), and in turn the record of the weights it started from
  (`train.initial`: the demo CLIP's pretraining, or the bridge for prompting); `None` for a file without one;
- `inputs`: the sha256 of the evaluated weights, of the frame-store manifest and of every list and label file;
- `seeds`: the training seed and the pretraining seed behind it;
- the environment: `git` (commit, dirty flag, hash of the diff), every installed package's version, the
  lock file's hash, and the machine (`hardware`: CPU model and ISA, GPU, CUDA, cuDNN, threads).

`vifi rerun` rebuilds both commands from this record alone (`vifi.stages.argtypes.command_line`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.metadata as md
import platform
import subprocess
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vifi import kernels

SCHEMA = 2
PACKAGE_DIR = Path(__file__).resolve().parent
# The lock file `make setup` installs from (relative to the checkout); its hash names the whole environment.
LOCK_FILE = "requirements.lock"
_CHUNK = 1 << 20


def plain(value: Any) -> Any:
    """`value` as JSON keeps it: paths as text, tuples as lists, containers recursively; numbers, booleans and
    None as themselves (never their repr)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def sha256(path: str | Path) -> str:
    """The file's sha256, read in chunks (checkpoints are hundreds of megabytes in paper mode)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_record(path: str | Path) -> dict[str, str]:
    """A file's path as given and its sha256."""
    return {"path": str(path), "sha256": sha256(path)}


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode("utf-8", "replace")


def git_state(cwd: str | Path = PACKAGE_DIR) -> dict[str, Any]:
    """The code's commit, whether tracked files differ from it, and the sha256 of that diff (None when clean).

    Read where the package's source is, so a run records the code it ran, whatever its working directory.
    """
    commit = _git(["rev-parse", "HEAD"], Path(cwd))
    if commit is None:
        return {"commit": "unknown", "dirty": None, "diff_sha256": None}
    diff = _git(["diff", "HEAD", "--no-ext-diff", "--binary"], Path(cwd)) or ""
    return {
        "commit": commit.strip(),
        "dirty": bool(diff),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
    }


def git_commit(state: Mapping[str, Any]) -> str:
    """The commit as one word, with `-dirty` when the tree had local changes."""
    return f"{state['commit']}-dirty" if state["dirty"] else str(state["commit"])


def package_versions() -> dict[str, str]:
    """The version of every installed distribution, transitive dependencies included, by normalised name."""
    versions = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            versions[name.lower().replace("_", "-")] = dist.version
    return dict(sorted(versions.items()))


def lock_record(root: str | Path = PACKAGE_DIR.parents[1]) -> dict[str, str] | None:
    """The lock file the environment was installed from, by hash; None outside a checkout that has one."""
    path = Path(root) / LOCK_FILE
    return {"path": LOCK_FILE, "sha256": sha256(path)} if path.is_file() else None


def cpu_model() -> str:
    """The CPU's marketing name (Linux: /proc/cpuinfo), else what the platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hardware(device: torch.device) -> dict[str, Any]:
    """The machine a number was computed on: the CPU and the vector ISA torch's kernels use (a different ISA
    can change the last bits of a float result) and the variables that pin or limit it (`vifi.kernels`), the
    GPU, CUDA and cuDNN, and the thread count."""
    cuda = device.type == "cuda"
    return {
        "device": device.type,
        "cpu": cpu_model(),
        "isa": f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}",
        "kernel_env": kernels.current(),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def describe(hw: Mapping[str, Any]) -> str:
    """One line for tables of runs: the GPU, or the CPU with its ISA and threads."""
    if hw["gpu"]:
        return f"cuda:{hw['gpu']} (CUDA {hw['cuda']}, cuDNN {hw['cudnn']})"
    return f"cpu {hw['cpu']} [{hw['isa']}] ({hw['threads']} threads)"


def environment(device: torch.device) -> dict[str, Any]:
    """Code, packages, lock and machine: what a training or evaluation ran with."""
    state = git_state()
    hw = hardware(device)
    return {
        "git": state,
        "git_commit": git_commit(state),
        "packages": package_versions(),
        "lock": lock_record(),
        "hardware": hw,
        "device": describe(hw),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def checkpoint_record(path: str | Path) -> dict[str, Any] | None:
    """The record a checkpoint was saved with (`save_weights(..., **meta)`), or None (an OpenAI or open_clip
    file, or one saved without a record). Tensors are mapped, not read."""
    path = Path(path)
    if zipfile.is_zipfile(path) and any("/code/" in n for n in zipfile.ZipFile(path).namelist()):
        return None  # a TorchScript archive (OpenAI's release) carries no record
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # an unreadable file has no record; loading the weights reports why
        return None
    meta = obj.get("meta") if isinstance(obj, dict) else None
    return plain(meta) if isinstance(meta, dict) and meta else None


def settings(config: Any) -> dict[str, Any]:
    """A run's settings dataclass as one flat mapping, in field order, its model `options` spliced in where they
    stand: the names and values its command line's flags have, which is how records and fingerprints name them.
    """
    flat: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name == "options":
            flat.update(value)
        else:
            flat[field.name] = value
    return flat


def train_record(argv: Sequence[str], args: Mapping[str, Any], inputs: Mapping[str, Any], **extra: Any) -> dict:
    """What `vifi train` stores in its checkpoint: its argv, every setting (`settings`) with its real type, its
    inputs by hash, the record of its initial weights, and its environment (`extra` adds run facts such as
    world size)."""
    return {
        "stage": "train",
        "argv": list(argv),
        "args": plain(args),
        "inputs": plain(inputs),
        "initial": checkpoint_record(args["weights"]),
        **plain(extra),
    }


def files_record(paths: Iterable[str | Path]) -> list[dict[str, str]]:
    return [file_record(p) for p in paths]


def seeds(train: Mapping[str, Any] | None) -> dict[str, int | None]:
    """The training seed and the pretraining seed behind it, along the chain of checkpoint records."""
    found: dict[str, int | None] = {"train": None, "pretrain": None}
    record = train
    while record:
        if record.get("stage") == "train" and found["train"] is None:
            found["train"] = record["args"]["rng_seed"]
        if record.get("stage") == "pretrain":
            found["pretrain"] = record.get("seed")
        record = record.get("initial")
    return found


def record(
    params: Mapping[str, Any],
    argv: Sequence[str],
    inputs: Mapping[str, Any],
    device: torch.device,
) -> dict[str, Any]:
    """The provenance block of one run's metrics file (see the module docstring); `params` are the evaluation's
    settings (`settings`)."""
    train = checkpoint_record(params["weights"])
    return {
        "schema": SCHEMA,
        "params": plain(params),
        "argv": list(argv),
        "train": train,
        "inputs": plain(inputs),
        "seeds": seeds(train),
        **environment(device),
    }
