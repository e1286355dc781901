"""Write the embedded synthetic world's datasets and stills: the demo's stand-in for downloading real data.

A dataset comes out in the layout and formats of the official ViFi-CLIP release (H.264 videos, an `id,name`
label CSV, `<path> <label>` split lists), so every later stage reads demo and paper data with the same code.

A dataset's role decides what its classes can be told apart by (`vifi.data.world` has the details). In the
`source`, `downstream` and `zeroshot` roles, single frames suffice: appearance plus the motion blur of the
rendered exposure, as in real action videos, so a frame-order-blind model such as ViFi-CLIP can learn them.
In the `temporal` role (Something-Something v2's), classes differ only by the order of their frames.

Everything derives from the seed and the dataset name through independent random streams, and the encoding is
pinned down (see `write_mp4`), so two runs give byte-identical files. The dataset directory appears only once
complete.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import math
import operator
import os
import re
import shutil
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from vifi.argtypes import int_at_least
from vifi.data.annotations import Item, read_labels, write_labels, write_list
from vifi.data.world import COLOURS, ROLES, SHAPES, ClassSpec, render_clip, render_still, select_classes
from vifi.io import atomic_path, write_json
from vifi.progress import progress_bar

# Purposes of the random streams of one dataset; a new purpose gets a new number, so old streams stay put.
_SELECT, _IMBALANCE, _GROUPS, _VIDEO, _STILLS = range(5)
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def stable_hash(text: str) -> int:
    """A 64-bit hash of `text` that, unlike `hash`, is the same in every process (no PYTHONHASHSEED salt)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _rng(seed: int, name: str, *keys: int) -> np.random.Generator:
    """An independent stream for one purpose of one dataset, so changing one part never shifts another."""
    return np.random.default_rng([seed, stable_hash(name), *keys])


def check_frame_size(height: int, width: int) -> None:
    """Raise ValueError unless frames can hold the central square and be encoded as yuv420p."""
    if height < 16 or width < height or height % 2 or width % 2:
        raise ValueError(
            f"frame size {height}x{width}: need even sizes, height >= 16 and width >= height "
            "(yuv420p halves both; the object lives in the central height x height square)"
        )


@dataclasses.dataclass(frozen=True)
class VideoFormat:
    """Frame size, length and encoding of every video of a dataset."""

    height: int
    width: int
    frames: int
    fps: int
    crf: int = 16

    def check(self) -> None:
        """Raise ValueError for sizes the renderer or the yuv420p encoder cannot take."""
        check_frame_size(self.height, self.width)
        if self.frames < 2:
            raise ValueError(f"frames={self.frames}: a clip needs at least 2 frames to show motion")
        if self.fps < 1:
            raise ValueError(f"fps={self.fps}: must be at least 1")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf={self.crf}: libx264 accepts 0..51")


@dataclasses.dataclass(frozen=True)
class DatasetPlan:
    """A validated dataset request and everything about it except the pixels."""

    name: str
    seed: int
    video: VideoFormat
    classes: tuple[ClassSpec, ...]  # in label-id order (sorted by name, so ids are stable)
    train_counts: tuple[int, ...]  # per class, the imbalance ramp
    videos_per_class: tuple[int, ...]
    lists: dict[str, list[Item]]  # file name under annotations/ -> items
    arguments: dict[str, Any]  # the request, for provenance


def video_path(dataset: str, spec: ClassSpec, index: int) -> str:
    """Path of one video relative to `videos/`, as the split lists name it."""
    return f"{spec.slug}/{dataset}_{spec.slug}_{index:04d}.mp4"


def plan_dataset(
    *,
    name: str,
    role: str,
    classes: int,
    train_per_class: tuple[int, int],
    val_per_class: int,
    splits: int,
    seed: int,
    video: VideoFormat,
    exclude_labels: Path | None = None,
) -> DatasetPlan:
    """Validate a request and fix its classes, per-class counts and split lists (ValueError if impossible).

    `train_per_class` is (MIN, MAX): class frequencies ramp linearly from MIN to MAX over a seeded
    permutation of the classes, so frequency is unrelated to label id. With `splits == 1` a class has its ramp
    count of training videos and `val_per_class` test videos. With `splits >= 2` (UCF/HMDB style) a class has
    ramp count + `val_per_class` videos in `splits` near-equal groups; split s tests on group s-1 and trains
    on the rest, so every video is tested exactly once. A split then trains on (splits-1)/splits of the
    class's videos: the ramp count exactly when it is (splits-1) * `val_per_class` (UCF-101's 2:1 ratio for 3
    splits), and a count that still follows the ramp otherwise.
    """
    _check_request(name, role, train_per_class, val_per_class, splits, seed, exclude_labels)
    video.check()
    exclude = set(read_labels(exclude_labels)) if exclude_labels is not None else set()
    picked = select_classes(role, classes, _rng(seed, name, _SELECT), exclude)
    specs = tuple(sorted(picked, key=operator.attrgetter("name")))
    train_counts = _ramp_counts(len(specs), train_per_class, _rng(seed, name, _IMBALANCE))
    if splits >= 2 and min(train_counts) + val_per_class < splits:
        raise ValueError(f"{splits} splits need at least {splits} videos per class (MIN + val-per-class)")
    paths = [
        [video_path(name, spec, j) for j in range(n + val_per_class)]
        for spec, n in zip(specs, train_counts, strict=True)
    ]
    if splits == 1:
        lists = _holdout_lists(paths, train_counts)
    else:
        lists = _fold_lists(paths, splits, _rng(seed, name, _GROUPS))
    arguments = {
        "name": name,
        "role": role,
        "classes": classes,
        "train_per_class": list(train_per_class),
        "val_per_class": val_per_class,
        "splits": splits,
        "seed": seed,
        **dataclasses.asdict(video),
        "exclude_labels_sha256": _sha256(exclude_labels) if exclude_labels is not None else None,
    }
    return DatasetPlan(
        name=name,
        seed=seed,
        video=video,
        classes=specs,
        train_counts=train_counts,
        videos_per_class=tuple(len(p) for p in paths),
        lists=lists,
        arguments=arguments,
    )


def _check_request(
    name: str,
    role: str,
    train_per_class: tuple[int, int],
    val_per_class: int,
    splits: int,
    seed: int,
    exclude_labels: Path | None,
) -> None:
    """Reject requests that would silently produce a misleading dataset."""
    if not _NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"dataset name {name!r}: use letters, digits, '_', '.', '-' (it is part of file names)"
        )
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    low, high = train_per_class
    if not 0 <= low <= high:
        raise ValueError(f"train-per-class MIN MAX = {low} {high}: need 0 <= MIN <= MAX")
    if val_per_class < 1:
        raise ValueError(f"val-per-class={val_per_class}: every class needs test videos")
    if splits < 1:
        raise ValueError(f"splits={splits}: must be at least 1")
    if seed < 0:
        raise ValueError(f"seed={seed}: must be non-negative")
    if role == "zeroshot" and exclude_labels is None:
        raise ValueError("role 'zeroshot' needs exclude labels (the source dataset's labels.csv)")


def _ramp_counts(n_classes: int, bounds: tuple[int, int], rng: np.random.Generator) -> tuple[int, ...]:
    """Training counts ramping linearly from MIN to MAX, assigned to classes in a seeded random order."""
    ramp = np.rint(np.linspace(bounds[0], bounds[1], n_classes)).astype(int)
    counts = np.empty(n_classes, dtype=int)
    counts[rng.permutation(n_classes)] = ramp
    return tuple(int(c) for c in counts)


def _holdout_lists(paths: list[list[str]], train_counts: tuple[int, ...]) -> dict[str, list[Item]]:
    """One split: the first videos of each class train, the rest test (all are independent draws)."""
    train = [Item(p, c) for c, (ps, n) in enumerate(zip(paths, train_counts, strict=True)) for p in ps[:n]]
    val = [Item(p, c) for c, (ps, n) in enumerate(zip(paths, train_counts, strict=True)) for p in ps[n:]]
    return {"train1.txt": train, "val1.txt": val}


def _fold_lists(paths: list[list[str]], splits: int, rng: np.random.Generator) -> dict[str, list[Item]]:
    """k folds: each video gets a group, balanced within its class; split s tests on group s-1."""
    grouped = [
        (Item(p, c), int(g))
        for c, ps in enumerate(paths)
        for p, g in zip(ps, rng.permutation(np.arange(len(ps)) % splits), strict=True)
    ]
    lists = {}
    for s in range(splits):
        lists[f"train{s + 1}.txt"] = [item for item, g in grouped if g != s]
        lists[f"val{s + 1}.txt"] = [item for item, g in grouped if g == s]
    return lists


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def generate_dataset(
    out_dir: str | os.PathLike[str],
    *,
    name: str,
    role: str,
    classes: int,
    train_per_class: tuple[int, int],
    val_per_class: int,
    splits: int,
    seed: int,
    height: int,
    width: int,
    frames: int,
    fps: int,
    crf: int = 16,
    exclude_labels: Path | None = None,
) -> None:
    """Plan and write one synthetic dataset to `out_dir`; `plan_dataset` explains the counts."""
    plan = plan_dataset(
        name=name,
        role=role,
        classes=classes,
        train_per_class=train_per_class,
        val_per_class=val_per_class,
        splits=splits,
        seed=seed,
        video=VideoFormat(height, width, frames, fps, crf),
        exclude_labels=exclude_labels,
    )
    write_dataset(out_dir, plan)


def write_dataset(out_dir: str | os.PathLike[str], plan: DatasetPlan) -> None:
    """Render, encode and annotate `plan` into a temporary sibling, then move it onto `out_dir`."""
    with _atomic_dir(Path(out_dir)) as tmp:
        _write_videos(tmp / "videos", plan)
        annotations = tmp / "annotations"
        write_labels(annotations / "labels.csv", [spec.name for spec in plan.classes])
        for file_name, items in plan.lists.items():
            write_list(annotations / file_name, items)
        write_json(annotations / "world.json", _world_description(plan))


def _write_videos(root: Path, plan: DatasetPlan) -> None:
    v = plan.video
    with progress_bar(total=sum(plan.videos_per_class), desc=f"synthesize {plan.name}", unit="video") as bar:
        for spec, count in zip(plan.classes, plan.videos_per_class, strict=True):
            (root / spec.slug).mkdir(parents=True)
            for index in range(count):
                rng = _rng(plan.seed, plan.name, _VIDEO, stable_hash(spec.name), index)
                clip = render_clip(spec, rng, v.frames, v.height, v.width)
                write_mp4(root / video_path(plan.name, spec, index), clip, v.fps, v.crf)
                bar.update()


def write_mp4(path: Path, clip: np.ndarray, fps: int, crf: int) -> None:
    """Encode uint8 (T, H, W, 3) RGB frames as H.264 yuv420p, reproducibly to the byte.

    The colour conversion is ours (exact integers) rather than swscale's CPU-dependent SIMD, and one encoder
    thread fixes x264's work order. MB-tree is off because at the demo's tiny frame sizes (seen at 32 and 48
    px high) it made x264's output depend on the process's memory layout: the same frames encoded to
    different bytes in about one clip in ten. Without it, thousands of repeated encodes matched exactly.
    The `faster` preset keeps encoding near 200 clips/s per core; `crf` still sets the quality.
    """
    height, width = clip.shape[1:3]
    with av.open(str(path), mode="w", format="mp4") as container:
        options = {"crf": str(crf), "preset": "faster", "x264-params": "mbtree=0"}
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        for frame in rgb_to_yuv420p(clip):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="yuv420p")))
        container.mux(stream.encode())


def rgb_to_yuv420p(clip: np.ndarray) -> np.ndarray:
    """BT.601 limited-range 4:2:0, the convention decoders assume for untagged H.264, in integer arithmetic.

    Returns (T, 3H/2, W) uint8: each frame's Y plane followed by its U and V planes (2x2 averages), the layout
    PyAV's `VideoFrame.from_ndarray(..., format="yuv420p")` reads.
    """
    frames, width = clip.shape[0], clip.shape[2]
    r, g, b = np.moveaxis(clip, -1, 0).astype(np.int32)
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    r, g, b = (c[:, ::2, ::2] + c[:, 1::2, ::2] + c[:, ::2, 1::2] + c[:, 1::2, 1::2] for c in (r, g, b))
    u = ((-38 * r - 74 * g + 112 * b + 512) >> 10) + 128  # 4-pixel sums: >> 10 is >> 8 of the mean
    v = ((112 * r - 94 * g - 18 * b + 512) >> 10) + 128
    planes = [plane.reshape(frames, -1) for plane in (y, u, v)]
    return np.concatenate(planes, axis=1).astype(np.uint8).reshape(frames, -1, width)


def _world_description(plan: DatasetPlan) -> dict[str, Any]:
    """What each label means in the world, and what produced the files (provenance)."""
    classes = [
        {
            "id": label,
            "name": spec.name,
            "colour": spec.colour,
            "shape": spec.shape,
            "motion": spec.motion,
            "train_count": train,
            "videos": videos,
        }
        for label, (spec, train, videos) in enumerate(
            zip(plan.classes, plan.train_counts, plan.videos_per_class, strict=True)
        )
    ]
    libavcodec = ".".join(str(part) for part in av.library_versions["libavcodec"])
    packages = {"numpy": np.__version__, "av": av.__version__, "libavcodec": libavcodec}
    return {"arguments": plan.arguments, "classes": classes, "packages": packages}


@contextlib.contextmanager
def _atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a hidden sibling directory; it replaces `target` only if the block succeeds.

    An old `target` is moved aside and deleted only after the new directory is in place, so a killed run
    leaves either the old complete directory, or no directory at `target`, never a partial one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def generate_stills(
    out_path: str | os.PathLike[str], *, count: int, seed: int, height: int, width: int
) -> None:
    """Write `count` appearance-only stills with captions to one `.npz` (`images`, `captions`), atomically.

    Colour-shape pairs are visited in shuffled rounds, so each appears count / 24 times, give or take one.
    """
    if count < 1 or seed < 0:
        raise ValueError(f"count={count}, seed={seed}: need count >= 1 and seed >= 0")
    check_frame_size(height, width)
    rng = np.random.default_rng([seed, _STILLS])
    pairs = [(colour, shape) for colour in COLOURS for shape in SHAPES]
    rounds = [rng.permutation(len(pairs)) for _ in range(math.ceil(count / len(pairs)))]
    order = np.concatenate(rounds)[:count]
    images = np.empty((count, height, width, 3), dtype=np.uint8)
    captions = []
    for k, pair in enumerate(progress_bar(order, desc="stills", unit="image")):
        images[k], caption = render_still(*pairs[pair], rng, height, width)
        captions.append(caption)
    _write_npz(Path(out_path), images=images, captions=np.array(captions))


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Like `np.savez_compressed`, but with fixed zip timestamps so that equal arrays give equal bytes."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


# --- command line


def _add_frame_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int_at_least(0), required=True)
    parser.add_argument("--height", type=int_at_least(16), required=True, help="frame height (even)")
    parser.add_argument("--width", type=int_at_least(16), required=True, help="frame width (even, >= height)")


def _dataset_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vifi synthesize", description="Write one synthetic video dataset in the official formats."
    )
    parser.add_argument("--out", type=Path, required=True, help="dataset directory (replaced atomically)")
    parser.add_argument("--name", required=True, help="dataset name, part of the video file names")
    parser.add_argument("--role", choices=ROLES, required=True, help="which real dataset's role it plays")
    parser.add_argument("--classes", type=int_at_least(2), required=True, help="number of classes")
    parser.add_argument(
        "--train-per-class",
        type=int_at_least(0),
        nargs=2,
        metavar=("MIN", "MAX"),
        required=True,
        help="training videos per class, ramping from MIN to MAX over shuffled classes",
    )
    parser.add_argument("--val-per-class", type=int_at_least(1), required=True, help="test videos per class")
    parser.add_argument("--splits", type=int_at_least(1), required=True, help="1, or k folds (3 = UCF style)")
    _add_frame_args(parser)
    parser.add_argument("--frames", type=int_at_least(2), required=True, help="frames per video")
    parser.add_argument("--fps", type=int_at_least(1), required=True, help="frame rate stored in the files")
    parser.add_argument("--crf", type=int_at_least(0), default=16, help="libx264 quality, 0..51 (default 16)")
    parser.add_argument("--exclude-labels", type=Path, help="labels.csv whose class names must not be used")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`vifi synthesize`: write one synthetic dataset."""
    parser = _dataset_parser()
    args = parser.parse_args(argv)
    try:
        plan = plan_dataset(
            name=args.name,
            role=args.role,
            classes=args.classes,
            train_per_class=tuple(args.train_per_class),
            val_per_class=args.val_per_class,
            splits=args.splits,
            seed=args.seed,
            video=VideoFormat(args.height, args.width, args.frames, args.fps, args.crf),
            exclude_labels=args.exclude_labels,
        )
    except (ValueError, OSError) as err:
        parser.error(str(err))
    write_dataset(args.out, plan)
    return 0


def stills_main(argv: Sequence[str] | None = None) -> int:
    """`vifi stills`: write the captioned stills for the image-pretraining stand-in."""
    parser = argparse.ArgumentParser(
        prog="vifi stills", description="Write appearance-only captioned stills to one .npz file."
    )
    parser.add_argument("--out", type=Path, required=True, help="output .npz file (written atomically)")
    parser.add_argument("--count", type=int_at_least(1), required=True, help="number of stills")
    _add_frame_args(parser)
    args = parser.parse_args(argv)
    try:
        check_frame_size(args.height, args.width)
    except ValueError as err:
        parser.error(str(err))
    generate_stills(args.out, count=args.count, seed=args.seed, height=args.height, width=args.width)
    return 0
