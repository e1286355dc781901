"""Refuse to start an install that the disk cannot hold: `python3 scripts/free_space.py GIB DIR`.

pip fails late and vaguely when the disk fills ("[Errno 28] No space left on device" after minutes of
unpacking) and leaves a half-built environment behind; checking first names the folder, what it has and what it
needs.
Standard library only: it runs before the environment exists.
"""

from __future__ import annotations

import shutil
import sys


def main(argv: list[str]) -> int:
    need_gib, folder = float(argv[0]), argv[1]
    free_gib = shutil.disk_usage(folder).free / 2**30
    if free_gib < need_gib:
        print(
            f"not enough disk space: the environment, the demo and the tests need about {need_gib:g} GiB "
            f"free in {folder!r}, and it has {free_gib:.1f} GiB",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
