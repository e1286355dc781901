"""C allocator settings for processes that load clips: keep freed frame buffers for the next clip.

A loader allocates and frees buffers of the same few sizes clip after clip: the decoded frames, the crop, the
collated batch. glibc adapts its thresholds to the largest buffer freed so far and gives the top of its heap
back to the OS whenever more than twice that is free, which a batch's buffers together exceed; the next batch
then faults every page in again. With 32-frame clips that was about 12,000 page faults (48 MB) per batch of 4
on the device-augmentation path, none once the heap is kept (`benchmarks/loader.py` runs with this setting).
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
# Buffers up to glibc's largest mmap threshold on 64-bit come from the heap (a 32-frame batch of 4 is 25 MB) ...
MMAP_THRESHOLD = 32 * 2**20
# ... and up to this much free memory stays at the heap's top: a few batches' buffers, not unbounded.
TRIM_THRESHOLD = 256 * 2**20


def keep_freed_buffers() -> bool:
    """Set glibc's thresholds so that freed frame buffers are reused rather than returned to the OS; forked
    DataLoader workers inherit the setting. False, and nothing changed, where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
