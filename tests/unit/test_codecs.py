"""Decoding is right for every container/codec family the datasets use, and broken files are quarantined.

Every test video is encoded here with PyAV. Frames must equal PyAV's plain sequential decode (the reference),
and, independently of any decoder, decoded frame i must look most like source frame i: that second check is
what shows the reference itself is in display order (sorting by pts would fail it on packed B-frame AVIs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from vifi.data.frames import decode
from vifi.data.frames.decode import VideoDecodeError, decode_video, resize_short_side
from vifi.data.frames.extract import QuarantineWarning, extract_shard
from vifi.data.frames.shards import read_index
from vifi.data.frames.store import FrameStore

VOP_START = b"\x00\x00\x01\xb6"


def source_frames(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Frames that differ clearly from their neighbours: textured background, moving square, drifting colour."""
    rng = np.random.default_rng(seed)
    texture = np.kron(rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3)), np.ones((8, 8, 1)))
    xx = np.arange(width)[None, :]
    out = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        img = texture[:height, :width].astype(np.uint8)
        img[..., 0] = (xx * 3 + i * 11) % 256
        y0, x0 = (3 * i) % max(1, height - 16), (5 * i) % max(1, width - 16)
        img[y0 : y0 + 16, x0 : x0 + 16] = (255, (i * 37) % 256, 0)
        out[i] = img
    return out


def write_video(
    path: Path,
    codec: str,
    frames: np.ndarray,
    rate: Fraction | int,
    *,
    pix_fmt: str = "yuv420p",
    tag: str | None = None,
    b_frames: int | None = None,
    options: dict[str, str] | None = None,
    pts_ms: list[int] | None = None,
) -> None:
    """Encode `frames` with one PyAV codec; `pts_ms` gives millisecond timestamps for variable frame rates."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if tag:
            stream.codec_tag = tag
        if b_frames is not None:
            stream.codec_context.max_b_frames = b_frames
        if pts_ms:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts_ms:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def n_vop(time_increment_bits: int) -> bytes:
    """A not-coded MPEG-4 VOP: the placeholder DivX writes after each packed P+B chunk."""
    bits = "01" + "0" + "1" + "0" * time_increment_bits + "1" + "0"  # P type, time base, markers, vop_coded=0
    bits += "0" + "1" * ((7 - len(bits) % 8) % 8)  # next_start_code stuffing
    return VOP_START + int(bits, 2).to_bytes(len(bits) // 8, "big")


def write_packed_avi(path: Path, frames: np.ndarray, rate: int = 25) -> None:
    """Write MPEG-4 with DivX-style packed B-frames: each P-frame shares an AVI chunk with the B-frame after it.

    FFmpeg's muxers never pack, so this packs by hand: the B-frame's VOP is appended to the preceding P-frame's
    chunk, an N-VOP chunk takes the B-frame's slot, and a "DivX503b1393p" user-data tag tells decoders so.
    """
    codec = av.CodecContext.create("mpeg4", "w")
    codec.width, codec.height, codec.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    codec.time_base, codec.framerate, codec.max_b_frames = Fraction(1, rate), rate, 1
    packets = []
    for i, img in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        packets += [(bytes(p), p.pts, p.is_keyframe) for p in codec.encode(frame)]
    packets += [(bytes(p), p.pts, p.is_keyframe) for p in codec.encode(None)]
    first, pts, key = packets[0]
    vop = first.find(VOP_START)
    packets[0] = (first[:vop] + b"\x00\x00\x01\xb2DivX503b1393p" + first[vop:], pts, key)
    chunks, i = [], 0
    while i < len(packets):
        data, pts, key = packets[i]
        if i + 1 < len(packets) and packets[i + 1][1] < pts:  # a B-frame follows in decode order
            chunks += [(data + packets[i + 1][0], key), (n_vop((rate - 1).bit_length()), False)]
            i += 2
        else:
            chunks.append((data, key))
            i += 1
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.codec_tag = codec.width, codec.height, "DX50"
        for j, (data, key) in enumerate(chunks):
            packet = av.Packet(data)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, j, j, Fraction(1, rate)
            packet.is_keyframe = key
            container.mux(packet)


def write_trimmed(src: Path, dst: Path, start_frame: int) -> None:
    """Stream-copy `src` with timestamps shifted so that frames before `start_frame` fall before zero.

    The MP4 muxer then writes an edit list that hides those frames, as stream-copied trims of Kinetics do.
    """
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        shift = int(start_frame / stream.average_rate / stream.time_base)
        for packet in inp.demux(stream):
            if packet.dts is not None:
                packet.pts, packet.dts, packet.stream = packet.pts - shift, packet.dts - shift, copy
                out.mux(packet)


def reference(path: Path) -> tuple[np.ndarray, list[int | None]]:
    """PyAV's sequential decode with default settings, in the decoder's output order, and the frames' pts."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return np.stack([f.to_ndarray(format="rgb24") for f in frames]), [f.pts for f in frames]


def nearest_source(decoded: np.ndarray, source: np.ndarray) -> list[int]:
    """Index of the most similar source frame for each decoded frame (mean absolute difference)."""
    diffs = np.abs(decoded[:, None].astype(np.int16) - source[None].astype(np.int16)).mean(axis=(2, 3, 4))
    return diffs.argmin(axis=1).tolist()


class Family(NamedTuple):
    """One test video: its file name, source frames, writer, and the source index of its first decoded frame.

    `pts_sorted` says whether the decoder returns frames with increasing pts, i.e. whether a pts sort (EVL's
    decoding) gives the same order; packed B-frame AVIs are the exception.
    """

    name: str
    source: np.ndarray
    write: Callable[[Path, np.ndarray], None]
    first: int = 0
    pts_sorted: bool = True


def _trimmed(path: Path, frames: np.ndarray) -> None:
    full = path.with_name("untrimmed.mp4")
    write_video(full, "libx264", frames, 30)
    write_trimmed(full, path, start_frame=10)
    full.unlink()


FAMILIES = [
    # UCF-101: XviD MPEG-4 Part 2 in AVI, with (unpacked) B-frames
    Family(
        "ucf101 xvid.avi",
        source_frames(30, 120, 160),
        lambda p, f: write_video(p, "mpeg4", f, 25, tag="XVID", b_frames=2),
    ),
    # HMDB-51: DivX with packed B-frames
    Family("hmdb51 divx packed.avi", source_frames(30, 120, 160, seed=1), write_packed_avi, pts_sorted=False),
    # Kinetics: H.264, sizes that are not multiples of 16, portrait, 29.97 fps, short clips, VFR, edit lists
    Family(
        "k400 odd size.mp4", source_frames(45, 94, 170, seed=2), lambda p, f: write_video(p, "libx264", f, 30)
    ),
    Family(
        "k400 odd 444.mp4",
        source_frames(20, 97, 171, seed=3),
        lambda p, f: write_video(p, "libx264", f, Fraction(30000, 1001), pix_fmt="yuv444p"),
    ),
    Family(
        "k400 portrait.mkv", source_frames(20, 170, 94, seed=4), lambda p, f: write_video(p, "libx264", f, 25)
    ),
    Family("k400 short.mp4", source_frames(3, 96, 128, seed=5), lambda p, f: write_video(p, "libx264", f, 30)),
    Family(
        "k400 vfr.mkv",
        source_frames(24, 96, 128, seed=6),
        lambda p, f: write_video(
            p, "libx264", f, 30, pts_ms=[int(i * 33.4 + 20 * (i % 3 == 2)) for i in range(24)]
        ),
    ),
    Family("k400 trimmed.mp4", source_frames(40, 96, 128, seed=7), _trimmed, first=10),
    # SSv2: VP9 WebM at 427x240 and 12 fps
    Family(
        "ssv2 vp9.webm",
        source_frames(24, 240, 427, seed=8),
        lambda p, f: write_video(p, "libvpx-vp9", f, 12, options={"cpu-used": "8"}),
    ),
]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("families")
    for family in FAMILIES:
        family.write(root / family.name, family.source)
    return root


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_decode_equals_sequential_reference_in_display_order(videos: Path, family: Family) -> None:
    path = videos / family.name
    frames = decode_video(path)
    expected, pts = reference(path)
    assert frames.dtype == np.uint8 and frames.shape == expected.shape
    np.testing.assert_array_equal(frames, expected)
    assert nearest_source(frames, family.source) == list(range(family.first, family.first + len(frames)))
    assert (pts == sorted(pts)) == family.pts_sorted


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_chunked_resized_decode_equals_resized_reference(
    videos: Path, family: Family, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode, "DECODE_CHUNK", 7)
    path = videos / family.name
    np.testing.assert_array_equal(decode_video(path, short_side=40), resize_short_side(reference(path)[0], 40))


def test_the_families_exercise_what_they_claim(videos: Path) -> None:
    """Guards the fixtures: without B-frames, packing, edit lists or a variable rate they would prove little."""
    with av.open(str(videos / "ucf101 xvid.avi")) as container:
        assert PictureType.B in {PictureType(f.pict_type) for f in container.decode(video=0)}
    with av.open(str(videos / "hmdb51 divx packed.avi")) as container:
        assert any(bytes(p).count(VOP_START) == 2 for p in container.demux(video=0))
    with av.open(str(videos / "k400 trimmed.mp4")) as container:
        assert container.streams.video[0].frames == 40  # the edit list hides 10 of the 40 stored samples
    assert len(set(np.diff(reference(videos / "k400 vfr.mkv")[1]))) > 1


def test_resolution_change_midway_keeps_one_shape(tmp_path: Path) -> None:
    """VP9 may switch resolution at a keyframe; later frames are scaled to the first size, not a crash."""
    small, large = source_frames(6, 48, 64), source_frames(6, 96, 128, seed=1)
    packets = []
    for frames in (small, large):
        codec = av.CodecContext.create("libvpx-vp9", "w")
        codec.width, codec.height, codec.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        codec.time_base = Fraction(1, 12)
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            packets += [(bytes(p), p.is_keyframe) for p in codec.encode(frame)]
        packets += [(bytes(p), p.is_keyframe) for p in codec.encode(None)]
    path = tmp_path / "switch.webm"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=12)
        stream.width, stream.height = 64, 48
        for i, (data, key) in enumerate(packets):
            packet = av.Packet(data)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, 12)
            packet.is_keyframe = key
            container.mux(packet)
    frames = decode_video(path)
    assert frames.shape == (12, 48, 64, 3)
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
    assert [(f.width, f.height) for f in decoded] == [(64, 48)] * 6 + [(128, 96)] * 6
    np.testing.assert_array_equal(frames[:6], np.stack([f.to_ndarray(format="rgb24") for f in decoded[:6]]))
    scaled = resize_short_side(np.stack([f.to_ndarray(format="rgb24") for f in decoded[6:]]), 48)
    assert nearest_source(frames[6:], resize_short_side(large, 48)) == list(range(6))
    assert np.abs(frames[6:].astype(int) - scaled).mean() < 10  # swscale's and torch's bilinear differ a little


def test_latin1_metadata_does_not_stop_decoding(tmp_path: Path) -> None:
    """Old Windows tools wrote AVI INFO tags in Latin-1; PyAV decodes tags when it opens a file."""
    path = tmp_path / "latin1.avi"
    frames = source_frames(5, 48, 64)
    with av.open(str(path), "w") as container:
        container.metadata["title"] = "CafeTitle"
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for img in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())
    path.write_bytes(path.read_bytes().replace(b"CafeTitle", b"Caf\xe9Title"))
    assert nearest_source(decode_video(path), frames) == list(range(5))


def _cut(src: Path, dst: Path, size: int) -> None:
    dst.write_bytes(src.read_bytes()[:size])


def _packet_start(path: Path, index: int) -> int:
    with av.open(str(path)) as container:
        return next(p.pos for i, p in enumerate(container.demux(video=0)) if i == index)


def _write_silence(path: Path, with_video: bool) -> None:
    """Audio only, or a video stream that never gets a frame next to the audio (a zero-frame video)."""
    with av.open(str(path), "w") as container:
        if with_video:
            video = container.add_stream("libx264", rate=25)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(audio.encode(frame))
        container.mux(audio.encode())


# Broken files, with the reason each must be quarantined for (a regex over `VideoDecodeError.reason`).
BROKEN = {
    "zero bytes.mp4": r"^empty file \(0 bytes\)$",
    "text.mp4": r"^unreadable: InvalidDataError",
    "cut moov at end.mp4": r"^unreadable: InvalidDataError",
    "cut faststart.mp4": r"^truncated: incomplete packet after \d+ frames$",
    "cut mid packet.avi": r"^truncated: incomplete packet after \d+ frames$",
    "cut at packet.avi": r"^incomplete: decoded 20 of the 40 frames its header declares \(truncated or corrupt",
    "cut.webm": r"^incomplete: decoded \d+ of the 40 frames its header declares",
    "corrupt packet.mp4": r"^decode error after \d+ frames: InvalidDataError",
    "audio only.mp4": r"^no video stream \(streams: audio\)$",
    "no frames.mkv": r"^no frames decoded$",
    "missing.mp4": r"^unreadable: FileNotFoundError",
}


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the files of `BROKEN` (except the missing one), cut from good encodes of each container."""
    root = tmp_path_factory.mktemp("broken")
    frames = source_frames(40, 96, 128)
    avi, webm, mp4, faststart = root / "ok.avi", root / "ok.webm", root / "ok.mp4", root / "faststart.mp4"
    write_video(avi, "mpeg4", frames, 25, tag="XVID", b_frames=2)
    write_video(webm, "libvpx-vp9", frames, 12, options={"cpu-used": "8"})
    write_video(mp4, "libx264", frames, 30)
    with av.open(str(faststart), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for img in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())
    (root / "zero bytes.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n" * 20)
    _cut(mp4, root / "cut moov at end.mp4", mp4.stat().st_size // 2)
    _cut(faststart, root / "cut faststart.mp4", faststart.stat().st_size // 2)
    _cut(avi, root / "cut mid packet.avi", _packet_start(avi, 20) + 10)
    _cut(avi, root / "cut at packet.avi", _packet_start(avi, 20))
    _cut(webm, root / "cut.webm", webm.stat().st_size * 6 // 10)
    corrupt = bytearray(mp4.read_bytes())
    start = _packet_start(mp4, 10)
    corrupt[start : start + 8] = b"\xff" * 8  # an H.264 NAL length far beyond the packet
    (root / "corrupt packet.mp4").write_bytes(corrupt)
    _write_silence(root / "audio only.mp4", with_video=False)
    _write_silence(root / "no frames.mkv", with_video=True)
    for good in (avi, webm, mp4, faststart):
        good.unlink()
    return root


@pytest.mark.parametrize("name", BROKEN)
def test_each_broken_file_raises_with_its_reason(broken_root: Path, name: str) -> None:
    with pytest.raises(VideoDecodeError) as info:
        decode_video(broken_root / name)
    assert re.search(BROKEN[name], info.value.reason), info.value.reason
    assert name not in info.value.reason and name in str(info.value)  # reasons are path-free, messages are not


def test_extraction_quarantines_broken_files_and_keeps_the_rest_exact(
    broken_root: Path, videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Broken files sit between good ones; chunks a file wrote before failing must not leak into the payload."""
    monkeypatch.setattr(decode, "DECODE_CHUNK", 4)  # the truncated files yield chunks before they fail
    root = tmp_path / "mixed"
    root.mkdir()
    bad = [name for name in BROKEN if name != "missing.mp4"]
    for name in bad:
        (root / name).symlink_to(broken_root / name)
    good = ["ucf101 xvid.avi", "ssv2 vp9.webm"]
    for name in good:
        (root / name).symlink_to(videos / name)
    keys = sorted([*bad, *good, "missing.mp4"])
    with pytest.warns(QuarantineWarning) as record:
        summary = extract_shard(root, keys, tmp_path / "s.bin", short_side=32, codec="raw", progress=False)
    assert summary["videos"] == 2 and summary["failed"] == len(bad) + 1
    assert len(record) == len(bad) + 1
    store = FrameStore([tmp_path / "s.bin"])
    assert store.keys() == sorted(good) and set(store.failed) == {*bad, "missing.mp4"}
    for name, reason in store.failed.items():
        assert re.search(BROKEN[name], reason), (name, reason)
    for name in good:
        expected = resize_short_side(reference(videos / name)[0], 32)
        np.testing.assert_array_equal(store.read(name, range(len(expected))), expected)
    assert summary["file_bytes"] - summary["payload_bytes"] == read_index(tmp_path / "s.bin")[1]
