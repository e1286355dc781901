"""`vifi rerun` re-creates a run's numbers from its metrics.json alone, bit for bit on the same machine, and
refuses when an input no longer has its recorded hash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import assert_same_weights, train_args, with_released_flags
from vifi.__main__ import main as vifi_main
from vifi.stages import evaluate as evaluate_stage
from vifi.stages import rerun as rerun_stage
from vifi.stages import train as train_stage


@pytest.fixture(scope="module")
def finished(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> Path:
    """A tiny ViFi-CLIP run trained (every random augmentation on) and evaluated on base and novel classes,
    on its own copy of the training list."""
    out = tmp_path_factory.mktemp("finished")
    train_list = out / "train.txt"
    shutil.copy(tiny_run["train"], train_list)
    assert train_stage.main(train_args(tiny_run, out, epochs=2, train_list=train_list)[1:]) == 0
    splits = tiny_run["root"] / "splits"
    argv = [
        *("--frames", str(tiny_run["shard"]), "--weights", str(out / "model.pt"), "--arch", "vifi-tiny"),
        *("--method", "vifi", "--num-frames", "4", "--threads", "1", "--batch-size", "4"),
        *("--eval", "base", str(splits / "base_val.txt"), str(splits / "base_labels.csv")),
        *("--eval", "novel", str(splits / "novel_val.txt"), str(splits / "novel_labels.csv")),
        *("--protocol", "base2novel", "--dataset", "ucf101", "--run-name", "seed1"),
        *("--out", str(out / "metrics.json"), "--predictions", str(out / "predictions.csv")),
    ]
    assert evaluate_stage.main(with_released_flags("evaluate", argv)) == 0
    return out


def test_a_rerun_on_the_same_machine_is_bit_identical(finished: Path, tmp_path: Path, capsys) -> None:
    threads = torch.get_num_threads()
    try:
        code = vifi_main(["rerun", str(finished / "metrics.json"), "--scratch", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert code == 0, out
    assert_same_weights(finished / "model.pt", tmp_path / "model.pt")
    old, new = (json.loads((d / "metrics.json").read_text()) for d in (finished, tmp_path))
    assert new["metrics"] == old["metrics"]
    assert (tmp_path / "predictions.csv").read_bytes() == (finished / "predictions.csv").read_bytes()
    assert out.count(" yes") == 10 and " NO" not in out and "environment: as recorded" in out


def test_a_different_number_is_reported_with_exit_status_1(finished: Path, tmp_path: Path, capsys) -> None:
    record = json.loads((finished / "metrics.json").read_text())
    record["metrics"]["novel"]["top1"] += 12.5
    tampered = tmp_path / "metrics.json"
    tampered.write_text(json.dumps(record))
    threads = torch.get_num_threads()
    try:
        code = rerun_stage.main([str(tampered), "--scratch", str(tmp_path / "scratch")])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert code == 1
    (line,) = [row for row in out.splitlines() if row.startswith("novel") and " top1 " in row]
    assert line.split()[-1] == "NO" and float(line.split()[2]) - float(line.split()[3]) == 12.5


def test_a_changed_input_stops_the_rerun_and_is_named(finished: Path, tmp_path: Path, capsys) -> None:
    train_list = finished / "train.txt"
    original = train_list.read_bytes()
    try:
        train_list.write_bytes(original + original.splitlines(keepends=True)[0])
        with pytest.raises(SystemExit) as exit_info:
            rerun_stage.main([str(finished / "metrics.json"), "--scratch", str(tmp_path)])
    finally:
        train_list.write_bytes(original)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"train train_list {train_list}: sha256 " in err and "recorded" in err
    assert not (tmp_path / "model.pt").exists()


def test_a_metrics_file_without_a_record_is_refused(tmp_path: Path, capsys) -> None:
    old = tmp_path / "metrics.json"
    old.write_text(json.dumps({"metrics": {}, "provenance": {"params": {}, "git_commit": "x"}}))
    with pytest.raises(SystemExit) as exit_info:
        rerun_stage.main([str(old)])
    assert exit_info.value.code == 2
    assert "provenance schema None, expected 2" in capsys.readouterr().err
