"""The embedded synthetic world: a vocabulary of coloured shapes and motions, and its renderer.

The demo must make the paper's findings visible, so the world separates what stills can teach (colour,
shape, position, size, what a blur looks like) from what only video teaches (motion). Class names are phrases
such as "red circle moving to the left": the words besides the verb ("to the left", "large") are position and
size words that still captions use too, so the CLIP's text encoder reads them as it reads real action names.

ViFi-CLIP encodes frames independently and averages them over time, so it is blind to frame order. Real
videos still reveal most actions frame by frame (motion blur, pose), and the world mirrors that split:
- frames are exposed like a camera's with a slow shutter: each averages the renders of evenly spaced instants
  over an exposure window centred on the frame's time, so a single frame shows a streak along a translation,
  a radial blur on a growing or shrinking object, a rotational one on a spinning object, and nothing on a
  still object;
- in the `source`, `downstream` and `zeroshot` roles, classes are separable from single-frame evidence
  (appearance and motion blur): a colour-shape pair gets several motions, so stills alone cannot tell its
  classes apart, but never both members of an order pair (`select_classes`);
- in the `temporal` role (Something-Something v2's), classes differ only by order in time: "moving to the
  left"/"to the right", "to the top"/"to the bottom" and "growing large"/"shrinking small" are rendered as
  exact time reversals of each other, blur included (the exposure window is symmetric), so a frame-order-blind
  model sees the same set of frames for both and is meant to fail. As in Something-Something, these classes
  name no object ("something moving to the left"): each video draws its own, and a short exposure shows
  sharply where it is in each frame.
Objects stay near the centre of the central square of side `height`, as a camera frames its subject, so the
models' crops keep them.
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
    "moving to the left",
    "moving to the right",
    "moving to the top",
    "moving to the bottom",
    "growing large",
    "shrinking small",
    "rotating",
    "blinking",
    "bouncing",
    "staying still",
)
ROLES: tuple[str, ...] = ("source", "downstream", "zeroshot", "temporal")

# Each reversed motion is rendered as its forward partner played backwards, which makes the pair
# indistinguishable without frame order by construction.
REVERSED: dict[str, str] = {
    "moving to the left": "moving to the right",
    "moving to the top": "moving to the bottom",
    "shrinking small": "growing large",
}
TEMPORAL_PAIRS: tuple[tuple[str, str], ...] = tuple((fwd, rev) for rev, fwd in REVERSED.items())

# The words that name a motion. The rest of a motion's phrase ("to the left", "large") describes positions and
# sizes, which still captions use too: the text encoder knows those words, not what the motions look like.
MOTION_WORDS: frozenset[str] = frozenset(
    {"moving", "growing", "shrinking", "rotating", "blinking", "bouncing", "staying", "still"}
)
# The temporal role's classes name no object (as Something-Something's templates do); each video draws one.
SOMETHING = "something"

# Bounding radius of each shape as a multiple of its size, for any rotation: keeps the object in the square.
_EXTENT = {"circle": 0.5, "square": 0.42 * math.sqrt(2), "triangle": 0.62, "cross": math.hypot(0.5, 0.17)}
_MARGIN_PX = 1.0  # room for the anti-aliased edge
_BASE_SIZE = (0.25, 0.33)  # object size as a fraction of the height
_JITTER_DEG = 12.0  # orientation jitter of objects that do not rotate
_INSTANTS_PER_FRAME = 3  # rendered instants per frame interval: streaks stay continuous at the demo's speeds
# Exposure windows as fractions of the clip's duration, drawn per video: long enough in the action roles that
# one frame's streak is about as long as the object; short for the temporal role's object-agnostic classes.
_EXPOSURE = (0.65, 0.8)
_SHORT_EXPOSURE = (0.07, 0.13)
_CENTRE_JITTER = 0.12  # largest offset of an object's centre (or path's midpoint) from the centre, per side


@dataclass(frozen=True)
class ClassSpec:
    """One class of the world: a colour, a shape and a motion, named as a natural-language phrase.

    Without colour and shape (both None) the class is a motion of "something": each video draws its object.
    """

    colour: str | None
    shape: str | None
    motion: str

    def __post_init__(self) -> None:
        anything = self.colour is None and self.shape is None
        known = anything or (self.colour in COLOURS and self.shape in SHAPES)
        if not known or self.motion not in MOTIONS:
            raise ValueError(f"unknown class {self.name!r}: colour, shape or motion not in the vocabulary")
        if not anything and not is_valid(self.shape, self.motion):
            raise ValueError(f"invalid class {self.name!r}: the motion is invisible for this shape")

    @property
    def name(self) -> str:
        """The class name as the text encoder reads it, e.g. "red circle moving to the left"."""
        if self.colour is None:
            return f"{SOMETHING} {self.motion}"
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
    """Pick `count // 2` order pairs of "something" classes, forward class first.

    Like Something-Something's templates, the classes name no object: every video draws its own colour and
    shape, so neither appearance nor colour-changing augmentation says anything about the class.
    """
    if count < 2 or count % 2:
        raise ValueError(f"role 'temporal' needs an even number of classes (order pairs), got {count}")
    candidates = [
        (ClassSpec(None, None, fwd), ClassSpec(None, None, rev))
        for fwd, rev in TEMPORAL_PAIRS
        if f"{SOMETHING} {fwd}" not in exclude and f"{SOMETHING} {rev}" not in exclude
    ]
    if count // 2 > len(candidates):
        raise ValueError(
            f"role 'temporal' cannot have {count} classes: only {len(candidates)} order pairs are available"
        )
    picked = sorted(rng.choice(len(candidates), size=count // 2, replace=False))
    return [spec for i in picked for spec in candidates[i]]


# --- rendering


@dataclass(frozen=True)
class _State:
    """Object geometry at each rendered instant (pixels and radians), and its opacity in each frame."""

    cx: np.ndarray
    cy: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    alpha: np.ndarray


def render_clip(spec: ClassSpec, rng: np.random.Generator, frames: int, height: int, width: int) -> np.ndarray:
    """Render one video of `spec` as uint8 (T, H, W, 3), each frame motion-blurred over its exposure.

    Per-video randomness: the object of a "something" class, background, colour jitter, exposure time, size,
    start position and speed. A
    reversed motion consumes `rng` exactly as its forward partner does and returns that clip backwards, so
    both classes share one distribution of paths. Since every exposure window is symmetric about its frame's
    time, the backwards clip is also exactly what a camera would record of the reversed motion.
    """
    _check_canvas(height, width)
    if frames < 2:
        raise ValueError(f"a clip needs at least 2 frames to show motion, got {frames}")
    colour_name, shape = _appearance(spec, rng)
    background = _background(rng, height, width)
    colour = _jitter_colour(colour_name, rng)
    clock = _exposure_clock(rng, frames, _SHORT_EXPOSURE if spec.colour is None else _EXPOSURE)
    motion = REVERSED.get(spec.motion, spec.motion)
    state = _MOTION_PATHS[motion](rng, shape, clock, height)
    state = _State(state.cx + (width - height) / 2, state.cy, state.size, state.angle, state.alpha)
    coverage = _expose(_coverage(shape, state, height, width), clock) * state.alpha[:, None, None]
    clip = _composite(background, colour, coverage)
    return clip[::-1].copy() if spec.motion in REVERSED else clip


def _appearance(spec: ClassSpec, rng: np.random.Generator) -> tuple[str, str]:
    """The class's colour and shape, or for "something" a colour and a shape drawn for this video."""
    if spec.colour is not None:
        return spec.colour, spec.shape
    shapes = [shape for shape in SHAPES if is_valid(shape, spec.motion)]
    return list(COLOURS)[rng.integers(len(COLOURS))], shapes[rng.integers(len(shapes))]


@dataclass(frozen=True)
class _Clock:
    """The instants a clip is rendered at and how its frames weigh them.

    Instants are evenly spaced, `step` per frame interval; `progress` runs from 0 at the first to 1 at the
    last. Frame `t` averages instants `t * step ... t * step + len(weights) - 1` with `weights`, so
    neighbouring frames share instants and each instant is rendered once.
    """

    progress: np.ndarray
    weights: np.ndarray
    step: int
    frames: int


def _exposure_clock(rng: np.random.Generator, frames: int, exposure: tuple[float, float]) -> _Clock:
    """A clock whose exposure window spans a fraction, drawn from `exposure`, of the clip's duration.

    The window is centred on its frame's time and weighs its instants equally, so reversing time maps each
    frame's window onto the mirrored frame's: a streak shows the axis of a motion, never its direction.
    """
    span = max(1, round(rng.uniform(*exposure) * (frames - 1) * _INSTANTS_PER_FRAME))
    count = (frames - 1) * _INSTANTS_PER_FRAME + span
    progress = np.arange(count) / max(count - 1, 1)
    return _Clock(progress, _box(span), _INSTANTS_PER_FRAME, frames)


def _box(span: int) -> np.ndarray:
    """Equal weights for `span` instants: a shutter open over the whole window."""
    return np.full(span, 1.0 / span, dtype=np.float32)


def _expose(coverage: np.ndarray, clock: _Clock) -> np.ndarray:
    """Weigh the instants' coverages (N, H, W) into each frame's exposure, (T, H, W).

    Compositing is linear in coverage, so this equals averaging the instants' images before rounding. The sum
    runs over explicit slices, in one fixed order, so its rounding never depends on the CPU.
    """
    stop = (clock.frames - 1) * clock.step + 1
    total = clock.weights[0] * coverage[0 : stop : clock.step]
    for k in range(1, len(clock.weights)):
        total += clock.weights[k] * coverage[k : k + stop : clock.step]
    return total


def render_still(
    colour: str, shape: str, rng: np.random.Generator, height: int, width: int
) -> tuple[np.ndarray, str]:
    """Render one still (H, W, 3) uint8 and an appearance-only caption (never a motion word).

    The caption mentions position and size only when the image was drawn to match them, so the
    image-pretraining stand-in learns true statements about appearance. Like web photos, half the stills are
    blurred (sideways, vertically, radially or by a spin) and their captions say so: the CLIP learns what a
    blur looks like, never which motion makes it.
    """
    _check_canvas(height, width)
    if colour not in COLOURS or shape not in SHAPES:
        raise ValueError(f"unknown appearance {colour!r} {shape!r}: not in the vocabulary")
    template = _STILL_TEMPLATES[rng.integers(len(_STILL_TEMPLATES))]
    size_word = str(rng.choice(list(_STILL_SIZES))) if "{size}" in template else None
    position = str(rng.choice(list(_STILL_POSITIONS))) if "{position}" in template else None
    blur = _STILL_BLURS[rng.integers(len(_STILL_BLURS))] if rng.uniform() < _STILL_BLURRED else None
    size = rng.uniform(*_STILL_SIZES.get(size_word, (0.2, 0.36))) * height
    sweep = rng.uniform(0.2, 0.5) * height if blur else 0.0
    largest = size * (1.3 if blur == "radially blurred" else 1.0)
    reach = (_EXTENT[shape] * largest + _MARGIN_PX + sweep / 2) / height
    x_range, y_range = _STILL_POSITIONS.get(position, ((0.0, 1.0), (0.0, 1.0)))
    cx = _uniform_within(rng, x_range, reach) * height + (width - height) / 2
    cy = _uniform_within(rng, y_range, reach) * height
    angle = math.radians(rng.uniform(-_JITTER_DEG, _JITTER_DEG))
    offsets = np.linspace(-0.5, 0.5, _STILL_INSTANTS, dtype=np.float32)
    fields = {"cx": cx, "cy": cy, "size": size, "angle": angle}
    if blur == "horizontally blurred":
        fields["cx"] = cx + sweep * offsets
    elif blur == "vertically blurred":
        fields["cy"] = cy + sweep * offsets
    elif blur == "radially blurred":
        fields["size"] = size * (1.0 + 0.6 * offsets)
    elif blur == "spin-blurred":
        fields["angle"] = angle + math.radians(rng.uniform(40.0, 90.0)) * offsets
    clock = _Clock(np.zeros(_STILL_INSTANTS), _box(_STILL_INSTANTS), 1, 1)
    state = _state(clock, **fields)
    background = _background(rng, height, width)
    coverage = _expose(_coverage(shape, state, height, width), clock)
    image = _composite(background, _jitter_colour(colour, rng), coverage)[0]
    colour_words = f"{blur} {colour}" if blur else colour
    caption = template.format(colour=colour_words, shape=shape, size=size_word, position=position)
    return image, caption


_STILL_BLURRED = 0.5  # share of stills showing a blur, always named in the caption
_STILL_BLURS = ("horizontally blurred", "vertically blurred", "radially blurred", "spin-blurred")
_STILL_INSTANTS = 15  # instants averaged into a blurred still
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


def _near_centre(rng: np.random.Generator, lo: float, hi: float, side: int) -> float:
    """A coordinate within `_CENTRE_JITTER` of the square's centre, clamped to [lo, hi]."""
    return min(max(side / 2 + rng.uniform(-_CENTRE_JITTER, _CENTRE_JITTER) * side, lo), hi)


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

    opacity = alpha if isinstance(alpha, np.ndarray) else np.full(clock.frames, alpha, dtype=np.float32)
    return _State(expand(cx), expand(cy), expand(size), expand(angle), opacity)


def _travel(rng: np.random.Generator, shape: str, clock: _Clock, side: int, vertical: bool) -> _State:
    """Straight motion towards +x (right) or +y (down) through the centre, random offset and speed.

    The object sweeps 60-75% of the square (less only where a large object has no room). A frame's exposure
    covers most of the sweep, so each frame shows a streak about as long as the object, and the streak's
    centre still moves about a third of the side (over 30%) from the first frame to the last.
    """
    size = _base_size(rng, side)
    lo, hi = _free_range(shape, size, side)
    room = hi - lo
    distance = min(rng.uniform(0.6, 0.75) * side, room)
    start = _near_centre(rng, lo + distance / 2, hi - distance / 2, side) - distance / 2
    across = _near_centre(rng, lo, hi, side)
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
    """Size ramps from 6-10% to 50-56% of the side: fast enough that each frame shows a radial blur."""
    small, large = rng.uniform(0.06, 0.1) * side, rng.uniform(0.5, 0.56) * side
    lo, hi = _free_range(shape, large, side)
    cx, cy = _near_centre(rng, lo, hi, side), _near_centre(rng, lo, hi, side)
    angle = _jitter_angle(rng)
    return _state(clock, cx=cx, cy=cy, size=_ramp(small, large, clock), angle=angle)


def _rotate(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    """Rotation by 180-270 degrees in either direction: a frame's exposure smears the corners by tens of
    degrees, while the shape stays recognisable at the object's core."""
    size = _base_size(rng, side)
    lo, hi = _free_range(shape, size, side)
    cx, cy = _near_centre(rng, lo, hi, side), _near_centre(rng, lo, hi, side)
    start = rng.uniform(0.0, 2 * math.pi)
    turn = math.radians(rng.uniform(180.0, 270.0)) * rng.choice([-1.0, 1.0])
    return _state(clock, cx=cx, cy=cy, size=size, angle=_ramp(start, start + turn, clock))


def _blink(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    """On/off with a half-period of a fifth to a quarter of the clip, one state per frame.

    At most a quarter, so every clip shows the object both present and absent; at least a fifth, so that
    models sampling every 2nd or 4th frame do not alias the blinking into a still or empty clip. Every frame
    is fully on or off (opacity is per frame, not per instant): a frame with nothing in it is the evidence.
    """
    state = _still(rng, shape, clock, side)
    frames = clock.frames
    shortest = max(1, round(frames / 5))
    half = int(rng.integers(shortest, max(shortest, frames // 4) + 1))
    phase = int(rng.integers(0, 2 * half))
    alpha = (((np.arange(frames) + phase) // half) % 2 == 0).astype(np.float32)
    if alpha.min() == alpha.max():  # clips shorter than 4 frames: force one change
        alpha[-1] = 1.0 - alpha[0]
    return _State(state.cx, state.cy, state.size, state.angle, alpha)


def _bounce(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    """Vertical bounces off a floor around the centre, 1.5-2.5 bounces per clip, random height and phase: fast,
    so each frame shows a long vertical streak."""
    size = _base_size(rng, side)
    lo, hi = _free_range(shape, size, side)
    cx = _near_centre(rng, lo, hi, side)
    lift = min(rng.uniform(0.35, 0.55) * side, hi - lo)
    floor = _near_centre(rng, lo + lift / 2, hi - lift / 2, side) + lift / 2
    bounces, phase = rng.uniform(1.5, 2.5), rng.uniform(0.0, 1.0)
    heights = [abs(math.sin(math.pi * (bounces * float(t) + phase))) for t in clock.progress]
    cy = (floor - lift * np.array(heights)).astype(np.float32)
    return _state(clock, cx=cx, cy=cy, size=size, angle=_jitter_angle(rng))


def _still(rng: np.random.Generator, shape: str, clock: _Clock, side: int) -> _State:
    size = _base_size(rng, side)
    lo, hi = _free_range(shape, size, side)
    cx, cy = _near_centre(rng, lo, hi, side), _near_centre(rng, lo, hi, side)
    return _state(clock, cx=cx, cy=cy, size=size, angle=_jitter_angle(rng))


_MOTION_PATHS: dict[str, Callable[[np.random.Generator, str, _Clock, int], _State]] = {
    "moving to the right": _move_right,
    "moving to the bottom": _move_down,
    "growing large": _grow,
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
    cx, cy, size = (v[:, None, None] for v in (state.cx, state.cy, state.size))
    dx, dy = xs - cx, ys - cy
    cos, sin = _per_instant(math.cos, state.angle), _per_instant(math.sin, state.angle)
    u, v = cos * dx + sin * dy, cos * dy - sin * dx
    distance = _SDF[shape](u, v, size)
    return np.minimum(np.maximum(0.5 - distance, 0.0), 1.0)


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
