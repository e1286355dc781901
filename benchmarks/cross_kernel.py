"""Do the demo's verdicts survive another machine's kernels? The demo twice, under two CPU kernel families.

Bit-identical reruns hold on one machine only: another CPU's kernels change floats at 1e-6 within a few
training steps, and training amplifies that. The second run stands in for a CPU one vector width narrower
(`vifi.kernels.AS_ON_CPU`: torch's ATEN_CPU_CAPABILITY, MKL's MKL_ENABLE_INSTRUCTIONS and oneDNN's
ONEDNN_MAX_CPU_ISA held to AVX2 where AVX-512 is present, else to SSE4.2), which is the change another machine
makes. The committed tree is cloned twice and the whole demo runs in each, one after the other; then every
number of every aggregate table is compared, every verdict of the findings table, and the pretrained CLIP,
tensor by tensor (its stage pins its kernels, `pretrain.kernels`, so it should come out the same).

Target: no verdict changes, and every "holds" holds in both runs. Printed: the largest differences, each
changed verdict, and the count of changes (the ratio is changes / rows, 0 is the target).

    .venv/bin/python benchmarks/cross_kernel.py [--cores 2] [--keep DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from demo import clone, clone_env
from demo_sanity import all_checks
from harness import RESULTS, write_results

from vifi.kernels import AS_ON_CPU, VARIABLES, narrower_cpu
from vifi.models.pretrained import read_state_dict

KEYS = ("protocol", "dataset", "method", "shots", "set", "split")
PRETRAINED = "checkpoints/pretrained/vifi-tiny.pt"


def run(workdir: Path, cores: int, kernels: str | None) -> float:
    """The demo in `workdir`, as on the CPU `kernels` names (`AS_ON_CPU`; None: this machine as it is)."""
    env = {k: v for k, v in clone_env(workdir).items() if k not in VARIABLES}
    env.update(AS_ON_CPU[kernels] if kernels else {})
    start = time.perf_counter()
    proc = subprocess.run(
        ["snakemake", "--cores", str(cores)], cwd=workdir, env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(f"the demo ({kernels or 'default kernels'}) failed:\n{proc.stderr[-4000:]}")
    return time.perf_counter() - start


def numbers(workdir: Path) -> pd.Series:
    """Every numeric value of every aggregate table, indexed by protocol, row and column."""
    series = []
    for csv in sorted((workdir / "results/aggregates").glob("*.csv")):
        table = pd.read_csv(csv)
        keys = [k for k in KEYS if k in table.columns]
        values = table.set_index(keys).select_dtypes("number")
        stacked = values.stack()
        stacked.index = [f"{csv.stem} | {' | '.join(map(str, i))}" for i in stacked.index]
        series.append(stacked)
    return pd.concat(series)


def verdicts(workdir: Path) -> dict[str, dict]:
    return json.loads((workdir / "results/metrics/findings.json").read_text(encoding="utf-8"))


def differing_tensors(a: Path, b: Path) -> list[str]:
    """The names of the tensors that differ between two checkpoints (read as every weights file is)."""
    left, right = read_state_dict(a), read_state_dict(b)
    same = {k for k in left.keys() & right.keys() if left[k].equal(right[k])}
    return sorted((left.keys() | right.keys()) - same)


def fingerprints(workdir: Path) -> dict[str, str]:
    """sha256 of what every demo number builds on, in the order it is made: the stills' arrays, each dataset's
    decoded frames, the pretrained CLIP's tensors. Two machines' runs first differ at the first unequal one."""
    prints = {}
    with np.load(workdir / "data/raw/stills.npz") as stills:  # the arrays: the zip's own bytes carry dates
        prints["stills"] = _digest(stills[name].tobytes() for name in sorted(stills.files))
    for shard in sorted((workdir / "data/frames").glob("*/shard-*.bin")):
        prints[f"frames/{shard.parent.name}"] = _digest([shard.read_bytes()])
    weights = read_state_dict(workdir / PRETRAINED)
    prints["pretrained"] = _digest(weights[k].contiguous().numpy().tobytes() for k in sorted(weights))
    return prints


def _digest(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def compare(a: Path, b: Path) -> dict:
    """Differences of every number and every verdict between the runs in `a` and `b`, and of the pretrained
    CLIP every demo number builds on."""
    left, right = numbers(a), numbers(b)
    diff = (left - right).abs().dropna().sort_values(ascending=False)
    va, vb = verdicts(a), verdicts(b)
    changed = {
        k: (va[k]["verdict"], vb[k]["verdict"]) for k in va if va[k]["verdict"] != vb.get(k, {}).get("verdict")
    }
    holds_once = [k for k in va if "holds" in (va[k]["verdict"], vb.get(k, {}).get("verdict")) and k in changed]
    return {
        "pretrained_differing_tensors": differing_tensors(a / PRETRAINED, b / PRETRAINED),
        "numbers": len(diff),
        "identical_numbers": int((diff == 0).sum()),
        "max_abs_difference": float(diff.max()) if len(diff) else 0.0,
        "largest": {k: float(v) for k, v in diff.head(15).items()},
        "verdicts": len(va),
        "changed_verdicts": {k: list(v) for k, v in changed.items()},
        "holds_in_one_run_only": holds_once,
        "verdicts_default": {k: v["verdict"] for k, v in va.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for cross_kernel.json (%(default)s)")
    parser.add_argument("--keep", type=Path, help="run both demos under this (new) directory and keep them")
    args = parser.parse_args(argv)
    other = narrower_cpu()
    with tempfile.TemporaryDirectory(prefix="vifi-kernels-") as tmp:
        base = args.keep or Path(tmp)
        (base / "default").mkdir(parents=True)
        (base / other).mkdir()
        a, b = clone(base / "default"), clone(base / other)
        walls = {"default": run(a, args.cores, None), other: run(b, args.cores, other)}
        sanity = {"default": all_checks(a), other: all_checks(b)}
        result = {"kernels": ["default", other], "wall_s": walls, **compare(a, b)}
        result["fingerprints"] = {"default": fingerprints(a), other: fingerprints(b)}
    result["sanity"] = {kernels: [vars(check) for check in checks] for kernels, checks in sanity.items()}
    for kernels, checks in sanity.items():
        print(f"sanity targets under {kernels} kernels (demo wall {walls[kernels]:.0f} s):")
        for check in checks:
            print(f"  {check.line()}")
    print(f"pretrained CLIP: {len(result['pretrained_differing_tensors'])} tensors differ between the runs")
    print("fingerprints of the default run (compare with another machine's):")
    for name, digest in result["fingerprints"]["default"].items():
        print(f"  {digest}  {name}")
    print(f"{result['numbers']} numbers, {result['identical_numbers']} identical; "
          f"largest difference {result['max_abs_difference']:.3f} points")  # fmt: skip
    for key, value in result["largest"].items():
        print(f"  {value:8.3f}  {key}")
    print(f"{result['verdicts']} verdicts, {len(result['changed_verdicts'])} changed under {other}:")
    for key, (x, y) in result["changed_verdicts"].items():
        print(f"  {key}: {x} -> {y}")
    ratio = len(result["changed_verdicts"]) / max(result["verdicts"], 1)
    write_results(args.out, "cross_kernel", {"changed_verdicts_over_rows": ratio}, result)
    return 1 if result["changed_verdicts"] else 0


if __name__ == "__main__":
    sys.exit(main())
