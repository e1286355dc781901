"""The embedded synthetic world: a vocabulary of coloured shapes and motions, and its renderer.

The demo must make the paper's findings visible, so the world separates what stills can teach (colour,
shape, position, size) from what only video teaches (motion). Class names are phrases such as "red circle
moving left", so a CLIP text encoder can read them like real action names.

ViFi-CLIP encodes frames independently and averages them over time, so it is blind to frame order. Real
videos still reveal most actions frame by frame (motion blur, pose), and the world mirrors that split:
- frames are exposed like a camera's: each is the average of sub-frame renders over an exposure window
  centred on the frame's time, so a single frame shows a blur streak along a translation, a radial blur on a
  growing or shrinking object, a rotational one on a spinning object, and nothing on a still object;
- in the `source`, `downstream` and `zeroshot` roles, classes are separable from single-frame evidence
  (appearance and motion blur): a colour-shape pair gets several motions, so stills alone cannot tell its
  classes apart, but never both members of an order pair (`select_classes`);
- in the `temporal` role (Something-Something v2's), classes differ only by order in time: "moving
  left"/"moving right", "moving up"/"moving down" and "growing"/"shrinking" are rendered as exact time
  reversals of each other, blur included (the exposure window is symmetric), so a frame-order-blind model
  sees the same set of frames for both and is meant to fail.
The object stays inside the central square of side `height`, which the models keep after their centre crop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 45, 40),
    "green": (40, 195, 70),
    "blue": (45, 95, 235),
    "yellow": (235, 215, 40),
    "purple": (160, 60, 215),
    "white": (235, 235, 235),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
MOTIONS: tuple[str, ...] = (
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "growing",
    "shrinking",
    "rotating",
    "blinking",
    "bouncing",
    "staying still",
)
ROLES: tuple[str, ...] = ("source", "downstream", "zeroshot", "temporal")

# Each reversed motion is rendered as its forward partner played backwards, which makes the pair
# indistinguishable without frame order by construction.
REVERSED: dict[str, str] = {"moving left": "moving right", "moving up": "moving down", "shrinking": "growing"}
TEMPORAL_PAIRS: tuple[tuple[str, str], ...] = tuple((fwd, rev) for rev, fwd in REVERSED.items())

# "left" and "right" also describe positions in still captions; the other words of motions are motion words.
MOTION_WORDS: frozenset[str] = frozenset(w for m in MOTIONS for w in m.split()) - {"left", "right"}

# Bounding radius of each shape as a multiple of its size, for any rotation: keeps the object in the square.
_EXTENT = {"circle": 0.5, "square": 0.42 * math.sqrt(2), "triangle": 0.62, "cross": math.hypot(0.5, 0.17)}
_MARGIN_PX = 1.0  # room for the anti-aliased edge
_BASE_SIZE = (0.25, 0.33)  # object size as a fraction of the height
_JITTER_DEG = 12.0  # orientation jitter of objects that do not rotate
_SUBFRAMES = 5  # renders averaged into one frame: enough for a smooth streak at the demo's speeds
_EXPOSURE = (0.6, 1.0)  # per-video exposure time as a fraction of the frame interval, like a real shutter


@dataclass(frozen=True)
class ClassSpec:
    """One class of the world: a colour, a shape and a motion, named as a natural-language phrase."""

    colour: str
    shape: str
    motion: str

    def __post_init__(self) -> None:
        if self.colour not in COLOURS or self.shape not in SHAPES or self.motion not in MOTIONS:
            raise ValueError(f"unknown class {self.name!r}: colour, shape or motion not in the vocabulary")
        if not is_valid(self.shape, self.motion):
            raise ValueError(f"invalid class {self.name!r}: the motion is invisible for this shape")

    @property
    def name(self) -> str:
        """The class name as the text encoder reads it, e.g. "red circle moving left"."""
        return f"{self.colour} {self.shape} {self.motion}"

    @property
    def slug(self) -> str:
        """The name as a file-system friendly token, e.g. "red_circle_moving_left"."""
        return self.name.replace(" ", "_")


def is_valid(shape: str, motion: str) -> bool:
    """Whether the motion can be seen on the shape (a rotating circle looks like a still one)."""
    return not (shape == "circle" and motion == "rotating")


# --- class selection


def select_classes(
    role: str, count: int, rng: np.random.Generator, exclude: Collection[str] = frozenset()
) -> list[ClassSpec]:
    """Pick `count` classes for a dataset playing `role`, never one whose name is in `exclude`.

    `source`, `downstream` and `zeroshot` give each chosen colour-shape pair 2 or more (mostly 3) motions, so
    that appearance alone cannot identify a class, but at most one motion of each order pair, so that a
    frame-order-blind model can still tell every class apart by its single frames. `temporal` returns
    order-only pairs, forward class first. `exclude` is honoured by every role; the zero-shot role is the one
    that needs it (the source's names).
    """
    if role == "temporal":
        return _select_temporal(count, rng, exclude)
    if role in ROLES:
        return _select_motion_ambiguous(role, count, rng, exclude)
    raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")


def _select_motion_ambiguous(
    role: str, count: int, rng: np.random.Generator, exclude: Collection[str]
) -> list[ClassSpec]:
    """Spread `count` classes over as few colour-shape pairs as give each pair about 3 motions."""
    if count < 2:
        raise ValueError(
            f"role {role!r} needs at least 2 classes (2 motions per colour-shape pair), got {count}"
        )
    options = {}
    for i in rng.permutation(len(COLOURS) * len(SHAPES)):
        colour, shape = list(COLOURS)[i // len(SHAPES)], SHAPES[i % len(SHAPES)]
        motions = _order_free_motions(colour, shape, rng, exclude)
        if len(motions) >= 2:
            options[colour, shape] = motions
    pairs = list(options)
    for n_pairs in range(min(math.ceil(count / 3), len(pairs)), len(pairs) + 1):
        quotas = _spread(count, [len(options[p]) for p in pairs[:n_pairs]])
        if quotas is not None:
            break
    else:
        capacity = sum(len(m) for m in options.values())
        raise ValueError(
            f"role {role!r} cannot have {count} classes with 2+ motions per colour-shape pair (at most one "
            f"of each order pair): only {capacity} classes are available after excluding {len(exclude)} names"
        )
    specs = []
    for (colour, shape), quota in zip(pairs[: len(quotas)], quotas, strict=True):
        motions = options[colour, shape]
        picked = sorted(rng.choice(len(motions), size=quota, replace=False))
        specs += [ClassSpec(colour, shape, motions[j]) for j in picked]
    return specs


def _order_free_motions(
    colour: str, shape: str, rng: np.random.Generator, exclude: Collection[str]
) -> list[str]:
    """The motions a colour-shape pair may take outside the temporal role: at most one of each order pair.

    Two classes that differ only by the order of their frames would make a frame-order-blind model fail in
    roles meant to test appearance and single-frame motion evidence. Where both members are allowed, one is
    drawn at random, so every order-pair motion still occurs across pairs.
    """
    allowed = [m for m in MOTIONS if is_valid(shape, m) and f"{colour} {shape} {m}" not in exclude]
    for pair in TEMPORAL_PAIRS:
        if all(m in allowed for m in pair):
            allowed.remove(pair[rng.integers(2)])
    return allowed


def _spread(total: int, capacities: list[int]) -> list[int] | None:
    """Split `total` as evenly as the capacities allow, every share at least 2; None if impossible."""
    shares = [0] * len(capacities)
    remaining = total
    for k, i in enumerate(sorted(range(len(capacities)), key=capacities.__getitem__)):
        shares[i] = min(capacities[i], -(-remaining // (len(capacities) - k)))
        remaining -= shares[i]
    if remaining or not shares or min(shares) < 2:
        return None
    return shares


def _select_temporal(count: int, rng: np.random.Generator, exclude: Collection[str]) -> list[ClassSpec]:
    """Pick `count // 2` (colour, shape, order-pair) combinations; each gives two classes."""
    if count < 2 or count % 2:
        raise ValueError(f"role 'temporal' needs an even number of classes (order pairs), got {count}")
    candidates = [
        (ClassSpec(colour, shape, fwd), ClassSpec(colour, shape, rev))
        for colour in COLOURS
        for shape in SHAPES
        for fwd, rev in TEMPORAL_PAIRS
        if f"{colour} {shape} {fwd}" not in exclude and f"{colour} {shape} {rev}" not in exclude
    ]
    if count // 2 > len(candidates):
        raise ValueError(
            f"role 'temporal' cannot have {count} classes: only {len(candidates)} order pairs are available"
        )
    picked = rng.choice(len(candidates), size=count // 2, replace=False)
    return [spec for i in picked for spec in candidates[i]]


# --- rendering


@dataclass(frozen=True)
class _State:
    """Object state at each rendered instant, each field an array of the same length (pixels and radians)."""

    cx: np.ndarray
    cy: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    alpha: np.ndarray


def render_clip(spec: ClassSpec, rng: np.random.Generator, frames: int, height: int, width: int) -> np.ndarray:
    """Render one video of `spec` as uint8 (T, H, W, 3), each frame motion-blurred over its exposure.

    Per-video randomness: background, colour jitter, exposure time, size, start position and speed. A
    reversed motion consumes `rng` exactly as its forward partner does and returns that clip backwards, so
    both classes share one distribution of paths. Since every exposure window is symmetric about its frame's
    time, the backwards clip is also exactly what a camera would record of the reversed motion.
    """
    _check_canvas(height, width)
    if frames < 2:
        raise ValueError(f"a clip needs at least 2 frames to show motion, got {frames}")
    background = _background(rng, height, width)
    colour = _jitter_colour(spec.colour, rng)
    clock = _exposure_clock(rng, frames)
    motion = REVERSED.get(spec.motion, spec.motion)
    state = _MOTION_PATHS[motion](rng, spec.shape, clock, height)
    state = _State(state.cx + (width - height) / 2, state.cy, state.size, state.angle, state.alpha)
    coverage = _expose(_coverage(spec.shape, state, height, width), frames)
    clip = _composite(background, colour, coverage)
    return clip[::-1].copy() if spec.motion in REVERSED else clip


@dataclass(frozen=True)
class _Clock:
    """When a clip's sub-frames are rendered: `_SUBFRAMES` instants per frame, frame-major.

    `progress` runs from 0 at the first frame's earliest instant to 1 at the last frame's latest, so a path
    that stays in the square over [0, 1] stays there in every sub-frame; `frame` is each instant's frame.
    """

    progress: np.ndarray
    frame: np.ndarray
    frames: int


def _exposure_clock(rng: np.random.Generator, frames: int) -> _Clock:
    """Sub-frame instants at the midpoints of equal slices of an exposure window centred on each frame.

    The offsets are exact negatives of each other (odd integers over an even one, times the exposure), so
    reversing time maps each frame's instants onto the mirrored frame's. They stay less than half a frame
    interval from the centre, so no instant reaches the midpoint between two frames, where blinks switch.
    """
    exposure = rng.uniform(*_EXPOSURE)
    offsets = exposure * np.arange(1 - _SUBFRAMES, _SUBFRAMES, 2) / (2 * _SUBFRAMES)
    times = (np.arange(frames)[:, None] + offsets).ravel()
    progress = (times - offsets[0]) / (frames - 1 + 2 * offsets[-1])
    return _Clock(progress, np.repeat(np.arange(frames), _SUBFRAMES), frames)


def _expose(coverage: np.ndarray, frames: int) -> np.ndarray:
    """Average the sub-frame coverages (T * K, H, W) of each frame into (T, H, W).

    Compositing is linear in coverage, so this equals averaging the sub-frame images before rounding. The
    sum runs over explicit slices, in one fixed order, so its rounding never depends on the CPU.
    """
    sub = coverage.reshape(frames, _SUBFRAMES, *coverage.shape[1:])
    total = sub[:, 0].copy()
    for k in range(1, _SUBFRAMES):
        total += sub[:, k]
    total /= _SUBFRAMES
    return total


def render_still(
    colour: str, shape: str, rng: np.random.Generator, height: int, width: int
) -> tuple[np.ndarray, str]:
    """Render one still (H, W, 3) uint8 and an appearance-only caption (never a motion word).

    The caption mentions position and size only when the image was drawn to match them, so the
    image-pretraining stand-in learns true statements about appearance.
    """
    _check_canvas(height, width)
    if colour not in COLOURS or shape not in SHAPES:
        raise ValueError(f"unknown appearance {colour!r} {shape!r}: not in the vocabulary")
    template = _STILL_TEMPLATES[rng.integers(len(_STILL_TEMPLATES))]
    size_word = str(rng.choice(list(_STILL_SIZES))) if "{size}" in template else None
    position = str(rng.choice(list(_STILL_POSITIONS))) if "{position}" in template else None
    size = rng.uniform(*_STILL_SIZES.get(size_word, (0.2, 0.36))) * height
    reach = (_EXTENT[shape] * size + _MARGIN_PX) / height
    x_range, y_range = _STILL_POSITIONS.get(position, ((0.0, 1.0), (0.0, 1.0)))
    cx = _uniform_within(rng, x_range, reach) * height + (width - height) / 2
    cy = _uniform_within(rng, y_range, reach) * height
    angle = math.radians(rng.uniform(-_JITTER_DEG, _JITTER_DEG))
    state = _State(*(np.array([v], dtype=np.float32) for v in (cx, cy, size, angle, 1.0)))
    background = _background(rng, height, width)
    image = _composite(background, _jitter_colour(colour, rng), _coverage(shape, state, height, width))[0]
    caption = template.format(colour=colour, shape=shape, size=size_word, position=position)
    return image, caption


_STILL_TEMPLATES = (
    "{colour} {shape}",
    "a {colour} {shape}",
    "a photo of a {colour} {shape}.",
    "a {size} {colour} {shape}",
    "a {colour} {shape} {position}",
    "a {size} {colour} {shape} {position}",
    "a photo of a {size} {colour} {shape} {position}.",
)
_STILL_SIZES = {"small": (0.16, 0.22), "large": (0.34, 0.4)}
# Allowed centre ranges (fractions of the central square) along x and y for each position phrase.
_STILL_POSITIONS = {
    "on the left": ((0.0, 0.36), (0.38, 0.62)),
    "on the right": ((0.64, 1.0), (0.38, 0.62)),
    "at the top": ((0.38, 0.62), (0.0, 0.36)),
    "at the bottom": ((0.38, 0.62), (0.64, 1.0)),
    "in the centre": ((0.44, 0.56), (0.44, 0.56)),
}


def _uniform_within(rng: np.random.Generator, bounds: tuple[float, float], reach: float) -> float:
    """A centre coordinate in `bounds`, clamped so the object (radius `reach`) stays inside [0, 1]."""
    lo, hi = max(bounds[0], reach), min(bounds[1], 1.0 - reach)
    return rng.uniform(lo, max(lo, hi))


def _check_canvas(height: int, width: int) -> None:
    """The object lives in the central height x height square, so the frame must be at least that wide."""
    if height < 16 or width < height:
        raise ValueError(f"frames must be at least 16 px high and no narrower than high, got {height}x{width}")


# --- motion paths
# Each path works in the central square's coordinates (0..side) and returns a _State at the clock's instants.


def _base_size(rng: np.random.Generator, side: int) -> float:
    return rng.uniform(*_BASE_SIZE) * side


def _free_range(shape: str, size: float, side: int) -> tuple[float, float]:
    """Range of centre coordinates that keeps an object of `size` fully inside the square."""
    reach = _EXTENT[shape] * size + _MARGIN_PX
    return reach, side - reach


def _jitter_angle(rng: np.random.Generator) -> float:
    return math.radians(rng.uniform(-_JITTER_DEG, _JITTER_DEG))


def _constant(value: float, clock: _Clock) -> np.ndarray:
    return np.full(clock.progress.shape, value, dtype=np.float32)


def _ramp(start: float, stop: float, clock: _Clock) -> np.ndarray:
    return (start + (stop - start) * clock.progress).astype(np.float32)


_Field = float | np.ndarray


def _state(
    clock: _Clock, *, cx: _Field, cy: _Field, size: _Field, angle: _Field, alpha: _Field = 1.0
) -> _State:
    """A state from per-instant arrays and constants, which hold over the whole clip."""

    def expand(value: _Field) -> np.ndarray:
        return value if isinstance(value, np.ndarray) else _constant(value, clock)

    return _State(expand(cx), expand(cy), expand(size), expand(angle), expand(alpha))


def _travel(rng: np.random.Generator, shape: str, clock: _Clock, side: int, vertical: bool) -> _State:
    """Straight motion towards +x (right) or +y (down), random start and speed.

    The object sweeps 48-62% of the square (less only where a large object has no room), so that even at 8
    frames and the longest exposure its centre moves over 40% of the side between the first and last frame.
    """
    size = _base_size(rng, side)
    lo, hi = _free_range(shape, size, side)
    room = hi - lo
    distance = min(rng.uniform(0.48, 0.62) * side, room)
    start = lo + rng.uniform(0.0, room - distance)  # not uniform(lo, hi - distance): may round below lo
    across = rng.uniform(lo, hi)
    along = _ramp(start, start + distance, clock)
    angle = _jitter_angle(rng)
    if vertical:
        return _state(clock, cx=across, cy=along, size=size, angle=angle)
    return _state(clock, cx=along, cy=across, size=size, angle=angle)


def _move_right(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    return _travel(rng, shape, clock, side, vertical=False)


def _move_down(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    return _travel(rng, shape, clock, side, vertical=True)


def _grow(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    """Size ramps from 12-16% to 36-42% of the side: more than doubling, clearly visible."""
    small, large = rng.uniform(0.12, 0.16) * side, rng.uniform(0.36, 0.42) * side
    lo, hi = _free_range(shape, large, side)
    cx, cy = rng.uniform(lo, hi), rng.uniform(lo, hi)
    angle = _jitter_angle(rng)
    return _state(clock, cx=cx, cy=cy, size=_ramp(small, large, clock), angle=angle)


def _rotate(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    """Rotation by 45-80 degrees in either direction: under the 90-degree symmetry of squares and crosses."""
    size = _base_size(rng, side)
    lo, hi = _free_range(shape, size, side)
    cx, cy = rng.uniform(lo, hi), rng.uniform(lo, hi)
    start = rng.uniform(0.0, 2 * math.pi)
    turn = math.radians(rng.uniform(45.0, 80.0)) * rng.choice([-1.0, 1.0])
    return _state(clock, cx=cx, cy=cy, size=size, angle=_ramp(start, start + turn, clock))


def _blink(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    """On/off with a half-period of a fifth to a quarter of the clip, switching between exposures.

    At most a quarter, so every clip shows the object both present and absent; at least a fifth, so that
    models sampling every 2nd or 4th frame do not alias the blinking into a still or empty clip. Switching
    between exposures keeps every frame fully on or off, like a light that changes while the shutter is shut.
    """
    state = _still(rng, shape, clock, side)
    frames = clock.frames
    shortest = max(1, round(frames / 5))
    half = int(rng.integers(shortest, max(shortest, frames // 4) + 1))
    phase = int(rng.integers(0, 2 * half))
    alpha = (((np.arange(frames) + phase) // half) % 2 == 0).astype(np.float32)
    if alpha.min() == alpha.max():  # clips shorter than 4 frames: force one change
        alpha[-1] = 1.0 - alpha[0]
    return _State(state.cx, state.cy, state.size, state.angle, alpha[clock.frame])


def _bounce(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    """Vertical bounces off a floor, 1-2 bounces per clip, with random height and phase."""
    size = _base_size(rng, side)
    lo, hi = _free_range(shape, size, side)
    cx = rng.uniform(lo, hi)
    floor = rng.uniform(lo + 0.6 * (hi - lo), hi)
    lift = rng.uniform(0.5, 1.0) * (floor - lo)
    bounces, phase = rng.uniform(1.0, 2.0), rng.uniform(0.0, 1.0)
    heights = [abs(math.sin(math.pi * (bounces * float(t) + phase))) for t in clock.progress]
    cy = (floor - lift * np.array(heights)).astype(np.float32)
    return _state(clock, cx=cx, cy=cy, size=size, angle=_jitter_angle(rng))


def _still(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    size = _base_size(rng, side)
    lo, hi = _free_range(shape, size, side)
    cx, cy = rng.uniform(lo, hi), rng.uniform(lo, hi)
    return _state(clock, cx=cx, cy=cy, size=size, angle=_jitter_angle(rng))


_MOTION_PATHS: dict[str, Callable[[np.random.Generator, str, _Clock, int], _State]] = {
    "moving right": _move_right,
    "moving down": _move_down,
    "growing": _grow,
    "rotating": _rotate,
    "blinking": _blink,
    "bouncing": _bounce,
    "staying still": _still,
}


# --- rasterising


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Dark grey with a smooth per-video texture and fine grain, (H, W, 3) float32 within [0, 255]."""
    level = rng.uniform(30.0, 55.0)
    coarse = rng.normal(0.0, 6.0, size=(height // 8 + 2, width // 8 + 2))
    grain = rng.normal(0.0, 2.0, size=(height, width))
    tint = rng.normal(0.0, 2.0, size=3)
    grey = level + _upsample(_upsample(coarse, height, axis=0), width, axis=1) + grain
    return np.clip(grey[..., None] + tint, 0.0, 255.0).astype(np.float32)


def _upsample(grid: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Linear upsampling along one axis by explicit two-tap blends.

    Only correctly rounded element-wise operations, unlike a matrix product whose BLAS kernel (chosen per CPU)
    fixes the summation order: a last-bit difference can flip a rounded pixel and so the encoded bytes.
    """
    n_in = grid.shape[axis]
    pos = np.linspace(0.0, n_in - 1, n_out)
    left = np.minimum(pos.astype(int), n_in - 2)
    frac = np.expand_dims(pos - left, 1 - axis)
    low, high = np.take(grid, left, axis=axis), np.take(grid, left + 1, axis=axis)
    return low + (high - low) * frac


def _jitter_colour(colour: str, rng: np.random.Generator) -> np.ndarray:
    """The named colour shifted by at most 12 levels per channel: small next to the gaps between hues."""
    jittered = np.clip(np.array(COLOURS[colour]) + rng.uniform(-12, 12, size=3), 0, 255)
    return jittered.astype(np.float32)  # keeps the blend in float32: half the memory traffic of float64


def _composite(background: np.ndarray, colour: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Blend the object colour over the background with per-pixel coverage, (T, H, W, 3) uint8.

    Both inputs lie in [0, 255] and coverage in [0, 1], so the blend needs no clipping; +0.5 then truncation
    rounds to the nearest level.
    """
    frames = coverage[..., None] * (colour - background)
    frames += background + 0.5
    return frames.astype(np.uint8)


def _coverage(shape: str, state: _State, height: int, width: int) -> np.ndarray:
    """Anti-aliased object coverage (N, H, W) in [0, 1] at each of the state's N instants."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    cx, cy, size, alpha = (v[:, None, None] for v in (state.cx, state.cy, state.size, state.alpha))
    dx, dy = xs - cx, ys - cy
    cos, sin = _per_instant(math.cos, state.angle), _per_instant(math.sin, state.angle)
    u, v = cos * dx + sin * dy, cos * dy - sin * dx
    distance = _SDF[shape](u, v, size)
    return np.minimum(np.maximum(0.5 - distance, 0.0), 1.0) * alpha


def _per_instant(function: Callable[[float], float], values: np.ndarray) -> np.ndarray:
    """Apply a scalar libm function per rendered instant, shaped (N, 1, 1).

    NumPy picks SIMD or scalar implementations of sin and cos by CPU, which may differ in the last bit and so
    flip a rounded pixel; the pixels should depend on the seed only. Per-instant scalars cost little.
    """
    return np.array([function(float(x)) for x in values], dtype=np.float32)[:, None, None]


# Polygons use the maximum of their edges' signed distances: exact inside and along edges, slightly short only
# beyond corners, which is all a one-pixel anti-aliased edge needs, and a few array operations per shape.


def _sdf_circle(u: np.ndarray, v: np.ndarray, size: np.ndarray) -> np.ndarray:
    return np.sqrt(u * u + v * v) - 0.5 * size


def _sdf_box(u: np.ndarray, v: np.ndarray, half_u: np.ndarray, half_v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u) - half_u, np.abs(v) - half_v)


def _sdf_square(u: np.ndarray, v: np.ndarray, size: np.ndarray) -> np.ndarray:
    return _sdf_box(u, v, 0.42 * size, 0.42 * size)


def _sdf_cross(u: np.ndarray, v: np.ndarray, size: np.ndarray) -> np.ndarray:
    arm, half_width = 0.5 * size, 0.17 * size
    return np.minimum(_sdf_box(u, v, arm, half_width), _sdf_box(u, v, half_width, arm))


def _sdf_triangle(u: np.ndarray, v: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Equilateral triangle pointing up (image rows grow down), centroid at 0, circumradius 0.62 * size."""
    inradius = 0.31 * size
    slanted = (math.sqrt(3.0) / 2) * np.abs(u) - 0.5 * v
    return np.maximum(v, slanted) - inradius


_SDF: dict[str, Callable[..., np.ndarray]] = {
    "circle": _sdf_circle,
    "square": _sdf_square,
    "triangle": _sdf_triangle,
    "cross": _sdf_cross,
}
