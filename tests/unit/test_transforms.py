"""Spatial transforms: shapes, determinism, per-clip geometry, crop boxes and normalisation."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate
from torchvision.transforms import v2

from vifi.data.frames import transforms
from vifi.data.frames.transforms import (
    CLIP_MEAN_255,
    CLIP_STD_255,
    EVL_RANDAUGMENT,
    HUE,
    IMAGENET_MEAN_255,
    IMAGENET_STD_255,
    ClipColorJitter,
    DeviceAugment,
    EvalTransform,
    EVLTrainTransform,
    ThreeCropTransform,
    TrainTransform,
    eval_transform,
    jitter_schedule,
    multi_scale_crop_box,
    rand_augment_clip,
    rescaled_shape,
    scale_size,
    three_crop_offsets,
)


def random_frames(t: int = 4, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_scale_size_and_rescaled_shape() -> None:
    assert scale_size(224) == 256 and scale_size(32) == 36
    assert rescaled_shape(240, 320, 256) == (256, 341)
    assert rescaled_shape(320, 240, 256) == (341, 256)
    assert rescaled_shape(240, 323, 256) == (256, 345)  # 344.53 rounds up, as mmcv does


@pytest.mark.parametrize("transform", [TrainTransform(32), EvalTransform(32), TrainTransform(224)])
def test_output_shape_and_dtype(transform: TrainTransform | EvalTransform) -> None:
    out = transform(random_frames())
    size = transform.input_size
    assert out.shape == (4, 3, size, size) and out.dtype == torch.float32 and out.is_contiguous()


def test_eval_is_deterministic_and_centre_crops() -> None:
    frames = random_frames(h=36, w=48)
    out = EvalTransform(32)(frames)
    assert torch.equal(out, EvalTransform(32)(frames))
    # short side is already scale_size(32) = 36, so the output is the centre 32x32 crop, normalised
    crop = frames[:, 2:34, 8:40].astype(np.float32)
    expected = (crop - np.array(IMAGENET_MEAN_255)) / np.array([58.395, 57.12, 57.375])
    np.testing.assert_allclose(out.permute(0, 2, 3, 1).numpy(), expected, atol=1e-5)


def test_train_uses_the_same_geometry_for_every_frame() -> None:
    transform = TrainTransform(32, color_jitter=0.0, grayscale=0.0)
    frames = np.repeat(random_frames(t=1), 6, axis=0)
    for seed in range(10):
        torch.manual_seed(seed)
        out = transform(frames)
        for t in range(1, 6):
            assert torch.equal(out[t], out[0])


def test_train_flip_mirrors_the_whole_clip() -> None:
    frames = random_frames()
    torch.manual_seed(5)
    kept = TrainTransform(32, hflip=0.0, color_jitter=0.0, grayscale=0.0)(frames)
    torch.manual_seed(5)
    flipped = TrainTransform(32, hflip=1.0, color_jitter=0.0, grayscale=0.0)(frames)
    assert torch.equal(flipped, kept.flip(-1))


def test_train_jitter_differs_per_frame_and_augmentation_varies() -> None:
    frames = np.repeat(random_frames(t=1), 4, axis=0)
    torch.manual_seed(0)
    jittered = TrainTransform(32, color_jitter=1.0, grayscale=0.0)(frames)
    assert not torch.equal(jittered[0], jittered[1])
    plain = TrainTransform(32, color_jitter=0.0, grayscale=0.0)
    outputs = [plain(frames) for _ in range(10)]
    assert any(not torch.equal(outputs[0], o) for o in outputs[1:])


class PerFrameJitter:
    """The paper's jitter as a loop: `v2.ColorJitter` called on each frame in turn, drawing per call."""

    def __init__(self) -> None:
        self.jitter = v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.jitter(frame) for frame in clip])


def jitter_test_frames(t: int, h: int, w: int) -> np.ndarray:
    """Random colours, a grey band (r = g = b) where blends land on whole grey levels, and black pixels."""
    frames = random_frames(t, h, w)
    frames[:, : h // 3] = frames[:, : h // 3, :, :1]
    frames[:, -2:, :4] = 0
    return frames


def outputs_and_next_draw(
    transform: TrainTransform, frames: np.ndarray, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    return transform(frames), torch.rand(8)


@pytest.mark.parametrize("frames_shape", [(8, 48, 64), (6, 36, 48)])  # resized, and cropped without a resize
def test_train_jitter_equals_the_per_frame_loop(frames_shape: tuple[int, int, int]) -> None:
    frames = jitter_test_frames(*frames_shape)
    batched = TrainTransform(32, color_jitter=1.0, grayscale=0.0)
    looped = TrainTransform(32, color_jitter=1.0, grayscale=0.0)
    looped.jitter = PerFrameJitter()
    for seed in range(8):
        out, next_draw = outputs_and_next_draw(batched, frames, seed)
        expected, expected_next_draw = outputs_and_next_draw(looped, frames, seed)
        assert torch.equal(out, expected)
        assert torch.equal(next_draw, expected_next_draw)  # the RNG stream goes on as after the loop


@pytest.mark.parametrize("call_pixels", [transforms.JITTER_CALL_PIXELS, 400])
def test_clip_jitter_equals_the_per_frame_loop_on_non_square_frames(
    call_pixels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transforms, "JITTER_CALL_PIXELS", call_pixels)  # 400: one 17 x 29 frame per call
    frames = jitter_test_frames(7, 17, 29)
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2)
    jitter, loop = ClipColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1), PerFrameJitter()
    for seed in range(8):
        torch.manual_seed(seed)
        out = jitter(clip)
        torch.manual_seed(seed)
        assert torch.equal(out, loop(clip))
    assert np.array_equal(frames, jitter_test_frames(7, 17, 29))  # the input is left as it was


def test_jitter_schedule_keeps_each_frames_order_and_runs_hue_once() -> None:
    torch.manual_seed(0)
    for _ in range(20):
        orders = [torch.randperm(4).tolist() for _ in range(8)]
        steps = list(jitter_schedule(orders))
        applied: list[list[int]] = [[] for _ in orders]
        for op, frames in steps:
            for frame in frames:
                applied[frame].append(op)
        assert applied == orders
        assert [op for op, _ in steps].count(HUE) == 1


def test_train_grayscale_makes_channels_equal() -> None:
    out = TrainTransform(32, color_jitter=0.0, grayscale=1.0)(random_frames())
    unnormalised = out * torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    unnormalised += torch.tensor(IMAGENET_MEAN_255).view(1, 3, 1, 1)
    assert torch.allclose(unnormalised[:, 0], unnormalised[:, 1], atol=1e-3)
    assert torch.allclose(unnormalised[:, 1], unnormalised[:, 2], atol=1e-3)


def test_multi_scale_crop_boxes_for_paper_size() -> None:
    # 256x340 image, input 224: sides from {256, 224, 192, 168}, neighbouring scales only, 5 fixed offsets.
    sizes = [256, 224, 192, 168]
    boxes = set()
    torch.manual_seed(0)
    for _ in range(2000):
        top, left, crop_h, crop_w = multi_scale_crop_box(256, 340, 224)
        assert abs(sizes.index(crop_h) - sizes.index(crop_w)) <= 1
        h_step, w_step = (256 - crop_h) // 4, (340 - crop_w) // 4
        assert (left, top) in {(0, 0), (4 * w_step, 0), (0, 4 * h_step), (4 * w_step, 4 * h_step)} | {
            (2 * w_step, 2 * h_step)
        }
        boxes.add((crop_h, crop_w))
    assert len(boxes) == 10


def test_multi_scale_crop_snaps_to_input_size() -> None:
    # input 32: scale size 36, sides int(36 s) = 36, 31, 27, 23; 31 snaps to 32.
    torch.manual_seed(0)
    sides = {side for _ in range(500) for side in multi_scale_crop_box(36, 48, 32)[2:]}
    assert sides == {36, 32, 27, 23}


def test_normalisation_maps_imagenet_mean_to_zero() -> None:
    frames = np.empty((2, 40, 40, 3), np.uint8)
    frames[:] = np.round(IMAGENET_MEAN_255).astype(np.uint8)
    for transform in [EvalTransform(32), TrainTransform(32, color_jitter=0.0, grayscale=0.0)]:
        out = transform(frames)
        assert out.abs().max() < 0.01


def test_rejects_wrong_layout() -> None:
    with pytest.raises(ValueError, match="uint8"):
        EvalTransform(32)(random_frames().astype(np.float32))


def ramp_frames(h: int, w: int, t: int = 2) -> np.ndarray:
    """Frames whose red channel is the column index and green channel the row index."""
    frames = np.zeros((t, h, w, 3), dtype=np.uint8)
    frames[..., 0] = np.arange(w)[None, None, :]
    frames[..., 1] = np.arange(h)[None, :, None]
    return frames


def test_three_crops_take_start_end_and_centre_of_the_long_side() -> None:
    raw = ThreeCropTransform(8, mean=(0, 0, 0), std=(1, 1, 1))
    # Landscape 8x14: short side is already 8, step (14 - 8) // 2 = 3, crops start at columns 0, 6, 3.
    out = raw(ramp_frames(8, 14))
    assert out.shape == (3, 2, 3, 8, 8)
    assert out[:, 0, 0, 0, 0].tolist() == [0, 6, 3]
    assert torch.equal(out[1, :, 0], torch.arange(6, 14.0).expand(2, 8, 8))  # whole columns, every frame
    assert torch.equal(out[:, :, 1], torch.arange(8.0)[:, None].expand(3, 2, 8, 8))  # rows untouched
    # Portrait 13x8 (odd margin 5): step 2, rows 0, 4, 2; the end crop stops one row short of the edge.
    out = raw(ramp_frames(13, 8))
    assert out[:, 0, 1, 0, 0].tolist() == [0, 4, 2] and three_crop_offsets(13, 8) == [0, 4, 2]
    assert torch.equal(out[:, :, 0], torch.arange(8.0).expand(3, 2, 8, 8))


def test_three_crops_resize_the_short_side_to_the_input_size() -> None:
    frames = random_frames(h=36, w=48)
    out = ThreeCropTransform(32)(frames)
    assert out.shape == (3, 4, 3, 32, 32) and out.dtype == torch.float32
    assert not torch.equal(out[0], out[1])
    # the centre crop of a 32x43 resize is not the centre-crop transform's 36 -> 32 crop
    assert not torch.allclose(out[2], EvalTransform(32)(frames))


def test_eval_transform_picks_the_crop_count() -> None:
    assert isinstance(eval_transform(32, 1, mean=IMAGENET_MEAN_255, std=(1, 1, 1)), EvalTransform)
    assert isinstance(eval_transform(32, 3, mean=IMAGENET_MEAN_255, std=(1, 1, 1)), ThreeCropTransform)
    with pytest.raises(ValueError, match="crops"):
        eval_transform(32, 2, mean=IMAGENET_MEAN_255, std=(1, 1, 1))


def evl_outputs(transform: EVLTrainTransform, frames: np.ndarray, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return transform(frames)


def test_evl_train_is_reproducible_under_torch_seed() -> None:
    frames, transform = random_frames(), EVLTrainTransform(32)
    assert torch.equal(evl_outputs(transform, frames, 3), evl_outputs(transform, frames, 3))
    assert not torch.equal(evl_outputs(transform, frames, 3), evl_outputs(transform, frames, 4))


def test_evl_train_augments_every_frame_alike() -> None:
    """Same RandAugment ops and magnitudes and the same crop box for every frame of a clip."""
    frames = np.repeat(random_frames(t=1), 4, axis=0)
    for seed in range(6):
        out = evl_outputs(EVLTrainTransform(32), frames, seed)
        for t in range(1, 4):
            assert torch.equal(out[t], out[0])


def test_evl_randaugment_changes_pixels() -> None:
    frames = random_frames()
    for seed in range(3):
        augmented = rand_augment_clip(frames, EVL_RANDAUGMENT, seed)
        assert augmented.shape == frames.shape and augmented.dtype == np.uint8
        assert not np.array_equal(augmented, frames)
        plain = evl_outputs(EVLTrainTransform(32, randaugment=None), frames, seed)
        assert not torch.equal(plain, evl_outputs(EVLTrainTransform(32), frames, seed))


def test_evl_randaugment_leaves_python_and_numpy_streams_alone() -> None:
    random.seed(1)
    np.random.seed(1)
    expected = random.random(), np.random.rand()
    random.seed(1)
    np.random.seed(1)
    rand_augment_clip(random_frames(t=2), EVL_RANDAUGMENT, 7)
    assert (random.random(), np.random.rand()) == expected


def test_evl_train_shape_and_clip_normalisation() -> None:
    """A constant clip stays constant through crop and resize, so each channel is exactly (v - mean) / std."""
    value = np.array([10, 200, 90], np.uint8)
    frames = np.broadcast_to(value, (3, 40, 56, 3)).copy()
    imagenet = EVLTrainTransform(32, randaugment=None, mean=IMAGENET_MEAN_255, std=IMAGENET_STD_255)
    cases = [(EVLTrainTransform(32, randaugment=None), CLIP_MEAN_255, CLIP_STD_255)]
    for transform, mean, std in [*cases, (imagenet, IMAGENET_MEAN_255, IMAGENET_STD_255)]:
        out = evl_outputs(transform, frames, 0)
        assert out.shape == (3, 3, 32, 32) and out.dtype == torch.float32 and out.is_contiguous()
        expected = torch.tensor((value - np.array(mean)) / np.array(std), dtype=torch.float32)
        torch.testing.assert_close(out, expected.view(1, 3, 1, 1).expand_as(out))


@pytest.mark.parametrize(
    "frames_shapes",
    [[(8, 48, 64)], [(5, 36, 48)], [(5, 36, 48), (5, 64, 40), (5, 36, 36)]],
    ids=["resized", "cropped without a resize", "landscape, portrait and square in one batch"],
)
def test_device_augment_equals_the_cpu_path_on_cpu(frames_shapes: list[tuple[int, int, int]]) -> None:
    """Tolerance 0 on CPU: the batched ops repeat each frame's arithmetic, and each clip's crop is resized as
    the CPU path resizes it, whatever the video's aspect ratio. Clips of one batch differ in crop size, flip,
    jitter and grayscale (p = 0.5 each), and the RNG stream goes on as after the CPU path."""
    settings = {"hflip": 0.5, "color_jitter": 0.5, "grayscale": 0.5}
    cpu = TrainTransform(32, **settings)
    device = TrainTransform(32, on_device=True, **settings)
    clips = [jitter_test_frames(*frames_shapes[i % len(frames_shapes)]) for i in range(6)]
    expected, drawn = [], []
    for seed, frames in enumerate(clips):
        out, next_draw = outputs_and_next_draw(cpu, frames, seed)
        expected.append(out)
        draws, device_next = outputs_and_next_draw(device, frames, seed)
        drawn.append(draws)
        assert torch.equal(device_next, next_draw)
    batch = default_collate(drawn)
    assert batch["clip"].dtype == torch.uint8
    assert len(set(map(tuple, batch["size"].tolist()))) > 1, "the batch should mix crop sizes"
    side = batch["clip"].shape[2]
    assert batch["clip"].shape[2:] == (side, side, 3) and batch["clip"].is_contiguous()
    assert (batch["offset"] >= 0).all() and (batch["offset"] + batch["size"] <= side).all(), "crops in windows"
    assert (batch["offset"] > 0).any(), "some crop should lie inside its window, not at its corner"
    assert 0 < int(batch["jitter"].sum()) < len(clips), "the batch should mix jittered and plain clips"
    torch.testing.assert_close(DeviceAugment(32)(batch), torch.stack(expected), rtol=0, atol=0)


def test_device_augment_jitters_each_frame_with_its_own_draw() -> None:
    """A wrong frame-to-draw pairing (e.g. one clip's factors for every clip) must show: swapping two clips'
    draws changes the output."""
    torch.manual_seed(0)
    device = TrainTransform(32, hflip=0.0, color_jitter=1.0, grayscale=0.0, on_device=True)
    batch = default_collate([device(jitter_test_frames(4, 48, 64)) for _ in range(2)])
    swapped = {**batch, "order": batch["order"].flip(0), "factors": batch["factors"].flip(0)}
    assert not torch.equal(DeviceAugment(32)(batch), DeviceAugment(32)(swapped))


def test_hue_shift_matches_torchvision_within_one_grey_level() -> None:
    """The closed-form hue shift against `F.adjust_hue` frame by frame, on random colours, grey pixels (no hue)
    and saturated primaries, with factors over the whole jitter range and its ends: at most one grey level,
    on at most 1e-4 of the values (truncation after float rounding)."""
    generator = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (9, 3, 64, 64), dtype=torch.uint8, generator=generator)
    frames[:, :, :8] = frames[:, :1, :8]  # grey rows
    frames[:, :, -1, :3] = torch.eye(3, dtype=torch.uint8).mul(255)  # a red, a green and a blue pixel
    factors = torch.linspace(-0.5, 0.5, len(frames), dtype=torch.float64)
    expected = torch.stack(
        [v2.functional.adjust_hue(f, float(h)) for f, h in zip(frames, factors, strict=True)]
    )
    out = transforms._hue(frames, factors.view(-1, 1, 1, 1))
    difference = (out.int() - expected.int()).abs()
    assert int(difference.max()) <= 1
    assert float((difference > 0).float().mean()) <= 1e-4
    assert not torch.equal(out[1], frames[1]), "a non-zero factor must shift the hue"
