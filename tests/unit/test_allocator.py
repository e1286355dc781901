"""`keep_freed_buffers`: a process that frees a batch's buffers gets them back without faulting pages in."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

# Six 8 MiB buffers held together, then freed, as a loader's batch holds and frees its clips; the page faults
# of three batches after a first one.
CHURN = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from vifi.data.frames.allocator import keep_freed_buffers
    if sys.argv[1] == "kept":
        assert keep_freed_buffers()
    def batch():
        held = [np.ones(8 * 2**20, dtype=np.uint8) for _ in range(6)]
    batch()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        batch()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def page_faults(mode: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", CHURN, mode], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_buffers_are_reused_without_page_faults() -> None:
    """By default glibc gives the heap's top back once more than twice the largest freed buffer is free there,
    so later batches fault pages in again (at least one buffer's 2,048); kept, none do."""
    assert page_faults("default") >= 8 * 2**20 // 4096
    assert page_faults("kept") == 0
