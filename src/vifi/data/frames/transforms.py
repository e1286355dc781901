"""Spatial transforms of ViFi-CLIP (METHODS §4.3), generalised from the paper's 224 input to any size.

The official pipeline chains mmaction transforms on lists of per-frame numpy images. Here every geometric
step (resize, crop, flip, grayscale, normalise) runs once on the whole `(T, 3, H, W)` uint8 tensor. The paper
draws the colour jitter's factors and op order per frame; `ClipColorJitter` still runs each op in batched calls,
on all the frames due for it, with a factor per frame. All randomness comes from torch's global RNG, so the
seeding that `DataLoader` does for each worker applies.

Resizes inside the transforms are bilinear without antialiasing, as `mmcv.imresize` (cv2 `INTER_LINEAR`)
does. Colour jitter and grayscale run on tensors rather than PIL images; their rounding can differ from
PIL's by a grey level, and the hue shift's from torchvision's tensor op by one level on about 1e-5 of values.

`EVLTrainTransform` is the comparison system's training augmentation (§7.2). Its RandAugment runs on PIL
images through timm, which draws from python's `random` and numpy; those draws are seeded from torch's RNG,
so the same seeding governs it too.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from timm.data.auto_augment import rand_augment_transform
from torchvision.transforms import RandomResizedCrop, v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2.functional._color import _rgb_to_grayscale_image

IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)
CLIP_MEAN_255 = tuple(255 * m for m in (0.48145466, 0.4578275, 0.40821073))
CLIP_STD_255 = tuple(255 * s for s in (0.26862954, 0.26130258, 0.27577711))
# The paper's pipeline normalises with ImageNet statistics (METHODS §4.3), EVL with CLIP's own (§7.2);
# `--normalize` selects one for either, as an ablation switch.
NORMALIZATION = {"imagenet": (IMAGENET_MEAN_255, IMAGENET_STD_255), "clip": (CLIP_MEAN_255, CLIP_STD_255)}
CROP_SCALES = (1.0, 0.875, 0.75, 0.66)
MAX_WH_SCALE_GAP = 1
SNAP_PX = 3
EVL_RANDAUGMENT = "rand-m7-n4-mstd0.5-inc1"
EVL_TRANSLATE_FRACTION = 0.45
# EVL passes no fill colour, so pixels that geometric ops uncover get timm's default grey.
RANDAUGMENT_FILL = (128, 128, 128)
RRC_SCALE = (0.08, 1.0)
RRC_RATIO = (3 / 4, 4 / 3)


def scale_size(input_size: int) -> int:
    """Short side before cropping: 256 for the paper's 224 input, the same ratio for other sizes."""
    return int(256 / 224 * input_size)


def rescaled_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """`(h, w)` with the short side set to `short_side`, rounded as `mmcv.rescale_size` rounds."""
    scale = short_side / min(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_clip(clip: torch.Tensor, height: int, width: int, *, antialias: bool) -> torch.Tensor:
    """Bilinear resize of a uint8 `(T, 3, H, W)` clip; the input itself when the size already matches."""
    if clip.shape[-2:] == (height, width):
        return clip
    return F.resize(clip, [height, width], antialias=antialias)


def resize_short_side_clip(clip: torch.Tensor, short_side: int, *, antialias: bool) -> torch.Tensor:
    """Resize a uint8 `(T, 3, H, W)` clip so that its short side is `short_side`, keeping the aspect ratio."""
    height, width = rescaled_shape(clip.shape[-2], clip.shape[-1], short_side)
    return resize_clip(clip, height, width, antialias=antialias)


def to_clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """View uint8 `(T, H, W, 3)` frames as a `(T, 3, H, W)` tensor without copying (channels-last strides)."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return torch.from_numpy(frames).permute(0, 3, 1, 2)


def _randint(high: int) -> int:
    """Uniform integer in [0, high) from torch's global RNG."""
    return int(torch.randint(high, (1,)).item())


def _coin(p: float) -> bool:
    """True with probability `p`, drawn from torch's global RNG (mmaction's `rand() < p`)."""
    return bool(torch.rand(1).item() < p)


def multi_scale_crop_box(height: int, width: int, input_size: int) -> tuple[int, int, int, int]:
    """Draw mmaction's `MultiScaleCrop` box `(top, left, crop_h, crop_w)` for an image of `height` x `width`.

    Crop sides come from fixed fractions of the short side; width and height may use neighbouring fractions,
    so the aspect ratio varies. A side within 3 px of the input size snaps to it. The offset is one of the
    four corners or the centre of a grid whose step is a quarter of the slack.
    """
    sizes = [int(min(height, width) * s) for s in CROP_SCALES]
    candidates = [
        (crop_w, crop_h)
        for i, crop_h in enumerate(sizes)
        for j, crop_w in enumerate(sizes)
        if abs(i - j) <= MAX_WH_SCALE_GAP
    ]
    crop_w, crop_h = candidates[_randint(len(candidates))]
    crop_w = input_size if abs(crop_w - input_size) < SNAP_PX else crop_w
    crop_h = input_size if abs(crop_h - input_size) < SNAP_PX else crop_h
    w_step, h_step = (width - crop_w) // 4, (height - crop_h) // 4
    offsets = [(0, 0), (4 * w_step, 0), (0, 4 * h_step), (4 * w_step, 4 * h_step), (2 * w_step, 2 * h_step)]
    left, top = offsets[_randint(len(offsets))]
    return top, left, crop_h, crop_w


class Normalize:
    """Map 0-255 values to float32 `(x - mean) / std` per channel (ImageNet statistics, METHODS §4.3)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(clip.device), self.std.to(clip.device)
        return ((clip.float() - mean) / std).contiguous()


def _blend(clip: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """torchvision's `_blend` of uint8 frames and float `other` with a float64 `ratio` per frame, back to uint8.

    torchvision adds `other` with `alpha=1 - ratio`, a fused multiply-add, and takes `1 - ratio` in float64 from
    its python float; `addcmul_` fuses the same way, so each frame comes out bit for bit as torchvision's.
    """
    mixed = clip.mul(ratio.float()).addcmul_(other, (1 - ratio).float())
    return mixed.clamp_(0, 255).to(torch.uint8)


def _brightness(clip: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """`F.adjust_brightness` with one factor per frame."""
    return clip.mul(factor.float()).clamp_(0, 255).to(torch.uint8)


def _grey(clip: torch.Tensor) -> torch.Tensor:
    """Float `(T, 1, H, W)` grey levels of uint8 frames, floored as torchvision's contrast and saturation do."""
    return _rgb_to_grayscale_image(clip, preserve_dtype=False).floor_()


def _contrast(clip: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """`F.adjust_contrast` with one factor per frame: blend towards the frame's mean grey level.

    The mean fills a whole grey plane: `addcmul_` is several times slower when no operand varies over pixels.
    """
    grey = _grey(clip)
    return _blend(clip, grey.copy_(grey.mean(dim=(-3, -2, -1), keepdim=True)), factor)


def _saturation(clip: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """`F.adjust_saturation` with one factor per frame: blend towards the frame's grayscale."""
    return _blend(clip, _grey(clip), factor)


# Added to the hue in sextants to give each output channel's position on the hue circle: red, green, blue.
HUE_SEXTANT_OFFSETS = (5.0, 3.0, 1.0)
# torchvision's float -> uint8 conversion: scale by 256 - 1e-3 and truncate.
TO_UINT8 = (256 - 1e-3) / 255


def _hue(clip: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """`F.adjust_hue` with one factor per frame, in a closed form with half of torchvision's passes.

    torchvision converts to HSV and back through a one-hot gather over the six sextants. With value v = max,
    chroma c = max - min and the shifted hue h in sextants, each channel is `v - c * clamp(min(k, 4 - k), 0, 1)`
    with `k = (h + n) mod 6`, n = 5, 3, 1 for red, green, blue: the same maths, so the output equals
    torchvision's up to float rounding before the truncation to uint8 (one grey level, on about 1e-5 of the
    values, `test_transforms`).
    """
    rgb = clip.float()
    red, green, blue = rgb.unbind(dim=-3)
    value = rgb.amax(dim=-3)
    chroma = value - rgb.amin(dim=-3)
    # Grey pixels (no chroma) get hue 0, as in torchvision; dividing them by 1 keeps NaNs out.
    divisor = torch.where(chroma > 0, chroma, 1.0).mul_(6)
    turns = torch.where(
        value == red,
        green - blue,
        torch.where(value == green, blue - red + 2 * chroma, red - green + 4 * chroma),
    )
    hue = turns.div_(divisor).add_(factor.float().view(-1, 1, 1)).remainder_(1.0).mul_(6)
    offsets = torch.tensor(HUE_SEXTANT_OFFSETS, device=clip.device).view(3, 1, 1)
    k = (hue.unsqueeze(-3) + offsets).remainder_(6.0)
    weight = torch.minimum(k, 4 - k).clamp_(0, 1)
    return (value.unsqueeze(-3) - chroma.unsqueeze(-3) * weight).mul_(TO_UINT8).to(torch.uint8)


# Indexed as `v2.ColorJitter`'s `fn_idx` indexes them; each name is also the name of the op's factor.
JITTER_OPS = (("brightness", _brightness), ("contrast", _contrast), ("saturation", _saturation), ("hue", _hue))
HUE = 3
# Pixels jittered together: small frames share each op's calls, which saves per-call overhead; a 224 px frame
# goes alone, since batching frames that large leaves the cache and runs slower than frame by frame.
JITTER_CALL_PIXELS = 2**16


def jitter_schedule(orders: Sequence[Sequence[int]]) -> Iterator[tuple[int, list[int]]]:
    """Steps `(op, frames)` that run every frame's ops in the frame's own order, each step batched over frames.

    Each step runs the op that is next for the most frames, but hue, the slow op, only once every frame waits
    for it: each frame has hue once, so the frames take one hue call and a few calls of each cheap op around it.
    """
    pending = [list(order) for order in orders]
    while any(pending):
        waiting: dict[int, list[int]] = {}
        for frame, ops in enumerate(pending):
            if ops:
                waiting.setdefault(ops[0], []).append(frame)
        op = max(waiting, key=lambda o: (o != HUE, len(waiting[o])))
        for frame in waiting[op]:
            pending[frame].pop(0)
        yield op, waiting[op]


class ClipColorJitter:
    """`v2.ColorJitter` on every frame of a uint8 `(T, 3, H, W)` clip, each frame with its own draw.

    Frame after frame, the op order and the four factors are drawn by `v2.ColorJitter.make_params` itself, so a
    seeded run draws what a per-frame loop over `v2.ColorJitter` draws. torchvision's functional ops take one
    factor per call, so the ops above repeat their arithmetic with a factor per frame, and each runs at once on
    the frames that `jitter_schedule` groups. Every op works frame by frame, so the output equals the loop's, up
    to `_hue`'s rounding.
    The draws and their application are separate steps, so that `DeviceAugment` can apply draws made here.
    """

    def __init__(self, *, brightness: float, contrast: float, saturation: float, hue: float) -> None:
        self.jitter = v2.ColorJitter(brightness=brightness, contrast=contrast, saturation=saturation, hue=hue)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return self.apply(clip, *self.draw(len(clip)))

    def draw(self, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each frame's op order `(T, 4)` int64 and its factors `(T, 4)` float64, indexed as `JITTER_OPS`."""
        params = [self.jitter.make_params([]) for _ in range(frames)]
        order = torch.stack([p["fn_idx"] for p in params]) if params else torch.empty(0, 4, dtype=torch.int64)
        factors = torch.tensor(
            [[p[f"{name}_factor"] for name, _ in JITTER_OPS] for p in params], dtype=torch.float64
        )
        return order, factors.view(frames, len(JITTER_OPS))

    @staticmethod
    def apply(clip: torch.Tensor, order: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        """The uint8 `clip` jittered, frame `t` with the ops `order[t]` and the factors `factors[t]`."""
        frames = list(clip.unbind())
        per_call = max(1, JITTER_CALL_PIXELS // (clip.shape[-2] * clip.shape[-1]))
        jittered = []
        for start in range(0, len(frames), per_call):
            part = slice(start, start + per_call)
            jittered += ClipColorJitter._jitter(frames[part], order[part].tolist(), factors[part])
        return torch.stack(jittered)

    @staticmethod
    def _jitter(
        frames: list[torch.Tensor], orders: list[list[int]], factors: torch.Tensor
    ) -> list[torch.Tensor]:
        """The uint8 `frames` jittered, frame `t` with the op order `orders[t]` and the factors `factors[t]`."""
        frames = list(frames)
        for op_id, group in jitter_schedule(orders):
            factor = factors[group, op_id]
            # A lone frame goes in as a view: no op writes to its input.
            batch = frames[group[0]][None] if len(group) == 1 else torch.stack([frames[t] for t in group])
            for t, frame in zip(
                group, JITTER_OPS[op_id][1](batch, factor.view(-1, 1, 1, 1)).unbind(), strict=True
            ):
                frames[t] = frame
        return frames


class TrainTransform:
    """Training augmentation: short-side resize, multi-scale crop, resize, flip, jitter, grayscale.

    With `on_device`, the transform stops at the crop box and returns a square window of the frames, channels
    last, that holds the crop, with the crop's offset in it, its size and the draws of the photometric steps
    (flip, jitter, grayscale), which `DeviceAugment` applies to whole batches where the model runs, the crop's
    resize first: loader workers then only read, decode and cut. The resize was most of what a worker did beyond
    the read (3 of about 22 ms per 32-frame clip, `docs/performance.md`). The draws come from the same stream in
    the same order either way, so both paths give the same clips.
    """

    def __init__(
        self,
        input_size: int,
        *,
        hflip: float = 0.5,
        color_jitter: float = 0.8,
        grayscale: float = 0.2,
        mean: Sequence[float] = IMAGENET_MEAN_255,
        std: Sequence[float] = IMAGENET_STD_255,
        on_device: bool = False,
    ) -> None:
        self.input_size = input_size
        self.hflip = hflip
        self.color_jitter = color_jitter
        self.grayscale = grayscale
        self.jitter = ClipColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
        self.normalize = Normalize(mean, std)
        self.on_device = on_device

    def _boxed(self, frames: np.ndarray) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """The uint8 `(T, 3, H, W)` clip after the short-side resize and its multi-scale crop box (§4.3)
        `(top, left, h, w)`: `h, w <= scale_size(input_size)`, since the crop's sides are fractions of the
        short side."""
        clip = resize_short_side_clip(to_clip_tensor(frames), scale_size(self.input_size), antialias=False)
        return clip, multi_scale_crop_box(clip.shape[-2], clip.shape[-1], self.input_size)

    def crop(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 `(T, 3, input_size, input_size)`: short-side resize, multi-scale crop, resize (§4.3)."""
        clip, (top, left, crop_h, crop_w) = self._boxed(frames)
        cut = clip[..., top : top + crop_h, left : left + crop_w]
        return resize_clip(cut, self.input_size, self.input_size, antialias=False)

    def __call__(self, frames: np.ndarray) -> torch.Tensor | dict[str, torch.Tensor]:
        """Augment uint8 `(T, H, W, 3)` frames into a float32 `(T, 3, input_size, input_size)` clip, or with
        `on_device` into a uint8 window holding the crop, the crop's offset and size in it, and the photometric
        draws (`DeviceAugment`'s input)."""
        if self.on_device:
            return self._draws(*self._boxed(frames))
        clip = self.crop(frames)
        if _coin(self.hflip):
            clip = clip.flip(-1)
        if _coin(self.color_jitter):
            clip = self.jitter(clip)
        if _coin(self.grayscale):
            clip = F.rgb_to_grayscale(clip, num_output_channels=3)
        return self.normalize(clip)

    def _draws(self, clip: torch.Tensor, box: tuple[int, int, int, int]) -> dict[str, torch.Tensor]:
        """The window holding the crop box, the crop's offset and size in it and the photometric draws, in
        `__call__`'s order so that the RNG stream is the same."""
        flip, jitter = _coin(self.hflip), _coin(self.color_jitter)
        order, factors = self.jitter.draw(len(clip)) if jitter else (None, None)
        gray = _coin(self.grayscale)
        if order is None:  # no draws: placeholders that `DeviceAugment` leaves unused
            order = torch.zeros(len(clip), len(JITTER_OPS), dtype=torch.int64)
            factors = torch.zeros(len(clip), len(JITTER_OPS), dtype=torch.float64)
        (top, left, height, width), side = box, scale_size(self.input_size)
        # One square size for every clip, so that clips of any aspect ratio and crop size collate: the crop's
        # own pixels and the frame's around them, a (T, side, side, 3) view of the decoded frames that the
        # collate copies once (a zero-padded copy of the crop cost another copy). The short side is `side`,
        # so a window of that size fits, shifted up or left where the crop lies near the far edge.
        row, col = min(top, clip.shape[-2] - side), min(left, clip.shape[-1] - side)
        window = clip[..., row : row + side, col : col + side].permute(0, 2, 3, 1)
        return {
            "clip": window,
            "offset": torch.tensor([top - row, left - col]),
            "size": torch.tensor([height, width]),
            "flip": torch.tensor(flip),
            "jitter": torch.tensor(jitter),
            "order": order,
            "factors": factors,
            "gray": torch.tensor(gray),
        }


class DeviceAugment:
    """`TrainTransform`'s crop resize, flip, colour jitter, grayscale and normalisation on a collated batch of
    its `on_device` outputs, as batched ops on whatever device the batch is on.

    Each jitter op runs once per position in the frames' op orders, on every frame of the batch that has it
    there, with each frame's own factor: at most 16 batched calls per batch instead of one per frame, with the
    per-frame arithmetic of `JITTER_OPS`. The resize runs clip by clip, since each clip has its own crop size.
    On CPU the clips equal `TrainTransform`'s; on a GPU the float ops (and torchvision's float resize of uint8)
    may round differently by a grey level.
    """

    def __init__(
        self,
        input_size: int,
        mean: Sequence[float] = IMAGENET_MEAN_255,
        std: Sequence[float] = IMAGENET_STD_255,
    ) -> None:
        self.input_size = input_size
        self.normalize = Normalize(mean, std)

    def resize(self, windows: torch.Tensor, offsets: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
        """uint8 `(B, T, 3, I, I)` clips, each the crop at `offsets[b]` of size `sizes[b]` in the
        `(B, T, S, S, 3)` windows, resized."""
        size = self.input_size
        boxes = torch.cat([offsets, sizes], dim=1).tolist()
        return torch.stack(
            [
                resize_clip(clip[:, y : y + h, x : x + w].permute(0, 3, 1, 2), size, size, antialias=False)
                for clip, (y, x, h, w) in zip(windows, boxes, strict=True)
            ]
        )

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """float32 `(B, T, 3, I, I)` clips from the uint8 `(B, T, S, S, 3)` windows `batch["clip"]`, the crops'
        offsets `batch["offset"]` and sizes `batch["size"]` in them, and their draws."""
        clips = self.resize(batch["clip"], batch["offset"], batch["size"])
        b, t = clips.shape[:2]
        frames = torch.where(batch["flip"].view(b, 1, 1, 1, 1), clips.flip(-1), clips).flatten(0, 1)
        jittered = batch["jitter"].repeat_interleave(t)
        order, factors = batch["order"].flatten(0, 1), batch["factors"].flatten(0, 1)
        for position in range(len(JITTER_OPS)):
            for op_id, (_, op) in enumerate(JITTER_OPS):
                due = (jittered & (order[:, position] == op_id)).nonzero().squeeze(1)
                if len(due):
                    frames[due] = op(frames[due], factors[due, op_id].view(-1, 1, 1, 1))
        grey = batch["gray"].repeat_interleave(t).nonzero().squeeze(1)
        if len(grey):
            frames[grey] = F.rgb_to_grayscale(frames[grey], num_output_channels=3)
        return self.normalize(frames).view(b, t, *frames.shape[1:])


@contextlib.contextmanager
def _seeded_python_and_numpy(seed: int) -> Iterator[None]:
    """Seed python's `random` and numpy's global RNG, which timm's RandAugment draws from, then restore them.

    Restoring keeps the augmentation from resetting the streams that other code in the worker draws from.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def rand_augment_clip(frames: np.ndarray, config: str, seed: int) -> np.ndarray:
    """timm RandAugment `config` on uint8 `(T, H, W, 3)` frames, with the same ops and magnitudes for all.

    timm draws the ops, whether each applies and its magnitude on every call, so each frame is augmented
    from the same seed: the draws repeat and the clip moves as one, as EVL's clip-level RandAugment does.
    Geometric ops are bicubic; `translate_const` follows EVL although its "inc" op set only uses relative
    translations.
    """
    hparams = {
        "translate_const": int(EVL_TRANSLATE_FRACTION * min(frames.shape[1:3])),
        "img_mean": RANDAUGMENT_FILL,
        "interpolation": Image.Resampling.BICUBIC,
    }
    augment = rand_augment_transform(config, hparams)
    augmented = []
    for frame in frames:
        with _seeded_python_and_numpy(seed):
            augmented.append(np.asarray(augment(Image.fromarray(frame))))
    return np.stack(augmented)


class EVLTrainTransform:
    """EVL's training augmentation (METHODS §7.2): clip-level RandAugment at the decoded size, then an
    Inception-style random resized crop shared by all frames, resized bilinearly to `input_size`; no flip.

    The crop box is drawn before the RandAugment seed, so under one torch seed the clip with and without
    RandAugment (`randaugment=None`) shares its box. The crop is normalised before its resize, as in EVL, so
    the resize interpolates floats instead of rounding to uint8.
    """

    def __init__(
        self,
        input_size: int,
        *,
        randaugment: str | None = EVL_RANDAUGMENT,
        mean: Sequence[float] = CLIP_MEAN_255,
        std: Sequence[float] = CLIP_STD_255,
    ) -> None:
        self.input_size = input_size
        self.randaugment = randaugment
        self.normalize = Normalize(mean, std)

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """Augment uint8 `(T, H, W, 3)` frames into a float32 `(T, 3, input_size, input_size)` clip."""
        clip = to_clip_tensor(frames)
        top, left, crop_h, crop_w = RandomResizedCrop.get_params(clip, list(RRC_SCALE), list(RRC_RATIO))
        if self.randaugment:
            clip = to_clip_tensor(rand_augment_clip(frames, self.randaugment, _randint(2**31)))
        crop = self.normalize(clip[..., top : top + crop_h, left : left + crop_w])
        return F.resize(crop, [self.input_size, self.input_size], antialias=False).contiguous()


class EvalTransform:
    """Single-view evaluation: short side to `scale_size(input_size)`, centre crop, normalise."""

    def __init__(
        self,
        input_size: int,
        *,
        mean: Sequence[float] = IMAGENET_MEAN_255,
        std: Sequence[float] = IMAGENET_STD_255,
    ) -> None:
        self.input_size = input_size
        self.normalize = Normalize(mean, std)

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """Map uint8 `(T, H, W, 3)` frames to a float32 `(T, 3, input_size, input_size)` clip."""
        clip = resize_short_side_clip(to_clip_tensor(frames), scale_size(self.input_size), antialias=False)
        height, width = clip.shape[-2:]
        top, left = (height - self.input_size) // 2, (width - self.input_size) // 2
        clip = clip[..., top : top + self.input_size, left : left + self.input_size]
        return self.normalize(clip)


def three_crop_offsets(long_side: int, size: int) -> list[int]:
    """Offsets of mmaction's `ThreeCrop` along the long side, in its order: start, end, centre.

    With `step = (long_side - size) // 2` they are `0, 2 * step, step`. EVL takes `0, margin // 2, margin`
    (METHODS §7.3): the same crops in another order, except that for an odd margin the end crop here stops one
    pixel short of the edge. The score averages over views, so only that pixel can change a number.
    """
    if long_side < size:
        raise ValueError(f"cannot take {size}-pixel crops along a side of {long_side} pixels")
    step = (long_side - size) // 2
    return [0, 2 * step, step]


class ThreeCropTransform(EvalTransform):
    """Three-crop evaluation (METHODS §4.3): short side to `input_size` (not `scale_size`), three square crops
    along the long side, normalise; float32 `(3, T, 3, input_size, input_size)`, one clip per crop."""

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        size = self.input_size
        clip = resize_short_side_clip(to_clip_tensor(frames), size, antialias=False)
        height, width = clip.shape[-2:]
        offsets = three_crop_offsets(max(height, width), size)
        if height > width:
            crops = [clip[..., o : o + size, :] for o in offsets]
        else:
            crops = [clip[..., o : o + size] for o in offsets]
        return self.normalize(torch.stack(crops))


EVAL_CROPS = {1: EvalTransform, 3: ThreeCropTransform}


def eval_transform(
    input_size: int, crops: int, *, mean: Sequence[float], std: Sequence[float]
) -> EvalTransform | ThreeCropTransform:
    """The evaluation transform taking `crops` spatial views: 1 centre crop or 3 crops along the long side."""
    if crops not in EVAL_CROPS:
        raise ValueError(f"number of spatial crops must be one of {sorted(EVAL_CROPS)}, got {crops}")
    return EVAL_CROPS[crops](input_size, mean=mean, std=std)
