"""Encode RGB clips in the codecs the datasets are published in, reproducibly to the byte.

UCF-101 ships XviD and HMDB-51 DivX videos (MPEG-4 Part 2 in AVI), Kinetics H.264 in MP4 (a few clips in
Matroska), Something-Something v2 VP9 in WebM, 240 px high and mostly of odd width (427x240). The synthetic
datasets and the tests write their videos in the same codecs, so every decoding path of paper mode also runs
on the demo's data. `write_video` picks the codec from the file's suffix.

Two runs give the same bytes because nothing that varies between runs or machines reaches the file: the colour
conversion and any resizing are exact integer arithmetic (not swscale's CPU-dependent SIMD), each encoder runs
one thread at a fixed quality, and the AVI, Matroska and WebM muxers run in FFmpeg's bitexact mode (otherwise
they write the library version and, Matroska and WebM, a random segment UID).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

H264_CRF = 23  # x264's own default quality
MPEG4_QSCALE = 4  # the AVI videos' fixed quantiser, from 2 (best) to 31
VP9_CRF = 32
_BITEXACT = {"fflags": "+bitexact"}


@dataclass(frozen=True)
class _Codec:
    """How one suffix is encoded: the container, the PyAV codec and its options, and the frame-size rule."""

    container: str
    codec: str
    options: dict[str, str] = field(default_factory=dict)
    tag: str | None = None
    even_size: bool = False  # libx264 refuses odd sizes in 4:2:0; MPEG-4 Part 2 and VP9 round chroma up


CODECS = {
    # MPEG-4 Part 2 with B-frames under XviD's tag, as UCF-101's files are (HMDB-51's DivX decodes alike).
    ".avi": _Codec(
        "avi",
        "mpeg4",
        {"flags": "+qscale+bitexact", "qmin": str(MPEG4_QSCALE), "qmax": str(MPEG4_QSCALE), "bf": "2"},
        tag="XVID",
    ),
    # libvpx's realtime mode, the fastest; `b=0` makes `crf` a constant-quality target.
    ".webm": _Codec(
        "webm", "libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "b": "0", "crf": str(VP9_CRF)}
    ),
    # The x264 settings of `write_mp4` (which says why); `write_video` adds the crf.
    ".mkv": _Codec("matroska", "libx264", {"preset": "faster", "x264-params": "mbtree=0"}, even_size=True),
    ".mp4": _Codec("mp4", "libx264", even_size=True),
}


def write_video(
    path: str | os.PathLike[str],
    clip: np.ndarray,
    fps: int | Fraction,
    *,
    size: tuple[int, int] | None = None,
    crf: int = H264_CRF,
) -> None:
    """Encode uint8 (T, H, W, 3) RGB frames in the codec of `path`'s suffix (`CODECS`), resized first to
    `size` = (height, width) if given. `crf` sets the quality of H.264 (.mp4, .mkv); the others are fixed.

    Raises ValueError for an unknown suffix, a clip that is not uint8 RGB, or an odd size with H.264.
    """
    path = Path(path)
    spec = CODECS.get(path.suffix.lower())
    if spec is None:
        raise ValueError(f"{path}: no encoder for suffix {path.suffix!r}; expected one of {', '.join(CODECS)}")
    if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3 or not clip.shape[0]:
        raise ValueError(f"{path}: expected uint8 frames of shape (T, H, W, 3), got {clip.dtype} {clip.shape}")
    if size is not None:
        clip = resize(clip, *size)
    height, width = clip.shape[1:3]
    if spec.even_size and (height % 2 or width % 2):
        raise ValueError(
            f"{path}: H.264 in 4:2:0 needs even frame sizes, got {height}x{width} (height x width); "
            "use an even size, or .avi or .webm, whose codecs take odd sizes"
        )
    if spec.container == "mp4":
        write_mp4(path, clip, fps, crf)
    else:
        _encode(path, clip, fps, spec, crf)


def _encode(path: Path, clip: np.ndarray, fps: int | Fraction, spec: _Codec, crf: int) -> None:
    """Encode with one thread, frames built from our own YUV planes, the muxer in bitexact mode."""
    height, width = clip.shape[1:3]
    options = {**spec.options, "crf": str(crf)} if spec.codec == "libx264" else spec.options
    with av.open(str(path), mode="w", format=spec.container, options=_BITEXACT) as container:
        stream = container.add_stream(spec.codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        if spec.tag:
            stream.codec_tag = spec.tag
        for index, planes in enumerate(zip(*yuv420p_planes(clip), strict=True)):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, data in zip(frame.planes, planes, strict=True):
                np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width] = data
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def yuv420p_planes(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y (T, H, W), U and V (T, ceil(H/2), ceil(W/2)) planes of `rgb_to_yuv420p`, for any frame size.

    An odd size is padded by repeating the last row or column, so the chroma of the last, lone row or column
    is its own average, as 4:2:0 codecs that take odd sizes expect; the padding is cropped off the Y plane.
    """
    frames, height, width = clip.shape[:3]
    padded = np.pad(clip, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    h, w = padded.shape[1:3]
    flat = rgb_to_yuv420p(padded).reshape(frames, -1)
    luma, chroma = h * w, (h // 2) * (w // 2)
    y = flat[:, :luma].reshape(frames, h, w)[:, :height, :width]
    u = flat[:, luma : luma + chroma].reshape(frames, h // 2, w // 2)
    v = flat[:, luma + chroma :].reshape(frames, h // 2, w // 2)
    return y, u, v


def resize(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 (T, H, W, 3) frames to `height` x `width`, bilinear, antialiased when shrinking.

    Exact integer arithmetic, so the result is the same on every machine: the filter weights are integers that
    sum to 2**14 per output pixel, every product and partial sum is an integer below 2**53, so float64 matrix
    products (any summation order, any BLAS) compute them exactly, and one rounding happens at the end.
    """
    if height < 1 or width < 1:
        raise ValueError(f"cannot resize to {height}x{width}: sizes must be positive")
    if clip.shape[1:3] == (height, width):
        return clip
    rows, cols = _weights(clip.shape[1], height), _weights(clip.shape[2], width)
    out = np.einsum("ih,thwc->tiwc", rows, clip.astype(np.float64), optimize=True)
    out = np.einsum("jw,tiwc->tijc", cols, out, optimize=True)
    return np.floor((out + 2.0**27) / 2.0**28).astype(np.uint8)


def _weights(source: int, target: int) -> np.ndarray:
    """(target, source) integer weights of a triangle filter summing to 2**14 per row, pixel centres aligned.

    When shrinking, the triangle widens by the scale factor (antialiasing), so every source pixel counts.
    """
    scale = source / target
    support = max(scale, 1.0)
    centres = (np.arange(target) + 0.5) * scale - 0.5
    distance = np.abs(np.arange(source)[None, :] - centres[:, None]) / support
    weights = np.clip(1.0 - distance, 0.0, None)
    weights = np.floor(weights / weights.sum(axis=1, keepdims=True) * 2**14 + 0.5)
    rows = np.arange(target)
    weights[rows, weights.argmax(axis=1)] += 2**14 - weights.sum(axis=1)  # rounding leftovers
    return weights


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
