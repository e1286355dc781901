"""Write the embedded synthetic world's datasets and stills: the demo's stand-in for downloading real data.

A dataset comes out in the layout and annotation format its real counterpart is published in
(`vifi.data.lists.official`: UCF-101's `ucfTrainTestlist/`, HMDB-51's 7030 split files, Kinetics CSVs, SSv2
JSON), with videos named and encoded as the publisher's are, plus `labels.csv`, the class names the text encoder
reads (the role the paper's label CSVs play for the real datasets). So the demo goes through paper mode's
readers.

A dataset's role decides what its classes can be told apart by (`vifi.data.synthetic.world` has the details). In
the `source`, `downstream` and `zeroshot` roles, single frames suffice: appearance plus the motion blur of the
rendered exposure, as in real action videos, so a frame-order-blind model such as ViFi-CLIP can learn them. In
the `temporal` role (Something-Something v2's), classes differ only by the order of their frames.

Everything derives from the seed and the dataset name through independent random streams, and the encoding is
pinned down (see `vifi.data.synthetic.encode`), so two runs give byte-identical files. The dataset directory
appears only once complete.
"""

from __future__ import annotations

import base64
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

from vifi.data.lists.annotations import Item, read_labels, write_labels
from vifi.data.lists.official import FORMATS, Video, write_annotations
from vifi.data.synthetic.encode import write_video
from vifi.data.synthetic.world import (
    COLOURS,
    ROLES,
    SHAPES,
    ClassSpec,
    render_clip,
    render_still,
    select_classes,
)
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
    paths: tuple[tuple[str, ...], ...]  # per class, each video's path relative to videos/
    format: str  # the official annotation format the dataset is written in (`vifi.data.lists.official.FORMATS`)
    lists: dict[str, list[Item]]  # split (train1, val1, ...) -> items, paths relative to videos/
    arguments: dict[str, Any]  # the request, for provenance


def camel_case(name: str) -> str:
    """UCF-101 spells its classes as one CamelCase word (`ApplyEyeMakeup`), in folder and file names alike."""
    return "".join(word[:1].upper() + word[1:] for word in name.split())


def youtube_id(dataset: str, spec: ClassSpec, index: int) -> str:
    """An 11-character id in YouTube's alphabet. One in eight begins with `-`, which command lines take for an
    option (real Kinetics has thousands such, e.g. `--coBvtS-eQ`), so the demo meets them too."""
    digest = hashlib.sha256(f"{dataset}/{spec.name}/{index}".encode()).digest()
    text = base64.urlsafe_b64encode(digest).decode()[:11]
    return "-" + text[1:] if digest[-1] % 8 == 0 else text


def video_path(fmt: str, dataset: str, spec: ClassSpec, index: int, group: int) -> str:
    """Path of one video relative to `videos/`, where the publisher's archive puts it.

    `group` is the video's fold (k-fold datasets) or 0 for test and 1 for training (one split); UCF-101 names
    its groups in the file name (`_gGG_`), Kinetics its split folder.
    """
    if fmt == "ucf101":
        camel = camel_case(spec.name)
        return f"UCF-101/{camel}/v_{camel}_g{group + 1:02d}_c{index + 1:03d}.avi"
    if fmt == "hmdb51":
        return f"{spec.slug}/clip{index:04d}_{spec.slug}_u_nm_np1_fr_goo_{index % 3}.avi"
    if fmt == "kinetics":
        start = stable_hash(f"{dataset}/{spec.name}/{index}") % 300
        folder = "val" if group == 0 else "train"
        return f"{folder}/{youtube_id(dataset, spec, index)}_{start:06d}_{start + 10:06d}.mp4"
    if fmt == "ssv2":
        return f"20bn-something-something-v2/{stable_hash(f'{dataset}/{spec.name}/{index}') % 10**9}.webm"
    raise ValueError(f"unknown annotation format {fmt!r}; expected one of {', '.join(FORMATS)}")


def official_name(fmt: str, spec: ClassSpec) -> str:
    """The class as the format's own files spell it: UCF CamelCase, HMDB folder names, a phrase otherwise."""
    return {"ucf101": camel_case(spec.name), "hmdb51": spec.slug}.get(fmt, spec.name)


def plan_dataset(
    *,
    name: str,
    fmt: str,
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
    groups = _groups(train_counts, val_per_class, splits, _rng(seed, name, _GROUPS))
    paths = [
        [video_path(fmt, name, spec, j, int(g)) for j, g in enumerate(class_groups)]
        for spec, class_groups in zip(specs, groups, strict=True)
    ]
    lists = _split_lists(paths, groups, splits)
    arguments = {
        "name": name,
        "format": fmt,
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
        format=fmt,
        classes=specs,
        train_counts=train_counts,
        videos_per_class=tuple(len(p) for p in paths),
        paths=tuple(map(tuple, paths)),
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


def _groups(
    train_counts: tuple[int, ...], val_per_class: int, splits: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Each video's group, per class. One split: 1 for the first (training) videos, 0 for the rest (test).
    k folds: a fold per video, balanced within its class; split s tests on fold s-1 and trains on the others,
    so every video is tested exactly once."""
    if splits == 1:
        return [np.array([1] * n + [0] * val_per_class) for n in train_counts]
    return [rng.permutation(np.arange(n + val_per_class) % splits) for n in train_counts]


def _split_lists(paths: list[list[str]], groups: list[np.ndarray], splits: int) -> dict[str, list[Item]]:
    """`train{s}`/`val{s}` items per split, class by class in video order."""
    pairs = [(Item(p, c), int(g)) for c, ps in enumerate(paths) for p, g in zip(ps, groups[c], strict=True)]
    if splits == 1:
        return {"train1": [it for it, g in pairs if g == 1], "val1": [it for it, g in pairs if g == 0]}
    lists = {}
    for s in range(splits):
        lists[f"train{s + 1}"] = [item for item, g in pairs if g != s]
        lists[f"val{s + 1}"] = [item for item, g in pairs if g == s]
    return lists


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def generate_dataset(
    out_dir: str | os.PathLike[str],
    *,
    name: str,
    fmt: str,
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
        fmt=fmt,
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
        write_labels(tmp / "labels.csv", [spec.name for spec in plan.classes])
        classes = [official_name(plan.format, spec) for spec in plan.classes]
        splits = {
            split: [Video(released_path(plan.format, it.path), classes[it.label]) for it in items]
            for split, items in plan.lists.items()
        }
        write_annotations(plan.format, tmp, classes, splits)
        write_json(tmp / "world.json", _world_description(plan))


def _write_videos(root: Path, plan: DatasetPlan) -> None:
    v = plan.video
    with progress_bar(total=sum(plan.videos_per_class), desc=f"synthesize {plan.name}", unit="video") as bar:
        for spec, paths in zip(plan.classes, plan.paths, strict=True):
            for index, key in enumerate(paths):
                rng = _rng(plan.seed, plan.name, _VIDEO, stable_hash(spec.name), index)
                clip = render_clip(spec, rng, v.frames, v.height, v.width)
                (root / key).parent.mkdir(parents=True, exist_ok=True)
                write_video(root / key, clip, v.fps, crf=v.crf)
                bar.update()


def released_path(fmt: str, key: str) -> str:
    """A video key as the paper's released lists write it: bare file names, except Kinetics' split folder."""
    return key if fmt == "kinetics" else key.rsplit("/", 1)[-1]


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
