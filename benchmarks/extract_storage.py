"""Frame-store size and extraction speed per video, by format and frames kept, projected to Kinetics-400.

Keeping every frame of Kinetics-400 (about 240,000 clips of 10 s) at short side 256 takes terabytes; this
measures how far keeping M frames per video (`--frames-per-video M`, the centres of M equal segments) brings it
under a 100 GB budget, for each codec `vifi extract` supports: JPEG at quality 90 (the default) and 75, and raw
RGB as the uncompressed reference. M = 32 and 16 are the frame counts of the paper's 32x224 and 16x224 runs.

Compared, side by side in one run: bytes per video and extraction videos/s per core of each (format, M),
against every frame kept; the ratio printed last is the projected Kinetics-400 size over the budget.

Assumptions: each test clip stands in for a Kinetics video (`scenes.py`: 10 s, 320x240, 30 fps, H.264, a
photograph or a detail-heavy 1/f texture; real videos vary in both size and detail). Each configuration is
extracted once, as `vifi extract` does it, with one torch thread and one decoder thread (per core); the shard's
file size, index included, is the bytes per video. Times come after one warm-up extraction.

This script is an extension of the storage study the frame store's docstring cites, rather than a second
script next to it, so that the sizes quoted there and the speeds measured here come from one run.

    .venv/bin/python benchmarks/extract_storage.py [--quick] [--out DIR]
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness import parse_args, per_core, write_results
from scenes import photo_scene, texture_scene, write_clip

from vifi.data.frames.extract import extract_shard

K400_VIDEOS = 240_000
BUDGET_GB = 100
SECONDS, QUICK_SECONDS = 10, 1
SHORT_SIDE = 256
FORMATS = {"jpeg90": ("jpeg", 90), "jpeg75": ("jpeg", 75), "raw": ("raw", 90)}  # raw ignores the quality
FRAMES_PER_VIDEO = (None, 32, 16)


def measure(root: Path, clip: str, fmt: str, frames_per_video: int | None) -> dict[str, float]:
    """Extract one clip into one shard; its size, kept frames and extraction time."""
    codec, quality = FORMATS[fmt]
    summary = extract_shard(
        root / "videos",
        [clip],
        root / "shard.bin",
        short_side=SHORT_SIDE,
        codec=codec,
        quality=quality,
        frames_per_video=frames_per_video,
        progress=False,
    )
    return {
        "bytes": summary["file_bytes"],
        "payload_bytes": summary["payload_bytes"],
        "kept_frames": summary["kept_frames"],
        "seconds": summary["seconds"],
        "videos_per_s": 1 / summary["seconds"],
        "k400_gb": summary["file_bytes"] * K400_VIDEOS / 1e9,
    }


def report(root: Path, clip: str, ratios: dict[str, float]) -> dict[str, dict[str, dict]]:
    """Print one clip's table and add its budget ratios; return its figures, by format and M ('all')."""
    print(f"\n{clip}: {(root / 'videos' / clip).stat().st_size / 1e6:.2f} MB source")
    print(
        f"{'format':>7} {'M':>4} {'MB/video':>9} {'KB/frame':>9} {'videos/s':>9} {'K400 GB':>9} {'/budget':>8}"
        f" {'all/M':>6}"
    )
    figures: dict[str, dict[str, dict]] = {}
    for fmt in FORMATS:
        rows = {m or "all": measure(root, clip, fmt, m) for m in FRAMES_PER_VIDEO}
        for m, row in rows.items():
            over = row["k400_gb"] / BUDGET_GB
            per_frame_kb = row["payload_bytes"] / row["kept_frames"] / 1e3
            print(
                f"{fmt:>7} {m:>4} {row['bytes'] / 1e6:>9.3f} {per_frame_kb:>9.1f}"
                f" {row['videos_per_s']:>9.2f} {row['k400_gb']:>9.1f} {over:>8.2f}"
                f" {rows['all']['bytes'] / row['bytes']:>6.1f}"
            )
            if m != "all":
                ratios[f"k400_over_budget_{Path(clip).stem}_{fmt}_m{m}"] = over
        figures[fmt] = {str(m): row for m, row in rows.items()}
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    per_core()
    seconds = QUICK_SECONDS if args.quick else SECONDS
    scenes = {"photo.mp4": photo_scene, "texture.mp4": texture_scene}
    if args.quick:
        del scenes["texture.mp4"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "videos").mkdir()
        for name, scene in scenes.items():
            write_clip(root / "videos" / name, scene(), seconds)
        print(
            f"{seconds} s 320x240 30 fps H.264 clips, short side {SHORT_SIDE}, {K400_VIDEOS:,} videos, "
            f"budget {BUDGET_GB} GB; one thread; videos/s = per core"
        )
        measure(root, "photo.mp4", "jpeg90", 1)  # warm-up: imports, JPEG encoder, page cache
        ratios: dict[str, float] = {}
        figures = {Path(name).stem: report(root, name, ratios) for name in scenes}
    figures["assumptions"] = {
        "k400_videos": K400_VIDEOS,
        "budget_gb": BUDGET_GB,
        "clip_seconds": seconds,
        "short_side": SHORT_SIDE,
    }
    write_results(args.out, "extract_storage", ratios, figures)


if __name__ == "__main__":
    main()
