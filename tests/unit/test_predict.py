"""`vifi predict`: top-k tables and JSON, agreement with the evaluation path, per-file errors, class names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from tests.conftest import tiny_world
from vifi.data.frames.dataset import ClipDataset
from vifi.data.frames.decode import VideoDecodeError
from vifi.data.frames.store import FrameStore
from vifi.data.frames.transforms import NORMALIZATION, eval_transform, scale_size
from vifi.data.lists.annotations import Item
from vifi.engine import evaluate, predict
from vifi.models.factory import ModelSpec, build_model
from vifi.stages import predict as predict_stage

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAMES = ["red circle", "blue square", "green triangle"]
INPUT = 32  # vifi-tiny's input size


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict:
    """Two 48x64 synthetic videos, their raw-codec frame store at the demo's short side, a random tiny CLIP."""
    world = tiny_world(
        tmp_path_factory.mktemp("predict"), classes=2, height=48, width=64, frames=16,
        short_side=scale_size(INPUT), codec="raw", videos=2,
    )  # fmt: skip
    return {
        "keys": world["keys"],
        "paths": [world["raw"] / "videos" / k for k in world["keys"]],
        "shard": world["shard"],
        "weights": world["weights"],
    }


def run_predict(videos: dict, paths: list[Path], *extra: str) -> int:
    """`vifi predict` in this process with the fixture's random tiny CLIP and 4 frames."""
    return predict_stage.main(
        [*map(str, paths), "--checkpoint", str(videos["weights"]), "--num-frames", "4", *extra]
    )


def parse_tables(out: str) -> dict[str, list[tuple[str, float]]]:
    """`{video: [(class, probability), ...]}` from the readable output."""
    tables: dict[str, list[tuple[str, float]]] = {}
    for line in out.splitlines():
        if not line.startswith(" "):
            video = line
            tables[video] = []
        elif line.split()[0] != "rank":
            _, prob, name = line.split(maxsplit=2)
            tables[video].append((name, float(prob)))
    return tables


def test_table_lists_top_k_sorted_per_video_and_reports_unreadable_files(
    videos: dict, tmp_path: Path, capsys
) -> None:
    """A missing and a corrupt file get an error naming them; the videos around them are still scored."""
    missing, corrupt = tmp_path / "missing.mp4", tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01 not a video container " * 64)
    good = videos["paths"]
    labels = " red circle,blue square , green triangle"
    assert run_predict(videos, [good[0], missing, corrupt, good[1]], "--labels", labels, "--top-k", "2") == 1
    captured = capsys.readouterr()
    tables = parse_tables(captured.out)
    assert list(tables) == [str(good[0]), str(good[1])]
    for rows in tables.values():
        assert len(rows) == 2 and {name for name, _ in rows} <= set(NAMES)
        probs = [p for _, p in rows]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-4
    errors = captured.err.splitlines()
    assert any(str(missing) in e and "No such file" in e for e in errors), captured.err
    assert any(str(corrupt) in e and "unreadable" in e for e in errors), captured.err


class OnlyGood:
    """Stub predictor: scores `good.mp4`, fails to decode anything else."""

    def top(self, video: Path, k: int) -> list[tuple[str, float]]:
        if video.name != "good.mp4":
            raise VideoDecodeError(video, "no frames decoded")
        return [("a", 0.75), ("b", 0.25)][:k]


def test_records_carry_scores_or_the_error_in_input_order() -> None:
    records = list(predict.predict_all(OnlyGood(), [Path("bad.mp4"), Path("good.mp4")], 1))
    assert records == [
        {"video": "bad.mp4", "error": "cannot decode bad.mp4: no frames decoded"},
        {"video": "good.mp4", "top": [{"label": "a", "probability": 0.75}]},
    ]


def test_probabilities_equal_evaluation_of_the_same_files(videos: dict, capsys) -> None:
    """Same decoder, short side, centre-of-segment frames and transform as `vifi evaluate` on a raw store."""
    assert run_predict(videos, videos["paths"], "--labels", ",".join(NAMES), "--top-k", "3", "--json") == 0
    records = json.loads(capsys.readouterr().out)

    model = build_model(ModelSpec("vifi", "vifi-tiny", 4), videos["weights"], trained=True).eval()
    mean, std = NORMALIZATION["imagenet"]
    items = [Item(key, 0) for key in videos["keys"]]
    dataset = ClipDataset(
        FrameStore([videos["shard"]]),
        items,
        4,
        eval_transform(INPUT, 1, mean=mean, std=std),
        False,
        num_clips=1,
    )
    with torch.no_grad():
        text = model.encode_text(model.tokenize(NAMES))
    expected, _ = evaluate.score(model, DataLoader(dataset, batch_size=2), text, torch.device("cpu"))

    assert [r["video"] for r in records] == [str(p) for p in videos["paths"]]
    for record, reference in zip(records, expected, strict=True):
        assert len(record["top"]) == 3
        probs = [entry["probability"] for entry in record["top"]]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1, abs=1e-5)
        got = torch.tensor([probs[[e["label"] for e in record["top"]].index(name)] for name in NAMES])
        torch.testing.assert_close(got, reference, rtol=0, atol=1e-5)
    assert not torch.allclose(expected[0], expected[1], atol=1e-3), "the two videos should score differently"


def test_class_names_are_stripped_and_must_be_distinct_and_non_empty(tmp_path: Path, capsys) -> None:
    assert predict.check_labels([" a ", "b\t"], "--labels") == ["a", "b"]
    with pytest.raises(predict.LabelError, match="class name 2 of 3 is empty"):
        predict.check_labels(["a", " ", "b"], "--labels")
    with pytest.raises(predict.LabelError, match=r"repeated: a$"):
        predict.check_labels(["a", "b", " a"], "--labels")

    listed = tmp_path / "names.txt"
    listed.write_text("archery\nbowling\n")
    assert predict.labels_from_file(listed) == ["archery", "bowling"]
    csv = tmp_path / "labels.csv"
    csv.write_text("id,name\n0,archery\n1,archery\n")
    with pytest.raises(predict.LabelError, match=r"labels\.csv.*repeated: archery"):
        predict.labels_from_file(csv)

    with pytest.raises(SystemExit) as exc:
        predict_stage.main(["clip.mp4", "--labels", "a,,b"])
    assert exc.value.code == 2 and "empty" in capsys.readouterr().err


def test_default_checkpoint_is_the_demo_vifi_clip_else_vanilla_clip(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    given = tmp_path / "mine.pt"
    assert predict.resolve_checkpoint(given, "text") == (given, "text")
    assert predict.resolve_checkpoint(None, "vifi") == (predict.PRETRAINED_CHECKPOINT, "vanilla")
    assert "as vanilla CLIP" in capsys.readouterr().err
    predict.DEMO_CHECKPOINT.parent.mkdir(parents=True)
    predict.DEMO_CHECKPOINT.touch()
    assert predict.resolve_checkpoint(None, "vifi") == (predict.DEMO_CHECKPOINT, "vifi")
    assert capsys.readouterr().err == ""


def test_video_names_beginning_with_a_dash_are_videos(videos: dict, tmp_path: Path, monkeypatch, capsys):
    """A Kinetics id such as `--coBvtS-eQ_000010_000020.mp4` scores as its file; after `--` all are videos."""
    monkeypatch.chdir(tmp_path)
    dashed = "--coBvtS-eQ_000010_000020.mp4"
    shutil.copy(videos["paths"][0], dashed)
    shown = ["--labels", ",".join(NAMES), "--top-k", "3", "--json"]
    assert run_predict(videos, [videos["paths"][0], Path(dashed)], *shown) == 0
    plain, named = json.loads(capsys.readouterr().out)
    assert named == {**plain, "video": dashed}

    options = ["--checkpoint", str(videos["weights"]), "--num-frames", "4", *shown]
    assert predict_stage.main([*options, "--", dashed, "-missing.mp4"]) == 1
    captured = capsys.readouterr()
    scored, missing = json.loads(captured.out)
    assert scored == named
    assert missing["video"] == "-missing.mp4" and "No such file" in missing["error"]
    assert "vifi predict: cannot decode -missing.mp4" in captured.err


def test_only_existing_dash_files_and_arguments_after_the_end_of_options_are_shielded(
    tmp_path: Path, monkeypatch
) -> None:
    """An option, even one named like an existing file, stays an option; `--` itself is dropped."""
    monkeypatch.chdir(tmp_path)
    for name in ("-a.mp4", "--json", "b.mp4"):
        Path(name).touch()
    argv = ["-a.mp4", "--json", "--labels=x", "-gone.mp4", "b.mp4", "--", "-c.mp4", "d.mp4", "--"]
    shielded = predict_stage.shield_dash_videos(argv, {"--json", "--labels"})
    assert shielded == ["./-a.mp4", "--json", "--labels=x", "-gone.mp4", "b.mp4", "./-c.mp4", "d.mp4", "./--"]


def test_help_documents_names_beginning_with_a_dash() -> None:
    text = predict_stage.build_parser().format_help()
    assert "'--' ends the options, and every argument after it is a video:" in text
    assert "vifi predict --labels archery,bowling -- --coBvtS-eQ_000010_000020.mp4" in text
