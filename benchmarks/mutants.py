"""Mutation check: apply curated bugs to the modules that carry the papers' maths and protocols, run only the
tests that should notice, and print the kill rate (target: every mutant killed).

Each mutant is one small, realistic mistake (a dropped term, an off-by-one, a swapped half), applied alone to a
copy of the checkout, so the working tree is never touched. A mutant is killed when its tests fail, survives
when they pass, and is an error when pytest cannot run them; the unmutated copy must pass them all first.
Writes results/benchmarks/mutants.json.

    python benchmarks/mutants.py            # every mutant, about 5 minutes on 2 cores
    python benchmarks/mutants.py --only accumulation_off_by_one evl_conv_replaces
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEMANTICS = "tests/unit/test_train_semantics.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the checkout
    old: str  # occurs exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest arguments: files, node ids or `-k` selections


MUTANTS = (
    Mutant(
        "label_smoothing_dropped",
        "src/vifi/engine/train.py",
        "        return LabelSmoothingCrossEntropy(args.label_smoothing)",
        "        return torch.nn.CrossEntropyLoss()",
        (SEMANTICS, "-k", "label_smoothed"),
    ),
    Mutant(
        "text_cached_while_training",
        "src/vifi/engine/train.py",
        "            frozen = None if model.text_trains else model.encode_text(tokens)",
        "            frozen = model.encode_text(tokens)",
        (SEMANTICS, "-k", "text_features"),
    ),
    Mutant(
        "accumulation_off_by_one",
        "src/vifi/engine/train.py",
        "            apply = (idx + 1) % accumulation == 0",
        "            apply = idx % accumulation == 0",
        (SEMANTICS, "-k", "accumulation"),
    ),
    Mutant(
        "accumulated_loss_not_scaled",
        "src/vifi/engine/train.py",
        "                loss = loss_fn(net(clips).float(), targets) / accumulation",
        "                loss = loss_fn(net(clips).float(), targets)",
        (SEMANTICS, "-k", "accumulation"),
    ),
    Mutant(
        "evl_conv_replaces_features",
        "src/vifi/models/evl.py",
        "            frames = frames + self._conv(feats.out)",
        "            frames = self._conv(feats.out)",
        (SEMANTICS, "-k", "temporal_conv"),
    ),
    Mutant(
        "harmonic_mean_is_arithmetic",
        "src/vifi/metrics.py",
        "    return 2.0 * base * novel / (base + novel)",
        "    return (base + novel) / 2.0",
        ("tests/unit/test_metrics.py",),
    ),
    Mutant(
        "topk_off_by_one",
        "src/vifi/metrics.py",
        "    return {k: float(100.0 * np.mean(rank < k)) for k in ks}",
        "    return {k: float(100.0 * np.mean(rank <= k)) for k in ks}",
        ("tests/unit/test_metrics.py",),
    ),
    Mutant(
        "views_average_logits_not_softmax",
        "src/vifi/engine/evaluate.py",
        "        per_view = logits.float().softmax(dim=-1).view(*views.shape[:2], -1)",
        "        per_view = logits.float().view(*views.shape[:2], -1)",
        ("tests/unit/test_evaluate.py",),
    ),
    Mutant(
        "base_is_the_rarer_half",
        "src/vifi/data/lists/splits.py",
        "    return order[n_novel:], order[:n_novel]",
        "    return order[: num_classes - n_novel], order[num_classes - n_novel :]",
        ("tests/unit/test_splits.py",),
    ),
    Mutant(
        "few_shot_with_replacement",
        "src/vifi/data/lists/splits.py",
        "        picks = rng.choice(len(pool), size=shots, replace=False)",
        "        picks = rng.choice(len(pool), size=shots, replace=True)",
        ("tests/unit/test_splits.py", "tests/unit/test_protocol_draws.py"),
    ),
    Mutant(
        "test_frames_at_segment_start",
        "src/vifi/data/frames/sampling.py",
        "    return [int(i * seg + seg / 2.0) % n for i in range(t)]",
        "    return [int(i * seg) % n for i in range(t)]",
        ("tests/unit/test_sampling.py",),
    ),
    Mutant(
        "frames_normalised_before_averaging",
        "src/vifi/models/vificlip.py",
        "        return frames.view(b, t, -1).mean(dim=1)",
        "        return F.normalize(frames.view(b, t, -1), dim=-1).mean(dim=1)",
        ("tests/unit/test_model.py",),
    ),
    Mutant(
        "logit_scale_not_exponentiated",
        "src/vifi/models/vificlip.py",
        "        return self.clip.logit_scale.exp() * v @ t.t()",
        "        return self.clip.logit_scale * v @ t.t()",
        ("tests/unit/test_model.py",),
    ),
    Mutant(
        "last_text_prompt_block_skipped",
        "src/vifi/models/prompts.py",
        "            if 0 < i < depth:\n                x = self._with_text_prompts(x, i)",
        "            if 0 < i < depth - 1:\n                x = self._with_text_prompts(x, i)",
        ("tests/unit/test_prompts.py",),
    ),
    Mutant(
        "vectors_decayed",
        "src/vifi/engine/schedule.py",
        "        param.ndim > 1",
        "        param.ndim >= 1",
        ("tests/unit/test_schedule.py",),
    ),
    Mutant(
        "warmup_jump_inverted",
        "src/vifi/engine/schedule.py",
        "        warmup_prefix=not warmup_jump,",
        "        warmup_prefix=warmup_jump,",
        ("tests/unit/test_schedule.py",),
    ),
    Mutant(
        "bootstrap_keeps_every_seed",
        "src/vifi/report/bootstrap.py",
        "    pick = rng.integers(units, size=(resamples, units))",
        "    pick = np.tile(np.arange(units), (resamples, 1))",
        ("tests/unit/test_intervals.py",),
    ),
)


def apply(source: str, mutant: Mutant) -> str:
    """The file's text with the mutation; the original snippet must occur exactly once."""
    count = source.count(mutant.old)
    if count != 1:
        raise ValueError(f"{mutant.name}: {mutant.path} has the snippet {count} times, expected once")
    return source.replace(mutant.old, mutant.new)


def copy_checkout(dest: Path) -> None:
    """The parts of the checkout the tests need: the package, the tests and the configuration files."""
    for part in ("src", "tests", "workflow", "params.yaml", "pyproject.toml"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, dest / part)


def pytest(copy: Path, tests: tuple[str, ...]) -> int:
    """pytest's exit status for `tests`, importing `vifi` from the copy."""
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    return subprocess.run(cmd, cwd=copy, env=env, capture_output=True, check=False).returncode


def check(mutants: tuple[Mutant, ...]) -> dict[str, str]:
    """Each mutant's fate: killed (tests failed), survived (tests passed) or error (pytest could not run)."""
    fates = {}
    with tempfile.TemporaryDirectory(prefix="vifi-mutants-") as tmp:
        copy = Path(tmp)
        copy_checkout(copy)
        for tests in dict.fromkeys(m.tests for m in mutants):
            if pytest(copy, tests) != 0:
                raise SystemExit(f"the unmutated code fails {' '.join(tests)}: fix that first")
        for mutant in mutants:
            target = copy / mutant.path
            original = target.read_text(encoding="utf-8")
            target.write_text(apply(original, mutant), encoding="utf-8")
            start = time.monotonic()
            try:
                status = pytest(copy, mutant.tests)
            finally:
                target.write_text(original, encoding="utf-8")
            fates[mutant.name] = {0: "survived", 1: "killed"}.get(status, "error")
            print(f"{mutant.name:<36} {fates[mutant.name]:<8} {time.monotonic() - start:5.1f} s", flush=True)
    return fates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutants only")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "results" / "benchmarks", help="folder for mutants.json"
    )
    args = parser.parse_args(argv)
    unknown = set(args.only or ()) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutants {sorted(unknown)}; known: {', '.join(m.name for m in MUTANTS)}")
    chosen = tuple(m for m in MUTANTS if not args.only or m.name in args.only)
    fates = check(chosen)
    killed = sum(fate == "killed" for fate in fates.values())
    print(f"\nkill rate: {killed}/{len(fates)} = {killed / len(fates):.0%}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mutants.json").write_text(
        json.dumps({"fates": fates, "ratios": {"kill_rate": killed / len(fates)}}, indent=2) + "\n"
    )
    return 0 if killed == len(fates) else 1


if __name__ == "__main__":
    sys.exit(main())
