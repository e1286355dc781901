"""Evaluate a CLIP video model on one or more labelled video lists and write `metrics.json`.

Each evaluation set has its own class list (base-to-novel scores base videos against base names only and
novel videos against novel names only, METHODS.md §5). Text features are encoded once per class list rather
than on every forward pass as in the papers' code; the numbers are the same.

A video's score is the mean of the per-view softmax over its `--num-clips` x `--num-crops` views (§5.1). Under
torchrun each process scores the videos `rank::world` (no padding, nothing dropped, unlike the official
loader) and process 0 gathers them, checks that every listed video was scored exactly once, and writes the
metrics; plain `python -m vifi evaluate` is the world of one.

One process may score several datasets: options after each `--dataset` (its `--frames`, `--eval` sets and
`--out` files) belong to that dataset, those before the first `--dataset` to all of them. The zero-shot
protocol scores each model on every target this way, paying for the imports once.

Runs of one job that score the same set (the seeds or shot counts of a method) decode its clips once: the
first keeps the loader's batches in memory as it scores them (up to `CLIP_CACHE_BYTES`), the others score
those. The clips are the same tensors either way, so the scores are too.

Beside each run's metrics.json, `--predictions` receives the per-video outcomes of every set
(`vifi.report.predictions`), from which the report's confidence intervals are bootstrapped.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Subset

from vifi import metrics, provenance
from vifi.catalog import methods as method_catalog
from vifi.data.frames.dataset import ClipDataset
from vifi.data.frames.store import FrameStore
from vifi.data.frames.transforms import NORMALIZATION, eval_transform
from vifi.data.lists.annotations import read_labels, read_list
from vifi.engine import distributed
from vifi.engine.devices import autocast
from vifi.io import write_json
from vifi.models.factory import build_model, spec_of
from vifi.progress import progress_bar
from vifi.report.predictions import SetPredictions, from_scores, write_predictions

log = logging.getLogger(__name__)
# Decoded clips a job keeps for its later runs: the demo's largest set (2,502 videos x 4 frames of 32 px) takes
# 123 MB; a paper-mode set (thousands of videos x 32 frames of 224 px) is tens of GB and is decoded per run.
CLIP_CACHE_BYTES = 2 << 30


@dataclass(frozen=True)
class EvalConfig:
    """One run's evaluation, in the order and with the names of `vifi evaluate`'s flags (its record lists them
    so): the frame store, the run's weights, the model (`options`: every catalog option, None where unset), the
    sets as (name, list, labels), the views, how fast it runs, the run's identity and its two output files."""

    frames: list[Path]
    weights: Path
    arch: str
    method: str
    num_frames: int
    options: Mapping[str, int | None]
    grad_checkpointing: bool
    eval: list[list[str]]
    normalize: str
    sampling: str
    stride: int
    num_clips: int
    num_crops: int
    batch_size: int
    workers: int
    threads: int
    protocol: str
    dataset: str
    run_name: str
    out: Path
    predictions: Path


class IncompleteEvaluationError(RuntimeError):
    """The gathered scores do not cover every listed video exactly once."""


@torch.no_grad()
def score(
    model: nn.Module,
    loader: Iterable,
    text: torch.Tensor,
    device: torch.device,
    desc: str | None = None,
    max_clips: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-video probabilities `(N, K)`, the mean of the per-view softmax, and labels `(N,)`.

    The loader yields `(B, V, T, 3, H, W)` views, so `--batch-size` counts videos. Their `B * V` clips go
    through the model at most `max_clips` at a time: a 4 x 3-view batch of 32 videos is 384 clips, whose
    activations no longer fit in a CPU's caches (the demo's fully supervised evaluation took 30 s in one
    forward per batch, 21 s in forwards of 32 clips). Scores do not depend on the split. A progress bar is
    shown when `desc` is given.
    """
    probs, labels = [torch.empty(0, len(text))], [torch.empty(0, dtype=torch.long)]
    for views, y in progress_bar(loader, desc=desc, leave=False, disable=desc is None):
        clips = views.flatten(0, 1)
        with autocast(device):
            logits = torch.cat([model(part.to(device), text) for part in clips.split(max_clips or len(clips))])
        per_view = logits.float().softmax(dim=-1).view(*views.shape[:2], -1)
        probs.append(per_view.mean(dim=1).cpu())
        labels.append(y)
    return torch.cat(probs), torch.cat(labels)


def gather_scores(
    world: distributed.World, indices: list[int], probs: torch.Tensor, labels: torch.Tensor
) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """Every process's `(indices, probs, labels)` concatenated on every process, in rank order."""
    parts = [(indices, probs, labels)]
    if world.size > 1:
        parts = [None] * world.size
        dist.all_gather_object(parts, (indices, probs, labels))
    return (
        [i for part in parts for i in part[0]],
        torch.cat([part[1] for part in parts]),
        torch.cat([part[2] for part in parts]),
    )


def in_list_order(
    indices: list[int], probs: torch.Tensor, labels: torch.Tensor, expected: int, source: Path
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores sorted by list position, after checking that each of the `expected` videos came exactly once."""
    if len(indices) != expected or sorted(indices) != list(range(expected)):
        raise IncompleteEvaluationError(
            f"{source}: scored {len(indices)} videos ({len(set(indices))} distinct), expected each of the "
            f"{expected} listed exactly once"
        )
    order = torch.tensor(indices).argsort()
    return probs[order], labels[order]


def clips_key(args: EvalConfig, list_path: str | Path) -> tuple:
    """What fixes the clips a run's loader yields for one set, with the model's input size: runs with equal
    keys and sizes see the same tensors."""
    return (
        tuple(args.frames), str(Path(list_path)), args.num_frames, args.normalize, args.sampling, args.stride,
        args.num_clips, args.num_crops, args.batch_size,
    )  # fmt: skip


class Kept(NamedTuple):
    """One set's decoded batches, at the model input size they were cut for."""

    size: int
    bytes: int
    batches: list


class ClipCache:
    """The batches of each set that more than one run of the job scores, kept after the first run's pass.

    `uses` counts the runs per `clips_key`. A set scored once streams, and so does one that would take the
    kept batches past `CLIP_CACHE_BYTES`; a set is let go after its last run.
    """

    def __init__(self, uses: Mapping[tuple, int]) -> None:
        self.uses = dict(uses)
        self.kept: dict[tuple, Kept] = {}

    def batches(self, key: tuple, size: int, loader: DataLoader, clip_bytes: int) -> Iterable:
        """The batches of `key` at input `size`: kept ones, or the loader's (recorded as they stream when a
        later run will score them and they fit)."""
        self.uses[key] -= 1
        kept = self.kept.pop(key, None)
        if kept is not None and kept.size == size:
            if self.uses[key] > 0:
                self.kept[key] = kept
            return kept.batches
        held = sum(entry.bytes for entry in self.kept.values())
        total = len(loader.dataset) * clip_bytes
        if self.uses[key] > 0 and held + total <= CLIP_CACHE_BYTES:
            return Recording(loader, partial(self.keep, key, size, total))
        return loader

    def keep(self, key: tuple, size: int, total: int, batches: list) -> None:
        self.kept[key] = Kept(size, total, batches)


class Recording:
    """A loader's batches as they stream, handed to `done` once the pass is complete.

    Scoring and decoding go together, so the first run's progress bar moves from its first batch. A pass cut
    short hands nothing over: a later run never scores part of a set.
    """

    def __init__(self, loader: DataLoader, done: Callable[[list], None]) -> None:
        self.loader, self.done = loader, done

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        batches = []
        for batch in self.loader:
            batches.append(batch)
            yield batch
        self.done(batches)


def evaluate_set(
    model: nn.Module,
    store: FrameStore,
    name: str,
    list_path: Path,
    labels_path: Path,
    args: EvalConfig,
    world: distributed.World,
    cache: ClipCache,
) -> tuple[dict, SetPredictions] | None:
    """Top-1/top-5 of one evaluation set against its own class names, and its per-video outcomes; `None` on
    processes other than 0."""
    classnames = read_labels(labels_path)
    items = read_list(list_path, len(classnames))
    mean, std = NORMALIZATION[args.normalize]
    size = model.clip.visual.image_size[0]
    dataset = ClipDataset(
        store,
        items,
        args.num_frames,
        eval_transform(size, args.num_crops, mean=mean, std=std),
        train=False,
        source=str(list_path),
        sampling=args.sampling,
        stride=args.stride,
        num_clips=args.num_clips,
    )
    mine = list(range(world.rank, len(dataset), world.size))
    loader = DataLoader(
        Subset(dataset, mine), batch_size=args.batch_size, shuffle=False, num_workers=args.workers
    )
    clip_bytes = args.num_clips * args.num_crops * args.num_frames * 3 * size * size * 4  # float32 views
    batches = cache.batches(clips_key(args, list_path), size, loader, clip_bytes)
    with torch.no_grad(), autocast(world.device):  # encoded once per class list, never trained here
        text = model.encode_text(model.tokenize(classnames).to(world.device))
    desc = f"evaluate {name}" if world.is_main else None
    probs, labels = score(model, batches, text, world.device, desc, max_clips=args.batch_size)
    indices, probs, labels = gather_scores(world, mine, probs, labels)
    if not world.is_main:
        return None
    probs, labels = in_list_order(indices, probs, labels, len(items), list_path)
    acc = metrics.topk_accuracy(probs, labels, ks=(1, 5))
    per_video = from_scores([item.path for item in items], probs.double().numpy(), labels.numpy())
    log.info(
        "%s: top1 %.2f top5 %.2f over %d videos x %d views, %d classes",
        name,
        acc[1],
        acc[5],
        len(labels),
        args.num_clips * args.num_crops,
        len(classnames),
    )
    summary = {
        "top1": acc[1],
        "top5": acc[5],
        "videos": len(labels),
        "classes": len(classnames),
        "views": {"clips": args.num_clips, "crops": args.num_crops},
    }
    return summary, per_video


def run(todo: Sequence[tuple[EvalConfig, Sequence[str]]]) -> None:
    """Evaluate every requested set for each run and write each run's metrics file (process 0); each run comes
    with the `vifi evaluate` arguments that evaluate it alone, which its record keeps.

    Several runs (the seeds or shot counts of a method, or one model on several datasets) share one process
    because a job's imports cost more than evaluating a demo model; each run's file is written as soon as it
    is scored.
    """
    torch.set_num_threads(todo[0][0].threads)
    world = distributed.init()
    stores: dict[tuple[Path, ...], FrameStore] = {}
    cache = ClipCache(Counter(clips_key(one, lst) for one, _ in todo for _, lst, _ in one.eval))
    built, model = None, None
    try:
        for one, argv in todo:
            frames = tuple(one.frames)
            if frames not in stores:
                stores[frames] = FrameStore(one.frames)
            store = stores[frames]
            spec = spec_of(one)
            if built != (spec, one.weights):  # a zero-shot model is built once for all its targets
                trained = method_catalog.method(one.method).trained  # vanilla CLIP is evaluated as loaded
                model = build_model(spec, one.weights, trained=trained).to(world.device).eval()
                built = (spec, one.weights)
            results = {
                name: evaluate_set(model, store, name, Path(lst), Path(lab), one, world, cache)
                for name, lst, lab in one.eval
            }
            if world.is_main:
                write_predictions(one.predictions, {name: result[1] for name, result in results.items()})
                results_only = {name: result[0] for name, result in results.items()}
                write_metrics(one, argv, results_only, world.device)
    finally:
        distributed.shutdown(world)


def inputs(args: EvalConfig) -> dict:
    """Every file a run's evaluation reads, by hash: weights, frame store, each set's list and labels."""
    return {
        "weights": provenance.file_record(args.weights),
        "frames": provenance.files_record(args.frames),
        "eval": {
            name: {"list": provenance.file_record(lst), "labels": provenance.file_record(lab)}
            for name, lst, lab in args.eval
        },
    }


def write_metrics(args: EvalConfig, argv: Sequence[str], results: dict, device: torch.device) -> None:
    """metrics.json: the run's identity, each set's metrics, where its per-video file is (relative to the
    metrics file, so the run folder can move), and its provenance: this run's `vifi evaluate` command and
    settings, the training record its checkpoint carries, the inputs by hash and the environment."""
    write_json(
        args.out,
        {
            "protocol": args.protocol,
            "dataset": args.dataset,
            "method": args.method,
            "run": args.run_name,
            "metrics": results,
            "predictions": Path(os.path.relpath(args.predictions, Path(args.out).parent)).as_posix(),
            "provenance": provenance.record(provenance.settings(args), argv, inputs(args), device),
        },
    )
