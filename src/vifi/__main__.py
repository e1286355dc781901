"""`vifi <stage> ...` (or `python -m vifi <stage> ...`): one subcommand per pipeline stage, each the single
entry point of its rule, plus `predict` for classifying video files with a trained model.

Stage modules (`vifi.stages`, the command lines over the library) are imported only when their stage runs, so
light stages (splits, tables) do not pay for importing torch. Each stage parses its own options, so
`vifi <stage> --help` shows that stage's.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

STAGES: dict[str, tuple[str, str, str]] = {
    "download": (
        "vifi.stages.download",
        "main",
        "fetch or locate, verify and extract a dataset or CLIP weights",
    ),
    "synthesize": (
        "vifi.stages.synthesize",
        "main",
        "write one synthetic dataset (demo's download stage)",
    ),
    "stills": (
        "vifi.stages.synthesize",
        "stills_main",
        "write the synthetic stills for image pretraining",
    ),
    "extract": ("vifi.stages.extract", "main", "decode one shard of videos into a frame store"),
    "quarantine": ("vifi.stages.quarantine", "main", "merge shard failures into quarantine.csv"),
    "lists": (
        "vifi.stages.lists",
        "main",
        "read a dataset's official annotations into the pipeline's lists",
    ),
    "splits": ("vifi.stages.splits", "main", "generate base-to-novel splits and K-shot subsets"),
    "protocols": (
        "vifi.stages.protocols",
        "main",
        "write zero-shot, few-shot and fully supervised split lists",
    ),
    "kinetics": ("vifi.stages.kinetics", "main", "build a Kinetics split list from annotation CSVs"),
    "audit": (
        "vifi.stages.audit",
        "main",
        "check each list's label ids against the class its videos' paths and annotations name",
    ),
    "pretrain": ("vifi.stages.pretrain", "main", "image-pretrain the demo CLIP on synthetic stills"),
    "train": ("vifi.stages.train", "main", "fine-tune a CLIP video model"),
    "evaluate": ("vifi.stages.evaluate", "main", "evaluate a model and write metrics.json"),
    "embed": ("vifi.stages.embed", "main", "write a model's video embeddings of a split list"),
    "aggregate": ("vifi.stages.aggregate", "main", "aggregate one protocol's run metrics"),
    "flops": (
        "vifi.stages.flops",
        "main",
        "count the FLOPs of a view, a training clip and a class prompt per method",
    ),
    "audit-effect": ("vifi.stages.audit_effect", "main", "top-1 of each evaluation as released and by name"),
    "render": ("vifi.stages.render", "main", "render LaTeX and HTML tables"),
    "findings": (
        "vifi.stages.findings",
        "main",
        "render the table of which of the papers' claims hold",
    ),
    "clusters": ("vifi.stages.clusters", "main", "measure how tightly video embeddings cluster by class"),
    "figures": ("vifi.stages.figures", "main", "render one figure (few-shot, base2novel, t-SNE, curves)"),
    "index": ("vifi.stages.index", "main", "build the self-contained HTML page of all results"),
    "paper": ("vifi.stages.paper", "main", "build the report PDF from paper/main.tex with latexmk"),
    "predict": ("vifi.stages.predict", "main", "print the top classes of video files under a trained model"),
    "rerun": ("vifi.stages.rerun", "main", "re-create a run's numbers from its metrics.json and compare them"),
}


def usage() -> str:
    lines = ["usage: vifi <stage> [options]   (or: python -m vifi <stage> [options])", "", "stages:"]
    lines += [f"  {name:<11} {help_}" for name, (_, _, help_) in STAGES.items()]
    lines += ["", "`vifi <stage> --help` lists a stage's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    stage, rest = argv[0], argv[1:]
    if stage not in STAGES:
        print(f"unknown stage {stage!r}\n\n{usage()}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module, func, _ = STAGES[stage]
    return int(getattr(importlib.import_module(module), func)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
