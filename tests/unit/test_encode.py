"""The encoders of `vifi.data.synthetic.encode`: byte-identical re-encodes, frames the frame store decodes close
to the input and in order, SSv2's odd 427x240 size, and an exact, machine-independent resize."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from vifi.data.frames.decode import decode_video
from vifi.data.synthetic.encode import CODECS, resize, rgb_to_yuv420p, write_video, yuv420p_planes

# Mean absolute difference (0-255 levels) between decoded and source frames, per codec at its fixed quality on
# `moving_square` (64x48 px). Measured: 2.2 (H.264), 3.1 (MPEG-4), 3.4 (VP9); the colour round trip through
# 4:2:0 alone accounts for about 1 of that.
TOLERANCE = {".mp4": 2.5, ".mkv": 2.5, ".avi": 3.5, ".webm": 4.0}


def moving_square(frames: int = 16, height: int = 48, width: int = 64) -> np.ndarray:
    """Gradients drifting in colour with a red square moving across: each frame unlike its neighbours."""
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        out[i] = np.stack(
            [(xx * 200 // width + 4 * i) % 256, yy * 200 // height, np.full_like(xx, 60 + 5 * i)], -1
        )
        y0, x0 = (2 * i) % (height - 12), (3 * i) % (width - 12)
        out[i, y0 : y0 + 12, x0 : x0 + 12] = (250, 30, 30)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def nearest_source(decoded: np.ndarray, source: np.ndarray) -> list[int]:
    diffs = np.abs(decoded[:, None].astype(np.int16) - source[None].astype(np.int16)).mean(axis=(2, 3, 4))
    return diffs.argmin(axis=1).tolist()


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("encoded")
    paths = {suffix: root / f"clip{suffix}" for suffix in CODECS}
    for path in paths.values():
        write_video(path, moving_square(), 12)
    return paths


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_reencoding_gives_the_same_bytes(encoded: dict[str, Path], tmp_path: Path, suffix: str) -> None:
    again = tmp_path / f"again{suffix}"
    write_video(again, moving_square(), 12)
    assert again.read_bytes() == encoded[suffix].read_bytes()


def test_another_process_encodes_the_same_bytes(encoded: dict[str, Path], tmp_path: Path) -> None:
    """A fresh process has another memory layout and another random state (Matroska's segment UID)."""
    np.save(tmp_path / "clip.npy", moving_square())
    script = (
        "import sys\nimport numpy as np\nfrom vifi.data.synthetic.encode import write_video\n"
        "for path in sys.argv[2:]: write_video(path, np.load(sys.argv[1]), 12)"
    )
    paths = [tmp_path / f"other{suffix}" for suffix in sorted(CODECS)]
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "clip.npy"), *map(str, paths)], check=True)
    assert [sha256(p) for p in paths] == [sha256(encoded[suffix]) for suffix in sorted(CODECS)]


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_the_frame_store_decodes_every_frame_close_to_the_input(encoded: dict[str, Path], suffix: str) -> None:
    source = moving_square()
    frames = decode_video(encoded[suffix])
    assert frames.shape == source.shape
    assert nearest_source(frames, source) == list(range(16))
    assert np.abs(frames.astype(np.int16) - source).mean() <= TOLERANCE[suffix]


def test_each_suffix_gets_its_publishers_codec_and_container(encoded: dict[str, Path]) -> None:
    found = {}
    for suffix, path in encoded.items():
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            found[suffix] = (container.format.name.split(",")[0], stream.codec_context.name, stream.codec_tag)
    assert found[".avi"] == ("avi", "mpeg4", "XVID")
    assert found[".webm"][:2] == ("matroska", "vp9")
    assert found[".mkv"][:2] == ("matroska", "h264")
    assert found[".mp4"][:2] == ("mov", "h264")


@pytest.mark.parametrize(("suffix", "size"), [(".webm", (240, 427)), (".avi", (47, 63)), (".webm", (85, 48))])
def test_odd_and_portrait_sizes_decode_at_that_size(tmp_path: Path, suffix: str, size: tuple[int, int]) -> None:
    """SSv2 is 427x240 (odd width); MPEG-4 Part 2 and VP9 round the chroma planes up, H.264 in 4:2:0 cannot."""
    path = tmp_path / f"odd{suffix}"
    source = moving_square(8)
    write_video(path, source, 12, size=size)
    frames = decode_video(path)
    assert frames.shape == (8, *size, 3)
    assert np.abs(frames.astype(np.int16) - resize(source, *size)).mean() <= TOLERANCE[suffix]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_h264_refuses_an_odd_size_by_name(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(ValueError, match=rf"odd{suffix}: H\.264 in 4:2:0 needs even frame sizes, got 240x427"):
        write_video(tmp_path / f"odd{suffix}", moving_square(2), 12, size=(240, 427))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "clip", "message"),
    [
        ("a.mov", moving_square(2), r"a\.mov: no encoder for suffix '\.mov'; expected one of \.avi"),
        (
            "a.mp4",
            moving_square(2).astype(np.float32),
            r"a\.mp4: expected uint8 frames of shape \(T, H, W, 3\)",
        ),
        ("a.mp4", moving_square(2)[..., 0], r"got uint8 \(2, 48, 64\)"),
    ],
)
def test_bad_requests_are_refused(tmp_path: Path, name: str, clip: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path / name, clip, 12)


def test_crf_sets_the_h264_quality(tmp_path: Path) -> None:
    write_video(tmp_path / "fine.mkv", moving_square(), 12, crf=10)
    write_video(tmp_path / "coarse.mkv", moving_square(), 12, crf=40)
    assert (tmp_path / "fine.mkv").stat().st_size > 2 * (tmp_path / "coarse.mkv").stat().st_size


def test_planes_of_an_even_size_are_those_of_rgb_to_yuv420p() -> None:
    clip = moving_square(3)
    y, u, v = yuv420p_planes(clip)
    packed = rgb_to_yuv420p(clip).reshape(3, -1)
    assert [y.shape, u.shape, v.shape] == [(3, 48, 64), (3, 24, 32), (3, 24, 32)]
    np.testing.assert_array_equal(np.concatenate([p.reshape(3, -1) for p in (y, u, v)], axis=1), packed)


def test_planes_of_an_odd_size_round_chroma_up_and_repeat_the_edge() -> None:
    clip = moving_square(2, 47, 63)
    y, u, v = yuv420p_planes(clip)
    assert [y.shape, u.shape, v.shape] == [(2, 47, 63), (2, 24, 32), (2, 24, 32)]
    edge = np.repeat(clip[:, -1:, -1:], 2, axis=1).repeat(2, axis=2)  # the lone corner pixel, repeated 2x2
    np.testing.assert_array_equal(u[:, -1, -1], yuv420p_planes(edge)[1][:, 0, 0])
    np.testing.assert_array_equal(
        y, yuv420p_planes(np.pad(clip, ((0, 0), (0, 1), (0, 1), (0, 0))))[0][:, :47, :63]
    )


@pytest.mark.parametrize(
    ("shape", "size"), [((48, 64), (240, 427)), ((240, 427), (48, 64)), ((47, 63), (30, 90))]
)
def test_resize_is_antialiased_bilinear(shape: tuple[int, int], size: tuple[int, int]) -> None:
    """Within one level of torch's antialiased bilinear (float, then rounded), which it imitates exactly."""
    import torch  # here, so that the encoding subprocess does not pay for importing it

    clip = np.random.default_rng(0).integers(0, 256, (2, *shape, 3), np.uint8)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(clip).permute(0, 3, 1, 2).double(), size=size, mode="bilinear", antialias=True
    )
    expected = expected.round().permute(0, 2, 3, 1).numpy()
    got = resize(clip, *size)
    assert got.dtype == np.uint8 and got.shape == (2, *size, 3)
    assert np.abs(got - expected).max() <= 1


def test_resize_keeps_flat_frames_flat_and_the_same_size_untouched() -> None:
    flat = np.full((1, 31, 17, 3), 201, np.uint8)
    np.testing.assert_array_equal(resize(flat, 240, 427), np.full((1, 240, 427, 3), 201, np.uint8))
    clip = moving_square(2)
    assert resize(clip, 48, 64) is clip
    with pytest.raises(ValueError, match="cannot resize to 0x64"):
        resize(clip, 0, 64)
