"""Frame-store size per video, all frames vs `--frames-per-video M`, projected to Kinetics-400.

Keeping every frame of Kinetics-400 (about 240,000 clips of 10 s) at short side 256 takes terabytes; this
measures how far keeping M frames per video (the centres of M equal segments) brings it under a 100 GB budget.

Each test clip stands in for a Kinetics video: 10 s, 320x240, 30 fps, H.264, a camera panning over a scene
with two objects moving across it. A flat or cartoon-like clip would compress far better than real footage
and understate the size, so the scene is either a photograph (matplotlib's sample `grace_hopper.jpg`) or, as
a detail-heavy case, noise with the 1/f amplitude spectrum of natural images. Each configuration is extracted
once, as `vifi extract` does it; the shard's file size is the bytes per video, and the time per video is
measured after one warm-up extraction.

    .venv/bin/python benchmarks/extract_storage.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import av
import matplotlib.cbook
import matplotlib.image
import numpy as np

from vifi.data.framestore import extract_shard

K400_VIDEOS = 240_000
BUDGET_GB = 100
SECONDS, FPS, WIDTH, HEIGHT = 10, 30, 320, 240
SHORT_SIDE = 256
QUALITIES = (90, 75)
FRAMES_PER_VIDEO = (None, 16, 32)


def photo_scene() -> np.ndarray:
    """A 600x512 RGB photograph shipped with matplotlib, large enough to pan a 320x240 window over."""
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.ascontiguousarray(matplotlib.image.imread(path)[..., :3])


def texture_scene(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """uint8 RGB noise with the 1/f amplitude spectrum of natural images but detail everywhere."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    amplitude = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(height, width))
    luma, red, blue = (_shaped_noise(amplitude, (height, width), rng) for _ in range(3))
    rgb = np.stack([luma + 0.3 * red, luma - 0.2 * red - 0.2 * blue, luma + 0.3 * blue], -1)
    rgb = (rgb - rgb.mean()) / rgb.std()
    return np.clip(128 + 45 * rgb, 0, 255).astype(np.uint8)


def _shaped_noise(amplitude: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    spectrum = amplitude * np.exp(2j * np.pi * rng.random(amplitude.shape))
    return np.fft.irfft2(spectrum, s=shape)


def write_clip(path: Path, scene: np.ndarray) -> None:
    """Encode a clip: a window panning across `scene`, with two patches of it moving across the window."""
    frames = SECONDS * FPS
    room_y, room_x = scene.shape[0] - HEIGHT, scene.shape[1] - WIDTH
    objects = [scene[:64, -48:], scene[-40:, :80]]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for t in range(frames):
            phase = t / frames
            y = round(room_y * (0.5 + 0.5 * np.sin(2 * np.pi * phase)))
            x = round(room_x * phase)
            img = scene[y : y + HEIGHT, x : x + WIDTH].copy()
            for k, obj in enumerate(objects):
                oy = round((HEIGHT - obj.shape[0]) * (0.5 + 0.4 * np.sin(t / (9 + 4 * k))))
                ox = round((WIDTH - obj.shape[1]) * abs(1 - 2 * ((phase * (2 + k)) % 1)))
                img[oy : oy + obj.shape[0], ox : ox + obj.shape[1]] = obj
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())


def measure(root: Path, clip: str, quality: int, frames_per_video: int | None) -> dict[str, float]:
    start = time.perf_counter()
    summary = extract_shard(
        root / "videos",
        [clip],
        root / "shard.bin",
        short_side=SHORT_SIDE,
        quality=quality,
        frames_per_video=frames_per_video,
        progress=False,
    )
    return {
        "bytes": summary["file_bytes"],
        "payload": summary["payload_bytes"],
        "kept": summary["kept_frames"],
        "seconds": time.perf_counter() - start,
    }


def report(root: Path, clip: str) -> None:
    print(f"\n{clip}: {(root / 'videos' / clip).stat().st_size / 1e6:.2f} MB source")
    print(
        f"{'quality':>7} {'M':>5} {'MB/video':>9} {'KB/frame':>9} {'K400 GB':>9} {'all/M':>6} {'s/video':>8}"
        f" {'<100 GB':>8}"
    )
    for quality in QUALITIES:
        rows = {m: measure(root, clip, quality, m) for m in FRAMES_PER_VIDEO}
        for m, row in rows.items():
            total_gb = row["bytes"] * K400_VIDEOS / 1e9
            per_frame_kb = row["payload"] / row["kept"] / 1e3
            print(
                f"{quality:>7} {m or 'all':>5} {row['bytes'] / 1e6:>9.3f} {per_frame_kb:>9.1f} {total_gb:>9.1f}"
                f" {rows[None]['bytes'] / row['bytes']:>6.1f} {row['seconds']:>8.2f}"
                f" {'yes' if total_gb < BUDGET_GB else 'no':>8}"
            )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "videos").mkdir()
        clips = {"photo.mp4": photo_scene(), "texture.mp4": texture_scene()}
        for name, scene in clips.items():
            write_clip(root / "videos" / name, scene)
        print(
            f"{SECONDS} s {WIDTH}x{HEIGHT} {FPS} fps H.264 clips, short side {SHORT_SIDE}, {K400_VIDEOS} videos"
        )
        measure(root, "photo.mp4", 90, 1)  # warm-up: imports, JPEG encoder, page cache
        for name in clips:
            report(root, name)


if __name__ == "__main__":
    main()
