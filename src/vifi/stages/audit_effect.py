"""What the release audit's disagreements do to the numbers: each evaluation scored as released and by name.

Usage:
    python -m vifi audit-effect --policy as_released --out-tex T --out-html H \\
        --case RUN_DIR SET LABELS FORMAT VIDEOS_CSV [--case ...]

Why: `vifi.report.audit_effect`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.data.lists.audit import FORMATS, POLICIES, AuditError
from vifi.io import write_text
from vifi.report.audit_effect import Case, measure, render
from vifi.report.predictions import PredictionsError
from vifi.report.tables import make_environment


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vifi audit-effect", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case",
        nargs=5,
        action="append",
        required=True,
        metavar=("RUN_DIR", "SET", "LABELS", "FORMAT", "VIDEOS_CSV"),
        help="one evaluation set of a run: its label CSV, its dataset's format and videos.csv (path,name)",
    )
    parser.add_argument(
        "--policy", choices=POLICIES, required=True, help="audit.policy the lists were made with"
    )
    parser.add_argument("--mode", choices=("demo", "paper"), required=True)
    parser.add_argument("--out-tex", type=Path, required=True)
    parser.add_argument("--out-html", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every case and write both tables; unreadable input is a one-line error."""
    parser = _parser()
    args = parser.parse_args(argv)
    cases = []
    for run, name, labels, fmt, names in args.case:
        if fmt not in FORMATS:
            parser.error(f"--case {run} {name}: format {fmt!r} is not one of {', '.join(FORMATS)}")
        cases.append(Case(Path(run), name, Path(labels), fmt, Path(names)))
    try:
        effects = [measure(case) for case in cases]
    except (OSError, KeyError, ValueError, AuditError, PredictionsError) as err:
        print(f"vifi audit-effect: error: {err}", file=sys.stderr)
        return 1
    tex, html = render(effects, args.policy, args.mode, make_environment())
    write_text(args.out_tex, tex)
    write_text(args.out_html, html)
    return 0
