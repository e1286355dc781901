"""The synthetic world: deterministic encoded datasets, official formats, roles, motion blur and stills."""

import hashlib
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import av
import numpy as np
import pytest

from vifi.data.lists.annotations import read_labels, read_list, write_labels
from vifi.data.lists.lists import build_lists
from vifi.data.synthetic import synthesize, world
from vifi.data.synthetic.synthesize import (
    VideoFormat,
    generate_dataset,
    generate_stills,
    plan_dataset,
)
from vifi.data.synthetic.world import (
    COLOURS,
    MOTION_WORDS,
    MOTIONS,
    REVERSED,
    SHAPES,
    TEMPORAL_PAIRS,
    ClassSpec,
    is_valid,
    render_clip,
    select_classes,
)
from vifi.stages.synthesize import main, stills_main

SMALL = {"height": 32, "width": 48, "frames": 8, "fps": 8}


def _generate(out: Path, **overrides) -> Path:
    args = {
        "name": "ucf",
        "fmt": "ucf101",
        "role": "downstream",
        "classes": 4,
        "train_per_class": (2, 5),
        "val_per_class": 1,
        "splits": 3,
        "seed": 0,
        **SMALL,
        **overrides,
    }
    generate_dataset(out, **args)
    return out


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _cli_args(out: Path, seed: int) -> list[str]:
    return [
        *("--out", str(out), "--name", "ucf", "--format", "ucf101", "--role", "downstream", "--classes", "4"),
        *("--train-per-class", "2", "5", "--val-per-class", "1", "--splits", "3", "--seed", str(seed)),
        *("--height", "32", "--width", "48", "--frames", "8", "--fps", "8"),
    ]


def test_same_arguments_give_byte_identical_files_across_processes(tmp_path):
    """One run in a subprocess with another hash salt: nothing may depend on `hash` or set order."""
    _generate(tmp_path / "a")
    code = "import sys; from vifi.stages.synthesize import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, *_cli_args(tmp_path / "b", 0)], check=True, env=env)
    _generate(tmp_path / "c", seed=1)
    a, b, c = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert len(a) > 10 and a == b
    videos = {path for path in a if path.startswith("videos/")}
    assert all(a[path] != c.get(path) for path in videos)


@pytest.mark.parametrize(("fmt", "suffix"), [("ucf101", ".avi"), ("kinetics", ".mp4"), ("ssv2", ".webm")])
def test_videos_decode_to_the_requested_length_and_size(tmp_path, fmt, suffix):
    root = _generate(tmp_path / "ds", fmt=fmt, splits=1)
    videos = sorted((root / "videos").rglob("*.*"))
    assert videos and {p.suffix for p in videos} == {suffix}
    for path in videos:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == SMALL["frames"]
        assert {f.shape for f in frames} == {(SMALL["height"], SMALL["width"], 3)}


def test_labels_and_lists_follow_the_official_formats_and_the_imbalance_ramp(tmp_path):
    """Kinetics format: the lists read back from its CSVs have the ramp's counts and name real files."""
    root = _generate(
        tmp_path / "ds", fmt="kinetics", role="source", classes=6, train_per_class=(2, 7), val_per_class=2,
        splits=1,
    )  # fmt: skip
    names = read_labels(root / "labels.csv")
    assert names == sorted(names) and len(names) == 6
    build_lists("kinetics", root, root / "labels.csv", tmp_path / "lists")
    train = read_list(tmp_path / "lists" / "train1.txt", len(names))
    val = read_list(tmp_path / "lists" / "val1.txt", len(names))
    train_counts = Counter(it.label for it in train)
    assert sorted(train_counts.values()) == [2, 3, 4, 5, 6, 7]
    assert [train_counts[i] for i in range(6)] != [2, 3, 4, 5, 6, 7]  # frequency is not tied to label id
    assert Counter(it.label for it in val) == dict.fromkeys(range(6), 2)
    assert not {it.path for it in train} & {it.path for it in val}
    for item in train + val:
        assert (root / "videos" / item.path).is_file()
        assert item.path.split("/")[0] == ("train" if item in train else "val")


def test_three_splits_test_every_video_exactly_once(tmp_path):
    """UCF format: classInd, trainlist0N and testlist0N read back as three folds over every video."""
    root = _generate(tmp_path / "ds")
    on_disk = {p.name for p in (root / "videos").rglob("*.avi")}
    assert {p.parent.parent.name for p in (root / "videos").rglob("*.avi")} == {"UCF-101"}
    build_lists("ucf101", root, root / "labels.csv", tmp_path / "lists")
    tested = Counter()
    for s in (1, 2, 3):
        train = {it.path for it in read_list(tmp_path / "lists" / f"train{s}.txt")}
        val = {it.path for it in read_list(tmp_path / "lists" / f"val{s}.txt")}
        assert train and val and not train & val
        assert train | val == on_disk
        assert {p[p.index("_g") + 1 : p.index("_g") + 4] for p in val} == {f"g{s:02d}"}
        tested.update(val)
    assert set(tested) == on_disk and set(tested.values()) == {1}


def _motions_per_pair(specs: list[ClassSpec]) -> dict[tuple[str, str], set[str]]:
    motions = defaultdict(set)
    for spec in specs:
        motions[spec.colour, spec.shape].add(spec.motion)
    return motions


def _single_frame_selection(role: str, count: int) -> list[ClassSpec]:
    """A selection for `role`; zero-shot excludes a source selection, as the pipeline does."""
    exclude = set()
    if role == "zeroshot":
        exclude = {s.name for s in select_classes("source", 60, np.random.default_rng(count + 1))}
    return select_classes(role, count, np.random.default_rng(count), exclude)


@pytest.mark.parametrize("role", ["source", "downstream", "zeroshot"])
@pytest.mark.parametrize("count", [2, 5, 7, 40, 100])
def test_appearance_never_identifies_a_class(role, count):
    specs = _single_frame_selection(role, count)
    assert len({s.name for s in specs}) == count
    assert min(len(m) for m in _motions_per_pair(specs).values()) >= 2


@pytest.mark.parametrize("role", ["source", "downstream", "zeroshot"])
@pytest.mark.parametrize("count", [2, 5, 7, 40, 100])
def test_single_frame_roles_never_hold_both_orders_of_a_motion(role, count):
    """Order-only distinctions belong to the temporal role; elsewhere single frames tell classes apart."""
    specs = _single_frame_selection(role, count)
    for (colour, shape), motions in _motions_per_pair(specs).items():
        for pair in TEMPORAL_PAIRS:
            assert not set(pair) <= motions, f"{colour} {shape} has both {pair}"


def test_single_frame_roles_still_use_every_order_pair_motion():
    """One member of each order pair is drawn at random, so neither member is banned from these roles."""
    motions = {s.motion for s in select_classes("source", 100, np.random.default_rng(0))}
    assert {m for pair in TEMPORAL_PAIRS for m in pair} <= motions


def test_zero_shot_classes_are_new_to_the_source(tmp_path):
    source = [s.name for s in select_classes("source", 60, np.random.default_rng(0))]
    write_labels(tmp_path / "labels.csv", source)
    video = VideoFormat(**SMALL)
    plan = plan_dataset(
        name="k600",
        fmt="kinetics",
        role="zeroshot",
        classes=30,
        train_per_class=(0, 0),
        val_per_class=1,
        splits=1,
        seed=0,
        video=video,
        exclude_labels=tmp_path / "labels.csv",
    )
    assert len(plan.classes) == 30 and not {s.name for s in plan.classes} & set(source)
    with pytest.raises(ValueError, match="zeroshot"):
        plan_dataset(
            name="k600",
            fmt="kinetics",
            role="zeroshot",
            classes=30,
            train_per_class=(0, 0),
            val_per_class=1,
            splits=1,
            seed=0,
            video=video,
        )


def _sharp_clip(monkeypatch, spec: ClassSpec, seed: int, frames: int, height: int, width: int) -> np.ndarray:
    """The same video exposed at one instant per frame: identical paths and background, no blur.

    A zero-length exposure window still consumes its random draw, so every other draw stays the same.
    """
    with monkeypatch.context() as patch:
        patch.setattr(world, "_EXPOSURE", (0.0, 0.0))
        patch.setattr(world, "_SHORT_EXPOSURE", (0.0, 0.0))
        return render_clip(spec, np.random.default_rng(seed), frames, height, width)


def test_temporal_classes_come_in_order_pairs_rendered_as_time_reversals(monkeypatch):
    specs = select_classes("temporal", 2 * len(TEMPORAL_PAIRS), np.random.default_rng(3))
    pairs = [(specs[i], specs[i + 1]) for i in range(0, len(specs), 2)]
    assert {forward.motion for forward, _ in pairs} == {forward for forward, _ in TEMPORAL_PAIRS}
    for forward, backward in pairs:
        assert (forward.colour, forward.shape) == (backward.colour, backward.shape)
        assert REVERSED[backward.motion] == forward.motion
        a = render_clip(forward, np.random.default_rng(11), 12, 32, 48)
        b = render_clip(backward, np.random.default_rng(11), 12, 32, 48)
        assert not np.array_equal(a[0], a[-1])  # the clip really moves
        assert not np.array_equal(a, _sharp_clip(monkeypatch, forward, 11, 12, 32, 48))  # and is blurred
        assert np.array_equal(b, a[::-1])


def test_temporal_classes_name_no_object_and_each_video_draws_its_own():
    """As in Something-Something, appearance says nothing about a temporal class: only frame order does."""
    specs = select_classes("temporal", 2 * len(TEMPORAL_PAIRS), np.random.default_rng(0))
    assert all(spec.colour is None and spec.name.startswith("something ") for spec in specs)
    drawn = {world._appearance(specs[0], np.random.default_rng(seed)) for seed in range(12)}
    assert len({colour for colour, _ in drawn}) > 1 and len({shape for _, shape in drawn}) > 1


@pytest.mark.parametrize("exposure", ["_EXPOSURE", "_SHORT_EXPOSURE"])
def test_exposure_windows_are_symmetric_so_blur_hides_the_direction(exposure):
    """Reversing time maps each frame's window of instants onto the mirrored frame's: the streak has no head."""
    frames = 16
    clock = world._exposure_clock(np.random.default_rng(0), frames, getattr(world, exposure))
    np.testing.assert_allclose(clock.progress[[0, -1]], [0.0, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(clock.progress[::-1], 1.0 - clock.progress, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clock.weights, clock.weights[::-1])
    last = len(clock.progress) - 1
    for t in range(frames):
        window = {t * clock.step + k for k in range(len(clock.weights))}
        mirrored = {(frames - 1 - t) * clock.step + k for k in range(len(clock.weights))}
        assert {last - i for i in window} == mirrored


def _objectness(frame: np.ndarray) -> np.ndarray:
    """Per-pixel share of the object, 0 on the (median) background and 1 at the brightest pixel."""
    lum = frame.astype(np.float64).mean(axis=-1)
    background = np.median(lum)
    return (lum - background) / (lum.max() - background)


def _transition_widths(frame: np.ndarray) -> tuple[float, float]:
    """Mean count of partly covered pixels per row and per column through the middle half of a circle.

    The middle half keeps the circle's edges within 30 degrees of perpendicular to the profiles, so a sharp
    edge spans about one pixel in both; a blur streak widens only the profiles along the motion.
    """
    share = _objectness(frame)
    ys, xs = np.nonzero(share > 0.5)
    radius = np.sqrt(len(ys) / np.pi)
    partial = (share > 0.1) & (share < 0.9)
    rows = slice(int(np.ceil(ys.mean() - radius / 2)), int(ys.mean() + radius / 2) + 1)
    cols = slice(int(np.ceil(xs.mean() - radius / 2)), int(xs.mean() + radius / 2) + 1)
    return float(partial[rows].sum(axis=1).mean()), float(partial[:, cols].sum(axis=0).mean())


@pytest.mark.parametrize("motion", ["staying still", "blinking"])
def test_exposure_leaves_objects_that_do_not_move_sharp(monkeypatch, motion):
    """Nothing moves during an exposure, so the frames equal the single-instant render exactly."""
    spec = ClassSpec("white", "circle", motion)
    for seed in range(3):
        clip = render_clip(spec, np.random.default_rng(seed), 16, 48, 64)
        assert np.array_equal(clip, _sharp_clip(monkeypatch, spec, seed, 16, 48, 64))
        shown = clip[clip.sum(axis=(1, 2, 3)).argmax()]
        assert max(_transition_widths(shown)) <= 2.5  # one anti-aliased pixel per edge, give or take


@pytest.mark.parametrize(
    ("motion", "axis"), [("moving to the right", 0), ("moving to the left", 0), ("moving to the bottom", 1)]
)
def test_a_translating_object_blurs_along_its_motion_only(motion, axis):
    """A single frame shows the motion: edges across the path widen into a streak, edges along it do not."""
    for seed in range(5):
        clip = render_clip(ClassSpec("white", "circle", motion), np.random.default_rng(seed), 8, 48, 64)
        widths = _transition_widths(clip[4])
        assert widths[axis] > widths[1 - axis] + 1.0, widths


@pytest.mark.parametrize(("height", "width", "frames"), [(32, 48, 8), (48, 48, 16)])
def test_translations_move_the_streak_across_the_square(height, width, frames):
    """Frame order shows the motion: the streak's centre moves over 30% of the side, first to last frame."""
    for shape in SHAPES:
        for motion in (
            "moving to the left",
            "moving to the right",
            "moving to the top",
            "moving to the bottom",
        ):
            for seed in range(4):
                clip = render_clip(
                    ClassSpec("white", shape, motion), np.random.default_rng(seed), frames, height, width
                )
                first, last = (np.argwhere(_objectness(f) > 0.5).mean(axis=0) for f in (clip[0], clip[-1]))
                assert np.abs(last - first).max() >= 0.3 * height, (shape, motion, seed)


@pytest.mark.parametrize(
    ("role", "count", "message"),
    [
        ("temporal", 7, "temporal.*even"),
        ("temporal", 8, "temporal.*8.*only 3 order pairs"),
        ("source", 1, "source.*at least 2"),
        ("x", 4, "unknown role"),
    ],
)
def test_impossible_selections_name_the_role_and_count(role, count, message):
    with pytest.raises(ValueError, match=message):
        select_classes(role, count, np.random.default_rng(0))


def test_every_class_stays_inside_the_central_square_and_is_visible():
    """Background is dark grey, objects are bright: bright pixels may only appear inside the crop."""
    height, width = 32, 48
    left = (width - height) // 2
    for colour in COLOURS:
        for shape in SHAPES:
            for motion in MOTIONS:
                if not is_valid(shape, motion):
                    continue
                clip = render_clip(ClassSpec(colour, shape, motion), np.random.default_rng(0), 8, height, width)
                bright = clip.max(axis=(0, 3)) > 120
                assert bright[1:-1, left + 1 : left + height - 1].any()
                assert not bright[[0, -1]].any()
                assert not bright[:, : left + 1].any() and not bright[:, left + height - 1 :].any()


def test_blinking_survives_sampling_every_fourth_frame():
    """Sparse frame sampling must not alias blinking into a still (or empty) clip."""
    for seed in range(10):
        clip = render_clip(ClassSpec("red", "circle", "blinking"), np.random.default_rng(seed), 16, 32, 48)
        visible = clip.max(axis=(1, 2, 3)) > 120
        for offset in range(4):
            assert len(set(visible[offset::4])) == 2


def test_stills_are_appearance_only_balanced_and_deterministic(tmp_path):
    generate_stills(tmp_path / "a.npz", count=48, seed=0, height=32, width=48)
    assert (
        stills_main(
            [
                "--out",
                str(tmp_path / "b.npz"),
                "--count",
                "48",
                "--seed",
                "0",
                "--height",
                "32",
                "--width",
                "48",
            ]
        )
        == 0
    )
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as data:
        images, captions = data["images"], [str(c) for c in data["captions"]]
    assert images.shape == (48, 32, 48, 3) and images.dtype == np.uint8
    assert not {w.strip(".") for c in captions for w in c.split()} & MOTION_WORDS
    pairs = Counter(next((c, s) for c in COLOURS for s in SHAPES if f"{c} {s}" in cap) for cap in captions)
    assert len(pairs) == len(COLOURS) * len(SHAPES) and set(pairs.values()) == {2}


def test_a_failed_run_keeps_the_previous_dataset(tmp_path, monkeypatch):
    out = _generate(tmp_path / "ds", classes=2, train_per_class=(1, 1), splits=1)
    before = _digests(out)

    def broken(*args, **kwargs):
        raise RuntimeError("encoder died")

    monkeypatch.setattr(synthesize, "write_video", broken)
    with pytest.raises(RuntimeError, match="encoder died"):
        _generate(tmp_path / "ds", classes=2, train_per_class=(1, 1), splits=1, seed=5)
    assert _digests(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


@pytest.mark.parametrize(
    "change",
    [
        ["--width", "30"],  # narrower than high
        ["--height", "33", "--width", "48"],  # odd: yuv420p halves the size
        ["--role", "temporal", "--classes", "5"],  # order pairs need an even count
        ["--train-per-class", "5", "2"],
        ["--frames", "1"],
        ["--role", "zeroshot"],  # without --exclude-labels
    ],
)
def test_cli_rejects_invalid_arguments(tmp_path, change, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*_cli_args(tmp_path / "ds", 0), *change])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()
