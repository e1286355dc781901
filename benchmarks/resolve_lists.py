"""Time to resolve a Kinetics-sized split list onto a local copy's video keys.

Kinetics-400's training list has about 240,000 lines and K400+K600 copies hold about 300,000 clips, so list
resolution (`vifi.data.lists.resolve`) must stay a matter of seconds. This builds 300,000 keys in a
`<split>/<class>/<clip>.mp4` layout and resolves 300,000 official-style lines (`train/<clip>.mp4`) twice: by
file name, and by file stem (the copy re-encoded to `.mkv`). No files are touched; the video root is not
scanned.

    .venv/bin/python benchmarks/resolve_lists.py
"""

from __future__ import annotations

import time

from vifi.data.lists.annotations import Item
from vifi.data.lists.resolve import ListResolver

LINES = 300_000
CLASSES = 400


def main() -> None:
    clips = [f"clip{i:07d}_000000_000010" for i in range(LINES)]
    keys = [f"train/class{i % CLASSES}/{clip}.mkv" for i, clip in enumerate(clips)]
    same_name = [Item(f"train/{clip}.mkv", 0) for clip in clips]
    same_stem = [Item(f"train/{clip}.mp4", 0) for clip in clips]
    start = time.perf_counter()
    resolver = ListResolver("videos", keys)
    indexed = time.perf_counter()
    by_name = resolver.resolve("name", "-", same_name)
    named = time.perf_counter()
    by_stem = resolver.resolve("stem", "-", same_stem)
    stemmed = time.perf_counter()
    assert len(by_name) == len(by_stem) == LINES
    print(f"index {LINES:,} keys: {indexed - start:.2f} s")
    print(f"resolve {LINES:,} lines by file name: {named - indexed:.2f} s")
    print(f"resolve {LINES:,} lines by file stem: {stemmed - named:.2f} s")


if __name__ == "__main__":
    main()
