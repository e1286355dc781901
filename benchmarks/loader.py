"""Training-clip loading per core: our frame store against decoding every clip with decord in every epoch.

Compared, side by side in one run, clips/s per core at 8 and 32 frames, 224 crop:

- ours, as `vifi train` builds it: `ClipDataset` over a frame-store shard (`extract_shard`, short side 256,
  every frame kept) -> segment sampling (METHODS §4.2) -> `TrainTransform(224)` (§4.3) -> `DataLoader` collate;
- ours with `--device-augment`: the same, but the workers stop once the crop box is drawn and collate uint8
  square windows of the frames holding the crops, with the crops' boxes and photometric draws;
  `DeviceAugment` (the crop's resize, flip, per-frame jitter, grayscale, normalise) runs where the model runs,
  so it is timed apart (on one CPU core here; a GPU is not measured);
- the papers': in every epoch the video file is read into memory and opened with
  `decord.VideoReader(num_threads=1)` (§4.1), the same sampler's indices come from `get_batch`, then the same
  `TrainTransform` and collate.

All load in the main process (`num_workers=0`) with one torch thread, so a rate is what one core, i.e. one
loader worker, delivers; they alternate batch by batch. The process keeps freed buffers for reuse, as `vifi
train` does (`vifi.data.frames.allocator`). Also measured: the read stage alone (frame-store read
and JPEG decode against decord's decode), where our time goes (read, augmentation without colour jitter, the
per-frame colour jitter, collate) and the functions a profile of our loader spends most time in.

Why: the frame store exists so that data loading stops bounding training. The fraction of a GPU's demand the
loader meets is printed for N workers per GPU, for an assumed GPU step: ViT-B/16 ViFi-CLIP, 32x224, batch 4
clips per GPU (`gpu_hours.MINI_BATCH`), at the forward + backward FLOPs `vifi.flops` counts for the video side
and `gpu_hours.SUSTAINED` (A100 bf16 peak x an assumed MFU of 35%). The 400 class prompts a text-training
method re-encodes per step are left out: they lengthen the step, so leaving them out asks most of the loader.

Assumptions: sources are 16 clips (`scenes.py`: 10 s, 320x240, 30 fps, H.264 with libx264's default keyframe
interval); a store that keeps M >= T frames per video decodes the same T frames per clip as this one, M < T
fewer; the paper's transform settings (flip 0.5, jitter 0.8, grayscale 0.2); loader throughput grows linearly
with workers, one per core, which flatters both paths alike.

    .venv/bin/python benchmarks/loader.py [--quick] [--out DIR]
"""

from __future__ import annotations

import cProfile
import io
import itertools
import math
import pstats
import statistics
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import decord
import numpy as np
import torch
from gpu_hours import MFU, MINI_BATCH, PEAK_A100_BF16, SUSTAINED
from harness import elapsed, in_turn, parse_args, per_core, write_results
from scenes import photo_scene, texture_scene, write_clip
from torch.utils.data import DataLoader, Dataset, default_collate

from vifi.data.frames.allocator import keep_freed_buffers
from vifi.data.frames.dataset import ClipDataset
from vifi.data.frames.extract import extract_shard
from vifi.data.frames.sampling import train_indices
from vifi.data.frames.store import FrameStore
from vifi.data.frames.transforms import DeviceAugment, TrainTransform
from vifi.data.lists.annotations import Item
from vifi.flops import meta_model, train_flops
from vifi.models.factory import ModelSpec

VIDEOS, QUICK_VIDEOS = 16, MINI_BATCH
SECONDS, QUICK_SECONDS = 10, 1
SHORT_SIDE, INPUT_SIZE = 256, 224
FRAMES = (8, 32)
BATCHES = {8: 12, 32: 6}  # timed batches per path; --quick times 1
CLIPS_STAGED = 16  # clips in the stage breakdown; --quick: 1
GPU_ARCH, GPU_FRAMES = "ViT-B-16-quickgelu", 32
WORKERS = (1, 4, 8, 16)
SEED = 1024
TOP_FUNCTIONS = 6
PROFILED_BATCHES = 3
AUGMENT_REPEATS = 5


class DecordClips(Dataset):
    """The papers' loading: the whole file read into memory, decord decoding the sampled frames, every epoch."""

    def __init__(self, paths: Sequence[Path], num_frames: int, transform: Callable) -> None:
        self.paths = list(paths)
        self.num_frames = num_frames
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(decord_frames(self.paths[index], self.num_frames)), index


def decord_frames(path: Path, num_frames: int) -> np.ndarray:
    """uint8 `(T, H, W, 3)` frames at the training sampler's indices, decoded from the file's bytes."""
    reader = decord.VideoReader(io.BytesIO(path.read_bytes()), num_threads=1)
    return reader.get_batch(train_indices(len(reader), num_frames)).asnumpy()


def make_sources(root: Path, videos: int, seconds: float) -> tuple[list[Path], FrameStore]:
    """Encode the test videos (photo and texture scenes, each shifted) and extract them into one shard."""
    (root / "videos").mkdir()
    scenes = [photo_scene(), texture_scene()]
    paths = []
    for i in range(videos):
        path = root / "videos" / f"clip{i:02d}.mp4"
        write_clip(path, np.roll(scenes[i % 2], 37 * i, axis=1), seconds)
        paths.append(path)
    summary = extract_shard(
        root / "videos", [p.name for p in paths], root / "frames.bin", short_side=SHORT_SIDE, progress=False
    )
    print(
        f"{videos} videos of {seconds} s: {sum(p.stat().st_size for p in paths) / videos / 1e6:.2f} MB H.264 "
        f"each, extracted at short side {SHORT_SIDE} (JPEG q90, every frame) to "
        f"{summary['file_bytes'] / videos / 1e6:.1f} MB each in {summary['seconds'] / videos:.2f} s each"
    )
    return paths, FrameStore([root / "frames.bin"])


def batches(loader: DataLoader) -> Iterator[object]:
    """The loader's batches, epoch after epoch."""
    if len(loader) == 0:
        raise ValueError(f"{len(loader.dataset)} videos make no batch of {loader.batch_size}")
    for epoch in itertools.count():
        if isinstance(loader.dataset, ClipDataset):
            loader.dataset.set_epoch(epoch)
        yield from loader


def clip_rates(paths: list[Path], store: FrameStore, frames: int, timed: int) -> dict[str, float]:
    """Clips/s of the three paths, timing their batches `in_turn` after one warm-up batch each.

    "ours, device aug" is the loader of `vifi train --device-augment`: the workers read, decode and cut the
    crop; the batch's crop resize and photometric steps (`DeviceAugment`) run where the model runs and are
    timed apart, in `device_augment_seconds`.
    """
    transform = TrainTransform(INPUT_SIZE)
    items = [Item(p.name, 0) for p in paths]
    datasets = {
        "ours": ClipDataset(store, items, frames, transform, train=True, seed=SEED),
        "ours, device aug": ClipDataset(
            store, items, frames, TrainTransform(INPUT_SIZE, on_device=True), train=True, seed=SEED
        ),
        "decord": DecordClips(paths, frames, transform),
    }
    streams = {
        name: batches(DataLoader(ds, batch_size=MINI_BATCH, shuffle=True, drop_last=True, num_workers=0))
        for name, ds in datasets.items()
    }
    times: dict[str, list[float]] = {name: [] for name in streams}
    for stream in streams.values():
        next(stream)
    for name in in_turn(list(streams), timed):
        times[name].append(elapsed(next, streams[name]))
    return {name: MINI_BATCH / statistics.median(ts) for name, ts in times.items()}


def device_augment_seconds(paths: list[Path], store: FrameStore, frames: int, repeats: int) -> float:
    """Median seconds per clip of `DeviceAugment` on a CPU batch of `MINI_BATCH` clips (one torch thread):
    what the device-augmentation step costs when the device is a CPU core; a GPU is not measured here."""
    items = [Item(p.name, 0) for p in paths[:MINI_BATCH]]
    dataset = ClipDataset(
        store, items, frames, TrainTransform(INPUT_SIZE, on_device=True), train=True, seed=SEED
    )
    batch = default_collate([dataset[i][0] for i in range(len(items))])
    augment = DeviceAugment(INPUT_SIZE)
    return statistics.median(elapsed(augment, batch) for _ in range(repeats)) / MINI_BATCH


def stage_seconds(paths: list[Path], store: FrameStore, frames: int, clips: int) -> dict[str, float]:
    """Mean seconds per clip of each stage of our path, and of decord's decode, on the same clips.

    The colour jitter's cost is the augmentation timed with and without it under one seed, so that both draw
    the same crop and flip; collate is timed on the augmented clips in batches of `MINI_BATCH`.
    """
    with_jitter, without = TrainTransform(INPUT_SIZE), TrainTransform(INPUT_SIZE, color_jitter=0.0)
    totals = dict.fromkeys(("read", "augment", "colour jitter", "collate", "decord decode"), 0.0)
    outputs = []
    for i in range(clips):
        path = paths[i % len(paths)]
        indices = train_indices(store.num_frames(path.name), frames)
        totals["read"] += elapsed(store.read, path.name, indices)
        totals["decord decode"] += elapsed(decord_frames, path, frames)
        clip = store.read(path.name, indices)
        torch.manual_seed(i)
        plain = elapsed(without, clip)
        torch.manual_seed(i)
        jittered = elapsed(lambda frames: outputs.append((with_jitter(frames), 0)), clip)
        totals["augment"] += plain
        totals["colour jitter"] += jittered - plain
    for first in range(0, clips, MINI_BATCH):
        totals["collate"] += elapsed(default_collate, outputs[first : first + MINI_BATCH])
    return {stage: total / clips for stage, total in totals.items()}


def profile_ours(store: FrameStore, paths: list[Path], frames: int, count: int) -> list[tuple[str, float]]:
    """The functions our loader spends most of its own time in over `count` batches, with that time's share."""
    dataset = ClipDataset(store, [Item(p.name, 0) for p in paths], frames, TrainTransform(INPUT_SIZE), True)
    stream = batches(DataLoader(dataset, batch_size=MINI_BATCH, shuffle=True, num_workers=0))
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [next(stream) for _ in range(count)])
    # {(file, line, function): (primitive calls, calls, own seconds, cumulative seconds, callers)}
    stats = pstats.Stats(profiler).stats
    total = sum(row[2] for row in stats.values())
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:TOP_FUNCTIONS]
    return [(f"{Path(file).name}:{line}({function})", row[2] / total) for (file, line, function), row in top]


def gpu_step() -> tuple[float, float]:
    """FLOPs and assumed seconds of one GPU training step: `MINI_BATCH` clips of `GPU_FRAMES` frames."""
    model = meta_model(ModelSpec("vifi", GPU_ARCH, GPU_FRAMES))
    size = model.clip.visual.image_size
    video = torch.empty(MINI_BATCH, GPU_FRAMES, 3, *size, device="meta")
    text = torch.empty(1, model.clip.visual.output_dim, device="meta", requires_grad=True)
    flops = train_flops(model, video, text)
    return flops, flops / SUSTAINED


def report_rates(frames: int, rates: dict[str, float], stages: dict[str, float], augment: float) -> None:
    ours, device, decord = rates["ours"], rates["ours, device aug"], rates["decord"]
    print(
        f"\n{frames} frames x {INPUT_SIZE}, clips/s per core: ours {ours:.2f}, ours with device augmentation "
        f"{device:.2f}, decord {decord:.2f}\n  ours / decord = {ours / decord:.2f}x; "
        f"ours with device augmentation / decord = {device / decord:.2f}x (target >= 10x)"
    )
    read, decode = stages["read"], stages["decord decode"]
    print(
        f"  read stage alone: frame store {1e3 * read:.1f} ms, decord {1e3 * decode:.1f} ms per clip -> "
        f"{decode / read:.2f}x\n  read bound: {1 / read:.1f} clips/s per core = {1 / read / decord:.2f}x "
        f"decord; the device-augmentation loader reaches {device * read:.0%} of it"
    )
    shares = {k: v for k, v in stages.items() if k != "decord decode"}
    listed = ", ".join(f"{k} {1e3 * v:.1f} ms ({v / sum(shares.values()):.0%})" for k, v in shares.items())
    print(f"  our clip, by stage: {listed}")
    print(
        f"  device augmentation (crop resize, flip, jitter, grayscale, normalise) of a batch on one CPU core: "
        f"{1e3 * augment:.1f} ms per clip"
    )


def report_feed(rates: dict[str, float], flops: float, step: float) -> dict[str, object]:
    """Print and return how much of one GPU's demand each path's workers meet (above 1: the GPU bounds)."""
    demand = MINI_BATCH / step
    print(
        f"\nAssumed GPU step: {GPU_ARCH} ViFi-CLIP {GPU_FRAMES}x{INPUT_SIZE}, {MINI_BATCH} clips, "
        f"{flops / 1e12:.1f} TFLOP forward+backward (vifi.flops, text prompts excluded) at "
        f"{PEAK_A100_BF16 / 1e12:.0f} TFLOP/s A100 bf16 x MFU {MFU:.0%} = {step:.3f} s/step -> "
        f"{demand:.1f} clips/s per GPU"
    )
    feed = {name: {n: n * rate / demand for n in WORKERS} for name, rate in rates.items()}
    needed = {name: math.ceil(demand / rate) for name, rate in rates.items()}
    print("  loader supply / GPU demand, by workers (cores) per GPU:")
    for n in WORKERS:
        print(f"    {n:>2} workers: " + ", ".join(f"{name} {feed[name][n]:.2f}" for name in rates))
    print(
        "  workers (cores) to keep one GPU busy: "
        + ", ".join(f"{name} {needed[name]}" for name in rates)
        + " (target <= 2 with device augmentation)"
    )
    return {
        "step_flops": flops,
        "step_seconds": step,
        "demand_clips_per_s": demand,
        "feed": feed,
        "workers": needed,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    per_core()
    kept = keep_freed_buffers()  # as `vifi train` does: every path here reuses its freed buffers
    quick = args.quick
    ratios: dict[str, float] = {}
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths, store = make_sources(
            Path(tmp), QUICK_VIDEOS if quick else VIDEOS, QUICK_SECONDS if quick else SECONDS
        )
        print(
            f"clips/s per core: one torch thread, num_workers=0, batch {MINI_BATCH}, timed in turn; freed "
            f"buffers kept for reuse (vifi.data.frames.allocator): {kept}"
        )
        for frames in FRAMES:
            rates = clip_rates(paths, store, frames, 1 if quick else BATCHES[frames])
            stages = stage_seconds(paths, store, frames, 1 if quick else CLIPS_STAGED)
            augment = device_augment_seconds(paths, store, frames, 1 if quick else AUGMENT_REPEATS)
            report_rates(frames, rates, stages, augment)
            ratios[f"ours_over_decord_{frames}f"] = rates["ours"] / rates["decord"]
            ratios[f"ours_device_aug_over_decord_{frames}f"] = rates["ours, device aug"] / rates["decord"]
            ratios[f"ours_device_aug_over_read_bound_{frames}f"] = rates["ours, device aug"] * stages["read"]
            ratios[f"read_ours_over_decord_{frames}f"] = stages["decord decode"] / stages["read"]
            figures[f"{frames}f"] = {
                "clips_per_s": rates,
                "seconds_per_clip": stages,
                "device_augment_cpu_seconds_per_clip": augment,
            }
        top = profile_ours(store, paths, GPU_FRAMES, 1 if quick else PROFILED_BATCHES)
        print(f"\nOur loader at {GPU_FRAMES} frames, functions by own time (cProfile):")
        for name, share in top:
            print(f"  {share:6.1%}  {name}")
        figures["profile_32f"] = dict(top)
        figures["gpu"] = report_feed(figures[f"{GPU_FRAMES}f"]["clips_per_s"], *gpu_step())
    write_results(args.out, "loader", ratios, figures)


if __name__ == "__main__":
    main()
