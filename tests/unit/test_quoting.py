"""Every value and path from params reaches its stage as exactly one argument (dry runs only).

Paths with a space and `; echo INJECTED` in a folder name are given to every key that names a file or folder;
each printed shell command is split as the shell splits it (`shlex.split`), and each value must come back as
one word after its flag, with no command of its own.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run

BAD = "my dir; echo INJECTED"


def shell_commands(override: dict, tmp_path: Path) -> list[list[str]]:
    """The shell commands of a forced dry run of everything under `override`, each split into words."""
    config = tmp_path / "override.yaml"
    config.write_text(yaml.safe_dump(override))
    proc = run(["snakemake", "-n", "-F", "-p", "all", "--configfile", str(config)], cwd=ROOT)
    prefix = "Shell command: "
    return [shlex.split(line[len(prefix) :]) for line in proc.stdout.splitlines() if line.startswith(prefix)]


def stage(commands: list[list[str]], *words: str) -> list[list[str]]:
    """The commands that contain every one of `words` (e.g. `vifi train` and `--method prompt`)."""

    def has(words_of: list[str], phrase: str) -> bool:
        parts = phrase.split()
        return any(words_of[i : i + len(parts)] == parts for i in range(len(words_of)))

    return [c for c in commands if all(has(c, w) for w in words)]


def after(command: list[str], flag: str) -> list[str]:
    """The word after each occurrence of `flag`."""
    return [command[i + 1] for i, word in enumerate(command[:-1]) if word == flag]


def assert_no_injection(commands: list[list[str]]) -> None:
    """A value split by the shell would leave `echo` before `INJECTED` and the folder name in pieces."""
    assert commands
    for command in commands:
        for i, word in enumerate(command):
            if "INJECTED" in word:
                assert BAD in word, (word, command)
                assert command[i - 1] != "echo", command


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    """Existing files and folders under a folder named `BAD` (the DAG needs its inputs to exist)."""
    root = tmp_path_factory.mktemp("quoting") / BAD
    root.mkdir()
    files = {name: root / name for name in ("ViT tiny.pt", "bridge vifi.pt", "train list.txt", "val list.txt")}
    for path in files.values():
        path.touch()
    shutil.copy(ROOT / "src/vifi/data/acquire/registry.yaml", root / "registry.yaml")
    return {
        "official": str(root / "official"),
        "weights": str(files["ViT tiny.pt"]),
        "bridge": str(files["bridge vifi.pt"]),
        "registry": str(root / "registry.yaml"),
        "manual_dir": str(root / "manual"),
        "cache": str(root / "archives"),
        "train": str(files["train list.txt"]),
        "val": str(files["val list.txt"]),
        "labels": str(root / "labels.csv"),
    }


@pytest.fixture(scope="module")
def commands(paths: dict[str, str], tmp_path_factory) -> list[list[str]]:
    """Paper-mode paths for every path-valued key, ucf101 downloaded, k400's fully supervised lists given."""
    override = {
        "official": paths["official"],
        "model": {"arch": "openai", "weights": paths["weights"]},
        "bridge": {"weights": paths["bridge"]},
        "data": {
            "source": {"ucf101": "real"},
            "registry": paths["registry"],
            "manual_dir": paths["manual_dir"],
            "cache": paths["cache"],
        },
        "fullsup": {"lists": {"k400": {k: paths[k] for k in ("train", "val", "labels")}}},
    }
    return shell_commands(override, tmp_path_factory.mktemp("override"))


def test_no_value_is_split_or_run_as_a_command(commands) -> None:
    assert_no_injection(commands)


def test_official_lists_reach_splits_and_protocols_as_one_argument(commands, paths) -> None:
    for name in ("vifi splits", "--protocol fewshot", "--protocol zeroshot"):
        staged = stage(commands, name, "--official")
        assert staged, name
        assert all(after(c, "--official") == [paths["official"]] for c in staged), name


def test_given_fully_supervised_lists_reach_protocols_as_one_argument_each(commands, paths) -> None:
    (k400,) = stage(commands, "--protocol fullsup", "--videos data/raw/k400/videos")
    assert [after(k400, f) for f in ("--labels", "--train-list", "--val-list")] == [
        [paths["labels"]],
        [paths["train"]],
        [paths["val"]],
    ]


def test_pretrained_and_bridge_weights_reach_every_stage_as_one_argument(commands, paths) -> None:
    weights = paths["weights"]
    for words in (("vifi train", "--method vifi"), ("vifi train", "--method evl"),
                  ("vifi evaluate", "--method vanilla"), ("vifi embed", "--method vanilla")):  # fmt: skip
        staged = stage(commands, *words)
        assert staged and all(after(c, "--weights") == [weights] for c in staged), words
    (counted,) = stage(commands, "vifi flops")
    assert after(counted, "--weights") == [weights] and after(counted, "--arch") == ["openai"]
    prompting = stage(commands, "vifi train", "--method prompt")
    assert prompting and all(after(c, "--weights") == [paths["bridge"]] for c in prompting)


def test_registry_manual_dir_and_cache_reach_download_as_one_argument_each(commands, paths) -> None:
    (download,) = stage(commands, "vifi download", "--dataset ucf101")
    assert [after(download, f) for f in ("--registry", "--manual-dir", "--cache")] == [
        [paths["registry"]],
        [paths["manual_dir"]],
        [paths["cache"]],
    ]


def test_an_architecture_name_reaches_pretraining_and_every_model_stage_as_one_argument(tmp_path) -> None:
    arch = f"tiny {BAD}"
    commands = shell_commands({"model": {"arch": arch, "weights": None}}, tmp_path)
    assert_no_injection(commands)
    (pretrain,) = stage(commands, "vifi pretrain")
    assert after(pretrain, "--arch") == [arch] and after(pretrain, "--out") == [
        f"checkpoints/pretrained/{arch}.pt"
    ]
    for name in ("vifi train", "vifi evaluate", "vifi embed", "vifi flops"):
        staged = stage(commands, name)
        assert staged and all(after(c, "--arch") == [arch] for c in staged), name
