"""The frame store at Kinetics-400 scale: the seconds to open it, the memory it holds, the per-video lookup.

A synthetic store in paper mode's layout: `--videos` videos (Kinetics-400's training list is about 240,000)
over 64 shards (`extract.shards` in workflow/configs/paper.yaml), each video 300 frames (10 s at 30 fps,
every frame kept, as paper mode extracts) of about 12 kB, named by a manifest. The shards hold their index only
(format 3: JSON header and binary tables), no payload: opening a store reads only the indexes.

Measured in a fresh process per size, so that each starts from the same resident set: the seconds to open the
store (`FrameStore` over the manifest) and to build the training dataset on it (`ClipDataset`, which checks
that every listed video is in the store), the resident set they add and the process's peak above its start,
and the microseconds per video of the lookups a loader worker makes before it reads (`num_frames`,
`kept_frames`). The sizes are a ladder ending at `--videos`, so that the printed growth per video shows how the
figures scale; the ratios are the largest size's against the targets (open < 2 s, < 300 MB).

    .venv/bin/python benchmarks/store_scale.py [--videos 240000] [--quick] [--out DIR]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from harness import build_parser, write_results

from vifi.data.frames.shards import (
    FRAME_DTYPE,
    HEADER,
    MAGIC,
    TABLES_FORMAT,
    VIDEO_DTYPE,
    read_index,
    shard_paths,
    write_manifest,
)

SHARDS, FRAMES, JPEG_BYTES = 64, 300, 12_000
LADDER = (1 / 16, 1 / 4, 1)  # fractions of --videos
VIDEOS, QUICK_VIDEOS = 240_000, 1_600
LOOKUPS = 20_000
TARGET_OPEN_S, TARGET_MB = 2.0, 300
K400_VIDEOS = 240_000


def write_store(root: Path, videos: int) -> tuple[Path, list[str]]:
    """Index-only format-3 shards (`vifi.data.frames.shards`' layout) of `videos` synthetic videos and their
    manifest; return it and the keys."""
    rng = np.random.default_rng(0)
    keys = [f"train/video{i:06d}.mp4" for i in range(videos)]
    shards = []
    for shard, part in enumerate(np.array_split(np.arange(videos), SHARDS)):
        sizes = rng.integers(JPEG_BYTES // 2, 2 * JPEG_BYTES, (len(part), FRAMES)).astype(FRAME_DTYPE)
        offsets = np.cumsum(sizes.sum(axis=1, dtype=np.int64)) - sizes.sum(axis=1, dtype=np.int64)
        rows = np.column_stack(
            [offsets, np.full(len(part), FRAMES), np.full(len(part), 256), np.full(len(part), 340),
             np.full(len(part), FRAMES)]
        ).astype(VIDEO_DTYPE)  # fmt: skip
        kept = np.tile(np.arange(FRAMES, dtype=FRAME_DTYPE), len(part))
        index = {
            "format": TABLES_FORMAT, "codec": "jpeg", "quality": 90, "short_side": 256,
            "frames_per_video": None, "videos": [keys[i] for i in part], "frames": int(sizes.size),
            "failed": {},
        }  # fmt: skip
        raw = json.dumps(index, separators=(",", ":")).encode()
        path = root / f"shard-{shard:03d}.vff"
        path.write_bytes(HEADER.pack(MAGIC, len(raw)) + raw + rows.tobytes() + sizes.tobytes() + kept.tobytes())
        shards.append(path)
    manifest = root / "manifest.json"
    write_manifest(shards, manifest)
    return manifest, keys


def as_json_format(manifest: Path) -> Path:
    """The same store with format 2's all-JSON index, as shards extracted before the binary tables hold it."""
    shards = []
    for path in shard_paths([manifest]):
        index, _ = read_index(path)
        raw = json.dumps(
            {k: v for k, v in index.items() if k != "frames"} | {"format": 2}, separators=(",", ":")
        )
        old = path.with_name(f"json-{path.name}")
        old.write_bytes(HEADER.pack(MAGIC, len(raw)) + raw.encode())
        shards.append(old)
    out = manifest.with_name("manifest-json.json")
    write_manifest(shards, out)
    return out


def rss_bytes() -> int:
    """This process's resident set now."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def measure_in_process(manifest: Path, videos: int) -> dict[str, float]:
    """Open the store and build the training dataset here; the figures as a dict (run in a fresh process)."""
    from vifi.data.frames.dataset import ClipDataset
    from vifi.data.frames.store import FrameStore
    from vifi.data.lists.annotations import Item

    start_rss = rss_bytes()
    start_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    store = FrameStore([manifest])
    opened = time.perf_counter() - start
    keys = [f"train/video{i:06d}.mp4" for i in range(videos)]
    items = [Item(key, i % 400) for i, key in enumerate(keys)]
    start = time.perf_counter()
    dataset = ClipDataset(store, items, 32, lambda frames: frames, train=True, seed=0)
    built = time.perf_counter() - start
    held = rss_bytes() - start_rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - max(start_peak, start_rss)
    picks = np.random.default_rng(1).integers(videos, size=LOOKUPS)
    start = time.perf_counter()
    for i in picks:
        store.num_frames(keys[i])
        store.kept_frames(keys[i])
    lookup = (time.perf_counter() - start) / LOOKUPS
    return {
        "videos": len(dataset),
        "open_s": opened,
        "dataset_s": built,
        "held_bytes": held,
        "peak_bytes": peak,
        "lookup_s": lookup,
    }


def measure(root: Path, videos: int, *, json_format: bool = False) -> dict[str, float]:
    """Write a store of `videos` videos (in format 2 with `json_format`) and measure it in a fresh process."""
    manifest, _ = write_store(root, videos)
    if json_format:
        manifest = as_json_format(manifest)
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import store_scale; "
        "print(json.dumps(store_scale.measure_in_process(store_scale.Path(sys.argv[2]), int(sys.argv[3]))))"
    )
    here = str(Path(__file__).resolve().parent)
    proc = subprocess.run(
        [sys.executable, "-c", code, here, str(manifest), str(videos)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["index_bytes"] = sum(p.stat().st_size for p in shard_paths([manifest]))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--videos", type=int, help=f"largest store (default {VIDEOS:,}; --quick {QUICK_VIDEOS:,})"
    )
    args = parser.parse_args(argv)
    largest = args.videos or (QUICK_VIDEOS if args.quick else VIDEOS)
    rows = {}
    print(f"{SHARDS} index-only shards, {FRAMES} frames per video; one fresh process per size")
    columns = ("videos", "index MB", "open s", "dataset s", "held MB", "peak MB", "lookup us")
    print(" ".join(f"{c:>9}" for c in columns))
    for fraction in LADDER:
        videos = int(largest * fraction)
        with tempfile.TemporaryDirectory(prefix="vifi-store-") as tmp:
            row = measure(Path(tmp), videos)
        rows[videos] = row
        print(
            f"{videos:>9,} {row['index_bytes'] / 1e6:>9.1f} {row['open_s']:>9.2f} {row['dataset_s']:>9.2f} "
            f"{row['held_bytes'] / 1e6:>9.0f} {row['peak_bytes'] / 1e6:>9.0f} {1e6 * row['lookup_s']:>9.1f}"
        )
    top = rows[largest]
    per_video = {k: top[k] / largest for k in ("open_s", "held_bytes", "peak_bytes", "index_bytes")}
    print(
        f"per video at {largest:,}: open {1e6 * per_video['open_s']:.0f} us, held "
        f"{per_video['held_bytes'] / 1e3:.1f} kB, peak {per_video['peak_bytes'] / 1e3:.1f} kB, index "
        f"{per_video['index_bytes'] / 1e3:.1f} kB -> at {K400_VIDEOS:,} videos: open "
        f"{K400_VIDEOS * per_video['open_s']:.1f} s (target < {TARGET_OPEN_S:.0f} s), held "
        f"{K400_VIDEOS * per_video['held_bytes'] / 1e6:,.0f} MB (target < {TARGET_MB} MB), linearly"
    )
    smallest = int(largest * LADDER[0])
    with tempfile.TemporaryDirectory(prefix="vifi-store-") as tmp:
        old = measure(Path(tmp), smallest, json_format=True)
    new = rows[smallest]
    print(
        f"format 2 (all-JSON index) at {smallest:,} videos: open {old['open_s']:.2f} s, dataset "
        f"{old['dataset_s']:.2f} s, held {old['held_bytes'] / 1e6:.0f} MB, peak "
        f"{old['peak_bytes'] / 1e6:.0f} MB -> format 2 / format 3: open "
        f"{old['open_s'] / new['open_s']:.0f}x, held {old['held_bytes'] / new['held_bytes']:.0f}x"
    )
    ratios = {
        "open_over_target": (top["open_s"] + top["dataset_s"]) / TARGET_OPEN_S,
        "held_over_target": top["held_bytes"] / (TARGET_MB * 1e6),
        "json_over_binary_open": old["open_s"] / new["open_s"],
        "json_over_binary_held": old["held_bytes"] / new["held_bytes"],
    }
    figures = {str(k): v for k, v in rows.items()} | {f"{smallest}_format_2": old}
    write_results(args.out, "store_scale", ratios, figures)


if __name__ == "__main__":
    main()
