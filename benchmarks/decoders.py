"""Extraction decoders: frames equal to a sequential reference first, then videos/s per core at short side 256.

Clips are encoded here in each family the datasets use: MPEG-4 Part 2 in AVI (UCF-101, HMDB-51; 320x240),
H.264 in MP4 (Kinetics; 640x360) and VP9 in WebM (Something-Something v2; 427x240), `SECONDS` long at 30 fps
from the photo scene of `scenes.py`, panning. Compared on each:

- PyAV, one thread: `vifi.data.frames.decode.decode_video`, what `vifi extract` runs, and the reference;
- PyAV with its frame and slice threads (`thread_type="AUTO"`) at 2 threads;
- decord (`VideoReader(num_threads=n)`, all frames by `get_batch`) at 1 and 2 threads;
- torchcodec (`VideoDecoder(num_ffmpeg_threads=n)`, all frames by `get_frames_in_range`) at 1 and 2 threads.
  torchcodec 0.17.0, the newest release, loads and decodes with torch 2.14.1; it brings no FFmpeg of its own
  but loads the system's (`scripts/system-deps.sh ffmpeg`, FFmpeg 5.1 on Debian 12), so where none is installed
  it is left out and the run says why.

Correctness: each decoder's RGB frames against the reference's, as the largest absolute difference and the
share of values that differ (the frame counts must match). Speed: decode plus `resize_short_side` to 256 (what
extraction does next), timed in turn, as videos/s and videos/s per thread; a thread count pays off when its
videos/s per thread does not fall below the one-thread rate, since extraction runs one process per core.

    .venv/bin/python benchmarks/decoders.py [--quick] [--out DIR]
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import decord
import numpy as np
from harness import interleaved, parse_args, per_core, write_results
from scenes import photo_scene

from vifi.data.frames.decode import decode_video, resize_short_side

try:
    import torchcodec
    from torchcodec.decoders import VideoDecoder
except ImportError as error:  # not installed (`make setup` installs it)
    VideoDecoder, TORCHCODEC_MISSING = None, f"torchcodec is not installed ({error})"
else:
    found = torchcodec.ffmpeg_major_version
    TORCHCODEC_MISSING = None if found else "torchcodec found no FFmpeg libraries on this system"

FPS, SECONDS, QUICK_SECONDS = 30, 4, 1
SHORT_SIDE = 256
# family: (container suffix, encoder, width, height, encoder options). The AVI gets B-frames, as DivX/XviD
# files often have: the case where decord's random access is known to go wrong (`iter_frames`).
FAMILIES = {
    "mpeg4-avi": (".avi", "mpeg4", 320, 240, {"bf": "2"}),
    "h264-mp4": (".mp4", "libx264", 640, 360, {}),
    "vp9-webm": (".webm", "libvpx-vp9", 427, 240, {}),
}
REPEATS, QUICK_REPEATS = 7, 1


def encode(path: Path, codec: str, width: int, height: int, seconds: float, options: dict[str, str]) -> None:
    """A window panning across the photo scene, encoded with `codec` (yuv420p) into `path`."""
    scene = photo_scene()
    scene = np.pad(
        scene, ((0, max(0, height + 8 - scene.shape[0])), (0, max(0, width + 64 - scene.shape[1])), (0, 0))
    )
    frames = round(seconds * FPS)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(frames):
            x = round((scene.shape[1] - width) * t / frames)
            img = np.ascontiguousarray(scene[:height, x : x + width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())


def pyav_threaded(path: Path, threads: int) -> np.ndarray:
    """All frames, RGB, decoded by PyAV with frame and slice threading on `threads` threads."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type, stream.thread_count = "AUTO", threads
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])


def decord_all(path: Path, threads: int) -> np.ndarray:
    """All frames, RGB, decoded by decord with `threads` threads."""
    reader = decord.VideoReader(str(path), num_threads=threads)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def torchcodec_all(path: Path, threads: int) -> np.ndarray:
    """All frames, RGB, decoded by torchcodec on the system's FFmpeg with `threads` FFmpeg threads."""
    decoder = VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=threads)
    return decoder.get_frames_in_range(start=0, stop=len(decoder)).data.numpy()


DECODERS: dict[str, tuple[int, Callable[[Path], np.ndarray]]] = {
    "pyav x1 (extract)": (1, decode_video),
    "pyav x2": (2, lambda path: pyav_threaded(path, 2)),
    "decord x1": (1, lambda path: decord_all(path, 1)),
    "decord x2": (2, lambda path: decord_all(path, 2)),
}
if TORCHCODEC_MISSING is None:
    DECODERS |= {
        "torchcodec x1": (1, lambda path: torchcodec_all(path, 1)),
        "torchcodec x2": (2, lambda path: torchcodec_all(path, 2)),
    }
REFERENCE = "pyav x1 (extract)"


def agreement(decode: Callable[[Path], np.ndarray], path: Path, reference: np.ndarray) -> dict[str, object]:
    """Largest absolute difference and share of differing values (infinite when the frame counts differ), or
    the error where the decoder cannot decode the file to its end."""
    try:
        frames = decode(path)
    except RuntimeError as error:
        return {"max_abs": float("inf"), "differing": 1.0, "frames": 0, "error": str(error)}
    if frames.shape != reference.shape:
        return {"max_abs": float("inf"), "differing": 1.0, "frames": len(frames)}
    difference = np.abs(frames.astype(np.int16) - reference.astype(np.int16))
    return {
        "max_abs": float(difference.max()),
        "differing": float((difference > 0).mean()),
        "frames": len(frames),
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    per_core()
    if TORCHCODEC_MISSING:
        print(f"torchcodec not compared: {TORCHCODEC_MISSING}")
    seconds = QUICK_SECONDS if args.quick else SECONDS
    ratios: dict[str, float] = {}
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="vifi-decoders-") as tmp:
        for family, (suffix, codec, width, height, options) in FAMILIES.items():
            path = Path(tmp) / f"clip{suffix}"
            encode(path, codec, width, height, seconds, options)
            reference = decode_video(path)
            agree = {name: agreement(decode, path, reference) for name, (_, decode) in DECODERS.items()}
            decoding = [name for name in DECODERS if "error" not in agree[name]]
            rates = interleaved(
                {
                    name: lambda decode=DECODERS[name][1], path=path: resize_short_side(
                        decode(path), SHORT_SIDE
                    )
                    for name in decoding
                },
                QUICK_REPEATS if args.quick else REPEATS,
            )
            print(f"\n{family} ({codec}, {width}x{height}, {len(reference)} frames, short side {SHORT_SIDE}):")
            columns = ("max |diff|", "differing", "videos/s", "per thread", "x pyav x1")
            print(f"{'decoder':>18} " + " ".join(f"{c:>10}" for c in columns))
            base = 1 / rates[REFERENCE]
            for name, (threads, _) in DECODERS.items():
                if name not in decoding:
                    print(f"{name:>18} fails: {agree[name]['error']}")
                    continue
                rate = 1 / rates[name]
                print(
                    f"{name:>18} {agree[name]['max_abs']:>10.0f} {agree[name]['differing']:>10.2%} "
                    f"{rate:>10.2f} {rate / threads:>10.2f} {rate / base:>10.2f}"
                )
                if name != REFERENCE:
                    slug = name.replace(" ", "_")
                    ratios[f"{family}_{slug}_over_pyav_x1"] = rate / base
            figures[family] = {"agreement": agree, "seconds_per_video": rates}
    write_results(args.out, "decoders", ratios, figures)


if __name__ == "__main__":
    main()
