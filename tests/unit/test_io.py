"""Atomic writes: nothing at the final path unless the writer finished."""

import pytest

from vifi.io import atomic_path, write_text


def test_failed_writer_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_leftover_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    (tmp_path / ".out.txt.abc123.tmp").write_text("stale")
    (tmp_path / ".other.txt.abc123.tmp").write_text("someone else's")
    write_text(tmp_path / "out.txt", "done")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.txt.abc123.tmp", "out.txt"]
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644 or (
        tmp_path / "out.txt"
    ).read_text() == "done"
