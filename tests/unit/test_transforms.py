"""Spatial transforms: shapes, determinism, per-clip geometry, crop boxes and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vifi.data.transforms import (
    IMAGENET_MEAN_255,
    EvalTransform,
    TrainTransform,
    multi_scale_crop_box,
    rescaled_shape,
    scale_size,
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
