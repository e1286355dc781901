"""How tightly each model's video embeddings cluster by class: the measured sentence beside the t-SNE figure.

A t-SNE map is a picture; "the fine-tuned model's embeddings form tighter clusters per class" is a claim about
numbers, so it is measured rather than written: the mean silhouette of the embedded videos under their class
labels, for vanilla CLIP and for ViFi-CLIP, on the files `vifi embed` writes. The silhouette uses the cosine
distance, which is what the classifier compares; it runs from -1 to 1, higher meaning tighter classes that are
further apart. The report's sentence is generated from the two scores as printed (`DECIMALS`), so it says
"tighter", "looser" or "as tight" as this run's embeddings do.

Writes the scores and the sentence as JSON (for the findings table) and the sentence as a LaTeX snippet (for the
paper's zero-shot section).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from vifi.embeddings import Embeddings, EmbeddingsError, load_embeddings
from vifi.names import DATASETS

MODELS = ("vanilla", "vifi")  # the CLIP model a fine-tuning starts from, and the fine-tuned one
DECIMALS = 2


class ClustersError(ValueError):
    """The embeddings cannot be scored; the message names the file."""


def silhouette(emb: Embeddings, source: str | Path) -> float:
    """Mean silhouette of `emb` under its labels, with the cosine distance."""
    from sklearn.metrics import silhouette_score  # scikit-learn is slow to import; only this stage needs it

    classes = len(set(emb.labels.tolist()))
    if not 2 <= classes < len(emb.labels):
        raise ClustersError(f"{source}: a silhouette needs 2 to {len(emb.labels) - 1} classes, got {classes}")
    return float(silhouette_score(emb.vectors, emb.labels, metric="cosine"))


def sentence(scores: Mapping[str, float], dataset: str, videos: int) -> str:
    """What the scores say, compared on their printed values: tighter, looser or as tight."""
    tuned, start = (round(scores[model], DECIMALS) for model in ("vifi", "vanilla"))
    name = DATASETS.get(dataset, dataset)
    measured = (
        f"Measured by the mean silhouette of the {videos} embedded {name} videos under their class labels "
        "(cosine distance; higher is tighter), the video embeddings of the fine-tuned model form"
    )
    start_model = "of the CLIP model it starts from"
    if tuned == start:
        return f"{measured} clusters per class as tight as those {start_model} (both {tuned:.{DECIMALS}f})."
    relation = "tighter" if tuned > start else "looser"
    values = f"{tuned:.{DECIMALS}f} against {start:.{DECIMALS}f}"
    return f"{measured} {relation} clusters per class than those {start_model} ({values})."


def score(paths: Mapping[str, Path], dataset: str) -> dict:
    """Both models' scores on the same videos, and the sentence they make."""
    try:
        embeddings = {model: load_embeddings(paths[model]) for model in MODELS}
    except EmbeddingsError as err:
        raise ClustersError(str(err)) from err
    if embeddings["vanilla"].keys != embeddings["vifi"].keys:
        raise ClustersError(f"{paths['vanilla']} and {paths['vifi']}: not the same videos, so not comparable")
    scores = {model: silhouette(emb, paths[model]) for model, emb in embeddings.items()}
    videos = len(embeddings["vifi"].keys)
    text = sentence(scores, dataset, videos)
    return {"dataset": dataset, "videos": videos, "silhouette": scores, "sentence": text}
