"""Test clips that stand in for Kinetics videos in the benchmarks: H.264, 320x240, 30 fps, a camera panning.

A flat or cartoon-like clip would compress (and decode) far more easily than real footage and flatter every
figure, so the scene is either a photograph (matplotlib's sample `grace_hopper.jpg`) or, as a detail-heavy
case, noise with the 1/f amplitude spectrum of natural images. Two patches of the scene move across the
window, so consecutive frames differ the way a hand-held shot's do. libx264 runs with its defaults (CRF 23,
a keyframe at most every 250 frames).
"""

from __future__ import annotations

from pathlib import Path

import av
import matplotlib.cbook
import matplotlib.image
import numpy as np

FPS, WIDTH, HEIGHT = 30, 320, 240


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


def write_clip(path: Path, scene: np.ndarray, seconds: float) -> None:
    """Encode a clip: a window panning across `scene`, with two patches of it moving across the window."""
    frames = round(seconds * FPS)
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
