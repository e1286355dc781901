"""The `.npz` file of video embeddings that `vifi embed` writes and the t-SNE figure reads.

One file holds a model's L2-normalised embeddings of one split list's videos, with what a figure needs to
label them: each video's class id and key (its path in the split list), and the class names in id order.
Strings are stored as fixed-width unicode arrays, so reading never needs pickle.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile

from vifi.io import atomic_path

FIELDS = ("embeddings", "labels", "classnames", "keys")


class EmbeddingsError(ValueError):
    """An embeddings file is missing, unreadable or inconsistent; the message names the file."""


@dataclass(frozen=True)
class Embeddings:
    """`vectors` (N, D) float32 with unit rows, `labels` (N,) class ids, `classnames` (K,), `keys` (N,)."""

    vectors: np.ndarray
    labels: np.ndarray
    classnames: tuple[str, ...]
    keys: tuple[str, ...]


def save_embeddings(path: str | Path, emb: Embeddings) -> None:
    """Write `emb` atomically; a file handle is given to `np.savez` so it cannot append `.npz` to the temp."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            embeddings=emb.vectors.astype(np.float32),
            labels=emb.labels.astype(np.int64),
            classnames=np.array(emb.classnames, dtype=str),
            keys=np.array(emb.keys, dtype=str),
        )


def load_embeddings(path: str | Path) -> Embeddings:
    """Read and check a file written by `save_embeddings`."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise EmbeddingsError(f"{path}: cannot read embeddings: {err}") from err
    if not isinstance(data, NpzFile):
        raise EmbeddingsError(f"{path}: not an .npz archive of embeddings")
    with data:
        missing = [name for name in FIELDS if name not in data.files]
        if missing:
            raise EmbeddingsError(f"{path}: missing array(s) {', '.join(missing)}")
        arrays = {name: data[name] for name in FIELDS}
    emb = Embeddings(arrays["embeddings"], arrays["labels"], tuple(arrays["classnames"]), tuple(arrays["keys"]))
    _check(path, emb)
    return emb


def _check(path: str | Path, emb: Embeddings) -> None:
    """Shapes that agree and labels that name a class, so a figure never mislabels a point."""
    n = len(emb.vectors)
    if emb.vectors.ndim != 2 or n == 0:
        raise EmbeddingsError(f"{path}: 'embeddings' must be a non-empty (N, D) array, got {emb.vectors.shape}")
    if emb.labels.shape != (n,) or len(emb.keys) != n:
        raise EmbeddingsError(
            f"{path}: {n} embeddings but labels of shape {emb.labels.shape} and {len(emb.keys)} keys"
        )
    if not 0 <= emb.labels.min() <= emb.labels.max() < len(emb.classnames):
        raise EmbeddingsError(f"{path}: labels outside 0..{len(emb.classnames) - 1}")
