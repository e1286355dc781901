"""Evaluation: multi-view scoring, multi-view datasets, and torchrun evaluation that counts every video once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from tests.conftest import tiny_world, tool_env, with_released_flags
from vifi import metrics
from vifi.data.frames.dataset import ClipDataset, view_generator
from vifi.data.frames.sampling import dense_test_indices, dense_train_indices, train_indices
from vifi.data.frames.sampling import test_indices as centre_indices
from vifi.data.frames.store import FrameStore
from vifi.data.frames.transforms import EvalTransform, ThreeCropTransform
from vifi.data.lists.annotations import read_labels, read_list
from vifi.engine import evaluate
from vifi.models.factory import ModelSpec, build_model
from vifi.models.pretrained import build_clip, save_weights
from vifi.report.predictions import read_predictions
from vifi.stages import evaluate as evaluate_stage

FRAMES = 12
VIDEOS = 7


@pytest.fixture(scope="module")
def eval_set(tmp_path_factory) -> dict:
    """7 synthetic videos of 4 classes (36x48, 12 frames) in a frame store, and a random tiny CLIP."""
    world = tiny_world(tmp_path_factory.mktemp("evaluate"), classes=4, val_per_class=2, frames=FRAMES)
    val = world["root"] / "val7.txt"
    val.write_text("".join(world["val"].read_text().splitlines(keepends=True)[:VIDEOS]))
    return {"shard": world["shard"], "list": val, "labels": world["labels"], "weights": world["weights"]}


def evaluate_args(data: dict, out: Path, *extra: str) -> list[str]:
    """One run's arguments; its per-video file is the metrics file's name with .csv."""
    return with_released_flags(
        "evaluate",
        [
            *("--frames", str(data["shard"]), "--weights", str(data["weights"])),
            *("--arch", "vifi-tiny", "--method", "vifi", "--num-frames", "4"),
            *("--eval", "val", str(data["list"]), str(data["labels"])),
            *("--batch-size", "2", "--threads", "1", "--protocol", "zeroshot", "--dataset", "ucf101"),
            *("--run-name", "seed1", "--out", str(out), "--predictions", str(out.with_suffix(".csv"))),
            *extra,
        ],
    )


def evaluate_here(args: list[str]) -> dict:
    """Run `vifi evaluate` in this process (no torchrun), keeping the test session's thread count."""
    threads = torch.get_num_threads()
    try:
        evaluate_stage.main(args)
    finally:
        torch.set_num_threads(threads)
    return json.loads(Path(args[args.index("--out") + 1]).read_text())


class FirstPixels(nn.Module):
    """Stub model: the logits of a clip are its first K values, scaled, so each view scores differently."""

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return 3 * video.flatten(1)[:, : len(text)]


def test_score_is_the_mean_of_per_view_softmaxes() -> None:
    torch.manual_seed(0)
    batches = [
        (torch.randn(2, 6, 2, 3, 4, 4), torch.tensor([0, 4])),
        (torch.randn(1, 6, 2, 3, 4, 4), torch.tensor([1])),
    ]
    text = torch.zeros(5, 8)
    probs, labels = evaluate.score(FirstPixels(), batches, text, torch.device("cpu"))
    views = torch.cat([b[0] for b in batches])
    by_hand = torch.stack(
        [torch.stack([(3 * view.flatten()[:5]).softmax(0) for view in video]).mean(0) for video in views]
    )
    torch.testing.assert_close(probs, by_hand)
    assert labels.tolist() == [0, 4, 1]
    mean_logits = torch.stack([(3 * video.flatten(1)[:, :5]).mean(0).softmax(0) for video in views])
    assert not torch.allclose(probs, mean_logits, atol=1e-3), "views must be averaged after the softmax"


class CountingForwards(FirstPixels):
    """FirstPixels that records how many clips each forward receives."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(video))
        return super().forward(video, text)


def test_score_forwards_at_most_max_clips_and_scores_the_same() -> None:
    """A batch of 3 videos x 6 views is 18 clips: forwards of 4 give the scores of one forward of 18."""
    torch.manual_seed(0)
    batches = [(torch.randn(3, 6, 2, 3, 4, 4), torch.tensor([0, 4, 2]))]
    text = torch.zeros(5, 8)
    whole, chunked = CountingForwards(), CountingForwards()
    expected, _ = evaluate.score(whole, batches, text, torch.device("cpu"))
    probs, labels = evaluate.score(chunked, batches, text, torch.device("cpu"), max_clips=4)
    assert whole.sizes == [18] and chunked.sizes == [4, 4, 4, 4, 2]
    torch.testing.assert_close(probs, expected)
    assert labels.tolist() == [0, 4, 2]


def test_gathered_scores_are_put_in_list_order_and_must_cover_every_video_once() -> None:
    probs, labels = torch.eye(3), torch.tensor([0, 1, 2])
    ordered, ordered_labels = evaluate.in_list_order([2, 0, 1], probs, labels, 3, Path("val.txt"))
    assert ordered_labels.tolist() == [1, 2, 0] and torch.equal(ordered, probs[[1, 2, 0]])
    for indices in ([0, 1], [0, 1, 1], [0, 1, 2, 2]):
        with pytest.raises(evaluate.IncompleteEvaluationError, match=r"val\.txt"):
            evaluate.in_list_order(indices, probs[: len(indices)], labels[: len(indices)], 3, Path("val.txt"))


def test_segment_clips_are_centre_then_seeded_training_offsets(eval_set: dict) -> None:
    store = FrameStore([eval_set["shard"]])
    items = read_list(eval_set["list"], 4)
    frames = torch.from_numpy

    one = ClipDataset(store, items, 4, frames, train=False, num_clips=1)[3][0]
    np.testing.assert_array_equal(one.numpy(), store.read(items[3].path, centre_indices(FRAMES, 4))[None])

    clips = ClipDataset(store, items, 4, frames, train=False, num_clips=3)
    views = clips[5][0]
    assert views.shape == (3, 4, 36, 48, 3)
    drawn = [train_indices(FRAMES, 4, view_generator(5, c)) for c in range(3)]
    assert len({tuple(d) for d in drawn}) > 1, "clips of one video should draw different offsets"
    for view, indices in zip(views, drawn, strict=True):
        np.testing.assert_array_equal(view.numpy(), store.read(items[5].path, indices))
    again = ClipDataset(store, items, 4, frames, train=False, num_clips=3)[5][0]
    assert torch.equal(views, again)


def test_dense_clips_for_training_and_evaluation(eval_set: dict) -> None:
    store = FrameStore([eval_set["shard"]])
    items = read_list(eval_set["list"], 4)
    frames = torch.from_numpy
    views = ClipDataset(store, items, 4, frames, train=False, sampling="dense", stride=2, num_clips=2)[0][0]
    expected = dense_test_indices(FRAMES, 4, 2, 2)
    assert expected == [[0, 2, 4, 6], [5, 7, 9, 11]]
    np.testing.assert_array_equal(
        views.numpy(), store.read(items[0].path, expected[0] + expected[1]).reshape(views.shape)
    )

    train = ClipDataset(store, items, 4, frames, train=True, sampling="dense", stride=3)
    torch.manual_seed(1)
    indices = dense_train_indices(FRAMES, 4, 3)
    torch.manual_seed(1)
    np.testing.assert_array_equal(train[0][0].numpy(), store.read(items[0].path, indices))
    with pytest.raises(ValueError, match="num_clips"):
        ClipDataset(store, items, 4, frames, train=True, num_clips=2)
    with pytest.raises(ValueError, match="sampling"):
        ClipDataset(store, items, 4, frames, train=False, sampling="uniform")


def test_views_are_clip_major(eval_set: dict) -> None:
    store = FrameStore([eval_set["shard"]])
    items = read_list(eval_set["list"], 4)
    views = ClipDataset(store, items, 4, ThreeCropTransform(32), train=False, num_clips=2)[1][0]
    assert views.shape == (6, 4, 3, 32, 32)
    for clip in range(2):
        expected = ThreeCropTransform(32)(
            store.read(items[1].path, train_indices(FRAMES, 4, view_generator(1, clip)))
        )
        torch.testing.assert_close(views[3 * clip : 3 * clip + 3], expected, rtol=0, atol=0)


def test_one_view_reproduces_single_view_scoring(eval_set: dict, tmp_path: Path) -> None:
    """`vifi evaluate` with 1 clip x 1 crop gives the probabilities and metrics of plain centre-clip scoring."""
    result = evaluate_here(evaluate_args(eval_set, tmp_path / "metrics.json"))
    assert result.keys() == {"protocol", "dataset", "method", "run", "metrics", "predictions", "provenance"}
    entry = result["metrics"]["val"]
    assert entry["videos"] == VIDEOS and entry["classes"] == 4 and entry["views"] == {"clips": 1, "crops": 1}

    model = build_model(ModelSpec("vifi", "vifi-tiny", 4), eval_set["weights"], trained=True).eval()
    store = FrameStore([eval_set["shard"]])
    items = read_list(eval_set["list"], 4)
    single = ClipDataset(store, items, 4, EvalTransform(32), train=False)
    with torch.no_grad():
        text = model.encode_text(model.tokenize(read_labels(eval_set["labels"])))
        reference = torch.cat([model(clips, text).softmax(-1) for clips, _ in DataLoader(single, batch_size=2)])
    views = ClipDataset(store, items, 4, EvalTransform(32), train=False, num_clips=1)
    probs, labels = evaluate.score(model, DataLoader(views, batch_size=3), text, torch.device("cpu"))
    torch.testing.assert_close(probs, reference)
    assert labels.tolist() == [item.label for item in items]
    acc = metrics.topk_accuracy(reference, labels, ks=(1, 5))
    assert (entry["top1"], entry["top5"]) == (acc[1], acc[5])

    assert result["predictions"] == "metrics.csv"  # relative to the metrics file
    per_video = read_predictions(tmp_path / "metrics.csv")["val"]
    assert per_video.videos == tuple(item.path for item in items)
    assert per_video.labels.tolist() == labels.tolist()
    assert per_video.predictions.tolist() == reference.argmax(dim=1).tolist()
    np.testing.assert_allclose(per_video.probability, reference.max(dim=1).values.numpy(), atol=1e-6)
    assert (per_video.accuracy("top1"), per_video.accuracy("top5")) == (acc[1], acc[5])


def test_one_job_evaluates_several_runs_each_as_if_alone(eval_set: dict, tmp_path: Path) -> None:
    """Two runs (two models) in one call write the files that two separate calls write."""
    torch.manual_seed(2)
    other = tmp_path / "other.pt"
    save_weights(build_clip("vifi-tiny")[0], other)
    alone = [
        evaluate_here(evaluate_args(eval_set, tmp_path / "a.json")),
        evaluate_here([*evaluate_args(eval_set, tmp_path / "b.json"), "--weights", str(other)]),
    ]
    args = evaluate_args(eval_set, tmp_path / "unused.json")
    args[args.index("--weights") + 1 : args.index("--weights") + 2] = [str(eval_set["weights"]), str(other)]
    args[args.index("--run-name") + 1 : args.index("--run-name") + 2] = ["seed1", "seed2"]
    args[args.index("--out") + 1 : args.index("--out") + 2] = [
        str(tmp_path / "ga.json"),
        str(tmp_path / "gb.json"),
    ]
    args[args.index("--predictions") + 1 : args.index("--predictions") + 2] = [
        str(tmp_path / "ga.csv"),
        str(tmp_path / "gb.csv"),
    ]
    evaluate_here(args)
    together = [json.loads((tmp_path / name).read_text()) for name in ("ga.json", "gb.json")]
    assert [r["metrics"] for r in together] == [r["metrics"] for r in alone]
    assert [(tmp_path / f"g{x}.csv").read_text() for x in "ab"] == [
        (tmp_path / f"{x}.csv").read_text() for x in "ab"
    ]
    assert alone[0]["metrics"] != alone[1]["metrics"], "the two models must score differently"
    assert [r["run"] for r in together] == ["seed1", "seed2"]
    assert together[1]["provenance"]["params"]["weights"] == str(other)


def two_runs_args(data: dict, other: Path, folder: Path) -> list[str]:
    """`vifi evaluate` of two runs, the set's model and `other`, on the same set in one job."""
    args = evaluate_args(data, folder / "unused.json")
    for flag, values in (
        ("--weights", [str(data["weights"]), str(other)]),
        ("--run-name", ["seed1", "seed2"]),
        ("--out", [str(folder / "a.json"), str(folder / "b.json")]),
        ("--predictions", [str(folder / "a.csv"), str(folder / "b.csv")]),
    ):
        args[args.index(flag) + 1 : args.index(flag) + 2] = values
    return args


@pytest.mark.parametrize("budget, reads", [(evaluate.CLIP_CACHE_BYTES, 1), (0, 2)])
def test_runs_of_one_job_decode_a_shared_set_once_when_it_fits(
    eval_set: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int, reads: int
) -> None:
    """The second run scores the first run's decoded clips; past the budget every run decodes its own."""
    torch.manual_seed(2)
    other = tmp_path / "other.pt"
    save_weights(build_clip("vifi-tiny")[0], other)
    monkeypatch.setattr(evaluate, "CLIP_CACHE_BYTES", budget)
    calls = []
    original = ClipDataset.__getitem__
    monkeypatch.setattr(ClipDataset, "__getitem__", lambda self, i: calls.append(i) or original(self, i))
    evaluate_here(two_runs_args(eval_set, other, tmp_path))
    videos = len(read_list(eval_set["list"], len(read_labels(eval_set["labels"]))))
    assert len(calls) == reads * videos


def test_the_clip_cache_keeps_a_set_for_later_runs_only_and_lets_it_go_after_the_last() -> None:
    loader = DataLoader(torch.utils.data.TensorDataset(torch.arange(6.0)), batch_size=4)
    cache = evaluate.ClipCache({"twice": 2, "once": 1})
    assert cache.batches("once", 32, loader, clip_bytes=4) is loader  # no later run: streamed
    first = cache.batches("twice", 32, loader, clip_bytes=4)
    assert len(first) == 2 and "twice" not in cache.kept  # streams; kept once its pass is complete
    streamed = list(first)
    assert "twice" in cache.kept
    again = cache.batches("twice", 32, loader, clip_bytes=4)
    assert len(again) == 2 and all(a is b for a, b in zip(again, streamed, strict=True))
    assert cache.kept == {}  # the last run let it go
    big = evaluate.ClipCache({"twice": 2})
    assert big.batches("twice", 32, loader, clip_bytes=evaluate.CLIP_CACHE_BYTES) is loader  # too large
    other_size = evaluate.ClipCache({"twice": 3})
    kept = list(other_size.batches("twice", 32, loader, clip_bytes=4))
    redone = other_size.batches("twice", 64, loader, clip_bytes=4)  # another input size decodes
    assert isinstance(redone, evaluate.Recording) and not any(a is b for a, b in zip(redone, kept, strict=True))


def test_a_pass_cut_short_keeps_nothing_for_later_runs() -> None:
    """A later run must never score part of a set: only a complete pass is kept."""
    loader = DataLoader(torch.utils.data.TensorDataset(torch.arange(6.0)), batch_size=4)
    cache = evaluate.ClipCache({"twice": 2})
    for _ in cache.batches("twice", 32, loader, clip_bytes=4):
        break
    assert cache.kept == {}
    assert cache.batches("twice", 32, loader, clip_bytes=4) is loader  # the last run decodes the whole set


def dataset_section(data: dict, dataset: str, out: Path) -> list[str]:
    """The `--dataset` section of `vifi evaluate`: that dataset's frames, set and metrics file."""
    return [
        *("--dataset", dataset, "--frames", str(data["shard"])),
        *("--eval", "val", str(data["list"]), str(data["labels"]), "--out", str(out)),
        *("--predictions", str(out.with_suffix(".csv"))),
    ]


def test_one_job_evaluates_a_model_on_several_datasets_each_as_if_alone(
    eval_set: dict, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """Each `--dataset` section (the zero-shot targets) scores its own frames and set into its own file."""
    world = tiny_world(tmp_path_factory.mktemp("second"), classes=3, frames=FRAMES)
    second = {"shard": world["shard"], "list": world["val"], "labels": world["labels"]}
    weights = str(eval_set["weights"])
    shared = ["--weights", weights, "--arch", "vifi-tiny", "--method", "vifi", "--num-frames", "4"]
    shared += ["--batch-size", "2", "--threads", "1", "--protocol", "zeroshot", "--run-name", "main"]
    shared = with_released_flags("evaluate", shared)
    sections = [("hmdb51", eval_set), ("k600", second)]
    for name, data in sections:
        evaluate_here([*shared, *dataset_section(data, name, tmp_path / f"{name}-alone.json")])
    grouped = [arg for name, data in sections for arg in dataset_section(data, name, tmp_path / name)]
    evaluate_here([*shared, *grouped])
    for name, data in sections:
        alone, together = (json.loads((tmp_path / f).read_text()) for f in (f"{name}-alone.json", name))
        assert together["dataset"] == name and together["metrics"] == alone["metrics"]
        assert together["provenance"]["params"]["frames"] == [str(data["shard"])]
    videos = [json.loads((tmp_path / name).read_text())["metrics"]["val"]["videos"] for name, _ in sections]
    assert videos == [VIDEOS, 3]


def test_run_lists_of_different_lengths_are_refused(eval_set: dict, tmp_path: Path, capsys) -> None:
    args = [*evaluate_args(eval_set, tmp_path / "a.json"), "--run-name", "seed1", "seed2"]
    with pytest.raises(SystemExit):
        evaluate_stage.main(args)
    assert "got 1 --weights, 2 --run-name, 1 --out, 1 --predictions" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists()


def test_two_torchrun_processes_score_every_video_once_as_one_process(eval_set: dict, tmp_path: Path) -> None:
    """7 videos over 2 processes (4 + 3, batches of 2): the same metrics as one process, nothing dropped."""
    views = ("--num-clips", "2", "--num-crops", "3")
    single = evaluate_here(evaluate_args(eval_set, tmp_path / "single.json", *views))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd = [*launcher, "-m", "vifi", "evaluate", *evaluate_args(eval_set, tmp_path / "ddp.json", *views)]
    proc = subprocess.run(cmd, env=tool_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp.json").read_text())["metrics"]["val"]
    assert ddp["videos"] == VIDEOS and ddp["views"] == {"clips": 2, "crops": 3}
    assert ddp == single["metrics"]["val"]
    assert (tmp_path / "ddp.csv").read_text() == (tmp_path / "single.csv").read_text()


def test_loader_workers_score_the_same_views(eval_set: dict, tmp_path: Path) -> None:
    """Loader processes (`evaluate.workers`) decode the same 2 x 3 views per video as the main process."""
    views = ("--num-clips", "2", "--num-crops", "3")
    alone = evaluate_here(evaluate_args(eval_set, tmp_path / "w0.json", *views))
    helped = evaluate_here(evaluate_args(eval_set, tmp_path / "w2.json", *views, "--workers", "2"))
    assert helped["metrics"] == alone["metrics"]
    assert helped["provenance"]["params"]["workers"] == 2
