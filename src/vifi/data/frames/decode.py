"""Decode a video file into RGB frames: the pipeline's one decoder, run by `vifi extract` and `vifi predict`.

Decoding is PyAV's sequential decode for every container and codec (`iter_frames` says why). A video that
cannot be decoded completely (unreadable, empty, truncated, no video stream, no frames) raises
`VideoDecodeError`, whose reason does not name the file, so that extraction can quarantine it
(`vifi.data.frames.extract`) rather than drop it silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vifi.data.frames.transforms import rescaled_shape, resize_clip, to_clip_tensor

DECODE_CHUNK = 32
# Extraction runs one process per shard, so one decoder thread per process uses the cores the scheduler gave it;
# FFmpeg's automatic threading oversubscribes them: H.264 and VP9 decoding were up to 4x slower on shared cores.
DECODE_THREADS = 1
TRUNCATION_TOLERANCE = 0.05


class VideoDecodeError(RuntimeError):
    """A video cannot be decoded into a complete frame sequence; `reason` says why without naming the file."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"cannot decode {path}: {reason}")
        self.reason = reason


def iter_frames(path: str | os.PathLike[str], short_side: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video in display order as uint8 `(n, H, W, 3)` RGB chunks of at most `DECODE_CHUNK` frames.

    PyAV's sequential decode is the one decoder for every family the datasets use (XviD/DivX AVI, H.264
    MP4/MKV, VP9 WebM): decord's random access returns wrong frames on AVIs with B-frames, its threaded VP9
    decoding is reported to fail, and for a full sequential decode it is no faster than single-threaded PyAV.
    Frames come in the decoder's output order, which is the display order. They are not re-sorted by pts,
    because packed B-frame AVIs (DivX) carry pts in packet order (1, 3, 2, 5, 4, ...) and sorting would swap
    their frames.

    Chunks bound memory for long full-resolution videos. A file that cannot yield a complete frame sequence
    raises `VideoDecodeError`, possibly after some chunks were yielded (a file can turn out truncated only at
    its end), so a consumer that writes chunks as they arrive must discard them on that error.
    """
    path = Path(path)
    with _open_video(path) as container:
        stream = _video_stream(container, path)
        stream.codec_context.thread_count = DECODE_THREADS
        declared = _declared_frames(container, stream)
        decoded = 0
        for chunk in _rgb_chunks(container, stream, path):
            decoded += len(chunk)
            yield chunk if short_side is None else resize_short_side(chunk, short_side)
    _check_complete(path, decoded, declared)


def decode_video(path: str | os.PathLike[str], short_side: int | None = None) -> np.ndarray:
    """All frames of a video as one uint8 `(N, H, W, 3)` RGB array, optionally resized to `short_side`."""
    return np.concatenate(list(iter_frames(path, short_side)))


def _open_video(path: Path) -> av.container.InputContainer:
    """Open a video for reading, turning every way a file can be unreadable into a `VideoDecodeError`.

    The absolute path keeps FFmpeg from taking a `name:` prefix (`clip:1.mp4` under root `.`) for a protocol.
    Metadata is decoded leniently because PyAV decodes it eagerly at open, and old Windows tools wrote AVI
    tags in Latin-1, which strict UTF-8 decoding turns into a crash.
    """
    try:
        if path.stat().st_size == 0:
            raise VideoDecodeError(path, "empty file (0 bytes)")
        return av.open(str(path.absolute()), metadata_errors="replace")
    except (OSError, av.error.FFmpegError) as err:
        raise VideoDecodeError(path, f"unreadable: {_describe(err)}") from err


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        kinds = ", ".join(stream.type for stream in container.streams) or "none"
        raise VideoDecodeError(path, f"no video stream (streams: {kinds})")
    return container.streams.video[0]


def _declared_frames(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    """The frame count the file's headers promise, or None where they promise nothing.

    An AVI header keeps its exact frame count when the file is cut short (the index at the end is lost with the
    tail). MP4 frame counts include samples an edit list hides (stream-copied trims, common in Kinetics), so MP4
    and Matroska/WebM use the edit-aware stream duration, or the container duration, times the frame rate.
    """
    if container.format.name == "avi":
        return stream.frames or None
    if stream.duration is not None:
        seconds = stream.duration * stream.time_base
    elif container.duration is not None:
        seconds = Fraction(container.duration, av.time_base)
    else:
        return None
    rate = stream.average_rate or stream.guessed_rate
    return round(seconds * rate) if rate else None


def _rgb_chunks(
    container: av.container.InputContainer, stream: av.VideoStream, path: Path
) -> Iterator[np.ndarray]:
    """Demux and decode sequentially into RGB chunks; corrupt packets and decoder errors raise.

    Every frame is converted at the first frame's size, so a stream that changes resolution midway (allowed in
    VP9 and H.264) still gives one array shape per video.
    """
    chunk: list[np.ndarray] = []
    done, size = 0, None
    try:
        for packet in container.demux(stream):
            if packet.is_corrupt:  # FFmpeg marks a packet cut off by the end of the file
                raise VideoDecodeError(path, f"truncated: incomplete packet after {done + len(chunk)} frames")
            for frame in packet.decode():
                size = size or (frame.width, frame.height)
                chunk.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
                if len(chunk) == DECODE_CHUNK:
                    done += len(chunk)
                    yield np.stack(chunk)
                    chunk = []
    except av.error.FFmpegError as err:
        reason = f"decode error after {done + len(chunk)} frames: {_describe(err)}"
        raise VideoDecodeError(path, reason) from err
    if chunk:
        yield np.stack(chunk)


def _check_complete(path: Path, decoded: int, declared: int | None) -> None:
    """Reject a decode that produced no frames, or clearly fewer than the headers declare.

    A shortfall is how truncated AVI and WebM files show (their demuxers stop quietly at the cut), and how WebM
    files with a corrupt block show (the demuxer skips to the next cluster).

    Duration-based counts are estimates (rounding, a last frame without a duration, variable frame rates), so
    only a shortfall beyond `TRUNCATION_TOLERANCE` of the declared count, and at least 2 frames, counts.
    """
    if decoded == 0:
        raise VideoDecodeError(path, "no frames decoded")
    if declared is not None and declared - decoded > max(2, TRUNCATION_TOLERANCE * declared):
        shortfall = f"decoded {decoded} of the {declared} frames its header declares"
        raise VideoDecodeError(path, f"incomplete: {shortfall} (truncated or corrupt)")


def _describe(err: BaseException) -> str:
    """Error type and message without the file name, so quarantine reasons do not depend on where data lives."""
    message = err.strerror if isinstance(err, av.error.FFmpegError | OSError) and err.strerror else str(err)
    return f"{type(err).__name__}: {message.strip()}"


def resize_short_side(frames: np.ndarray, short_side: int) -> np.ndarray:
    """Resize uint8 `(N, H, W, 3)` frames so the short side is `short_side` (bilinear, antialiased).

    Antialiasing matters here because extraction usually shrinks full-resolution videos by a large factor.
    """
    height, width = rescaled_shape(frames.shape[1], frames.shape[2], short_side)
    if (height, width) == frames.shape[1:3]:
        return frames
    clip = resize_clip(to_clip_tensor(frames), height, width, antialias=True)
    return np.ascontiguousarray(clip.permute(0, 2, 3, 1).numpy())
