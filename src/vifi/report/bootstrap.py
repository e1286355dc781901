"""Bootstrap confidence intervals of accuracies, and of paired differences between two of them.

A table value is a mean over test videos, and where the protocol averages several training seeds (base-to-novel)
or test splits (zero-shot), a mean over those too. Its 95% interval is the 2.5th-97.5th percentile of the value
recomputed on `RESAMPLES` (2000) resamples, drawn with a fixed seed (`SEED`) so every build prints the same
interval. The resampling has two levels, as the value has: first the seeds or splits are drawn with replacement,
then the videos of each drawn one. Where every seed scored the same test list (base-to-novel), a resample draws
that list's videos once and uses the draw for each seed, since the seeds do not have videos of their own; where
each split has its own list (zero-shot), each drawn split's videos are drawn afresh. A value of a single run is
the plain bootstrap over its videos.

A comparison between two methods (or two shot counts) is paired: both columns of a `Sample` see the same
resampled seeds and videos, so what the two have in common cancels out of their difference, which an unpaired
bootstrap (each resampled on its own) would count as noise twice.

Only how often each distinct row of 0/1 outcomes is drawn matters to a mean, and that is multinomial, so a
resample costs the number of distinct rows (at most 2 ** columns), not the number of videos.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"

# Maps accuracies in percent shaped (..., sets, columns) to the values (...) an interval is wanted for.
Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Outcomes:
    """The 0/1 outcomes of one evaluation set's videos, shaped (videos, columns), with the videos' keys."""

    videos: tuple[str, ...]
    matrix: np.ndarray


@dataclass(frozen=True)
class Sample:
    """What a value is computed from: per unit (a training seed or a test split), the outcomes of each set.

    Every unit has the same sets in the same order, and every set the same columns (the quantities compared).
    """

    units: tuple[tuple[Outcomes, ...], ...]

    def __post_init__(self) -> None:
        shapes = {tuple(o.matrix.shape[1] for o in unit) for unit in self.units}
        if not self.units or len(shapes) != 1 or not all(o.matrix.shape[0] for u in self.units for o in u):
            raise ValueError("a sample needs units with the same sets and columns, each set with videos")

    def accuracies(self) -> np.ndarray:
        """The observed accuracies in percent, (sets, columns), averaged over the units."""
        return np.array([[100.0 * o.matrix.mean(axis=0) for o in unit] for unit in self.units]).mean(axis=0)


@dataclass(frozen=True)
class Interval:
    """A value and the bounds of its confidence interval."""

    value: float
    lo: float
    hi: float


def _resample_means(matrix: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Column means in percent of `size` resamples of the rows of `matrix`, shaped (size, columns)."""
    rows, counts = np.unique(matrix.astype(np.float64), axis=0, return_counts=True)
    n = len(matrix)
    drawn = rng.multinomial(n, counts / n, size=size)
    return 100.0 * drawn @ rows / n


def _set_draws(per_unit: Sequence[Outcomes], pick: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One set's accuracies (resamples, columns), averaged over each resample's drawn units `pick`."""
    resamples, units = pick.shape
    if all(o.videos == per_unit[0].videos for o in per_unit):
        joint = np.concatenate([o.matrix for o in per_unit], axis=1)
        means = _resample_means(joint, resamples, rng).reshape(resamples, units, -1)
        return np.take_along_axis(means, pick[:, :, None], axis=1).mean(axis=1)
    total = np.zeros((resamples, per_unit[0].matrix.shape[1]))
    for unit, outcomes in enumerate(per_unit):
        draws = np.nonzero(pick == unit)[0]
        np.add.at(total, draws, _resample_means(outcomes.matrix, len(draws), rng))
    return total / units


def bootstrap(sample: Sample, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """Accuracies in percent of `resamples` two-level resamples of `sample`: (resamples, sets, columns)."""
    rng = np.random.default_rng(seed)
    units = len(sample.units)
    pick = rng.integers(units, size=(resamples, units))
    per_set = zip(*sample.units, strict=True)
    return np.stack([_set_draws(outcomes, pick, rng) for outcomes in per_set], axis=1)


def interval(value: float, draws: np.ndarray, level: float = LEVEL) -> Interval:
    """`value` with the central `level` percentile interval of its resampled `draws`."""
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(draws, [tail, 100.0 - tail])
    return Interval(float(value), float(lo), float(hi))


def estimates(sample: Sample, statistics: Mapping[str, Statistic], seed: int = SEED) -> dict[str, Interval]:
    """Each statistic of `sample` with its interval, all from the same resamples."""
    observed, draws = sample.accuracies(), bootstrap(sample, seed=seed)
    return {name: interval(float(stat(observed)), stat(draws)) for name, stat in statistics.items()}


def harmonic(base: np.ndarray, novel: np.ndarray) -> np.ndarray:
    """`2·B·N/(B+N)` elementwise, 0 where both are 0 (as `vifi.metrics.harmonic_mean`)."""
    total = base + novel
    return np.divide(2.0 * base * novel, total, out=np.zeros_like(total, dtype=np.float64), where=total > 0)


def verdict(difference: Interval) -> str:
    """Whether a claimed positive difference holds: the whole interval above 0, below 0, or around it."""
    if difference.lo > 0:
        return HOLDS
    if difference.hi < 0:
        return FAILS
    return INCONCLUSIVE
