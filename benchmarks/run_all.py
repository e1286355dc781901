"""Run the ratio benchmarks in turn; each prints its figures and writes `results/benchmarks/<name>.json`.

extract_storage (frame-store size and extraction speed), loader (training-clip loading against decord),
eval_text_cache (class-prompt features encoded once against per forward), train_step (step options,
memory, FLOP/s), gpu_step (the anchor-like GPU step against ours; on CPU with the tiny model), store_scale
(a Kinetics-size frame store's open time and memory) and decoders (extraction decoders per codec family).
They run one after another in this process, each on one torch thread (on CPU); in full they take several
minutes each, with `--quick` seconds each. `--only` picks some of them.

    .venv/bin/python benchmarks/run_all.py [--quick] [--out DIR] [--only NAME ...]
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from harness import build_parser

BENCHMARKS = (
    "extract_storage",
    "loader",
    "eval_text_cache",
    "train_step",
    "gpu_step",
    "store_scale",
    "decoders",
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=BENCHMARKS, help="run only these")
    args = parser.parse_args(argv)
    forwarded = ["--out", str(args.out), *(["--quick"] if args.quick else [])]
    for name in args.only:
        print(f"\n=== benchmarks/{name}.py {' '.join(forwarded)}", flush=True)
        importlib.import_module(name).main(forwarded)


if __name__ == "__main__":
    main()
