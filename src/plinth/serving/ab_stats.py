"""The statistics behind ``plinth endpoints ab-report``: compare an outcome between A/B variants.

The feedback API logs one outcome value per prediction (``converted`` = 0/1, ``revenue`` = 12.5).
``ab_report`` takes those values grouped by variant and compares every variant with a baseline:

- **binary outcomes** (every value is 0 or 1, bools included) use the two-proportion z-test:
  the p-value uses the *pooled* proportion (the null hypothesis says both rates are equal), the
  confidence interval of the difference uses the *unpooled* standard error (the interval must not
  assume the null it is meant to measure against). Both are the textbook choices, so the two can
  disagree at the margin; ``significant`` follows the p-value.
- **other outcomes** use Welch's t-test (no equal-variance assumption, because a variant that
  changes behaviour usually changes the spread too), with the Welch-Satterthwaite degrees of
  freedom for the interval.

NaN values (an outcome that was logged empty) are dropped and counted in ``VariantSummary.missing``.
A statistic that is undefined (the mean of no values, the spread of one value) is ``nan``; a
p-value that cannot be computed (fewer than two observations on a side) is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped]

from plinth.errors import InvalidArgumentError

Z_TEST = "two-proportion z-test"
WELCH_TEST = "Welch's t-test"
# Below two observations a side has no variance estimate, so no test can say anything.
MIN_OBSERVATIONS = 2

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantSummary:
    """Descriptive statistics of one variant's outcome values.

    ``std`` is the sample standard deviation (ddof=1), ``nan`` below two observations;
    ``missing`` counts the NaN values that were dropped before anything was computed.
    """

    variant: str
    count: int
    mean: float
    std: float
    missing: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """One variant compared with the baseline; ``difference`` and the interval are absolute."""

    variant: str
    baseline: str
    lift: float | None
    difference: float
    ci_low: float
    ci_high: float
    p_value: float | None
    test: str
    significant: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AbReport:
    """Per-variant summaries (sorted by name) and one comparison per non-baseline variant."""

    outcome: str
    baseline: str
    variants: list[VariantSummary]
    comparisons: list[Comparison]
    binary: bool


@dataclass(frozen=True, slots=True)
class _Sample:
    name: str
    values: FloatArray
    missing: int
    mean: float
    var: float

    @property
    def count(self) -> int:
        return int(self.values.size)


def ab_report(
    values_by_variant: Mapping[str, Sequence[float] | npt.NDArray[np.generic]],
    *,
    outcome: str,
    baseline: str | None = None,
    confidence: float = 0.95,
    context: str = "",
) -> AbReport:
    """Compare an outcome of every variant with a baseline variant.

    Args:
        values_by_variant: outcome values per variant name (lists, bools or NumPy arrays).
        outcome: the outcome's name, carried into the report and error messages.
        baseline: the variant the others are compared with; default the first name in sorted order.
        confidence: level of the confidence intervals; ``1 - confidence`` is the significance level.
        context: appended to error messages so they say where the data came from,
            e.g. ``"for endpoint 'churn'"``.

    Returns:
        The report; its ``comparisons`` are sorted by variant name.

    Raises:
        InvalidArgumentError: no values at all (after dropping NaN), a value that is not a finite
            number, an unknown baseline, or a confidence outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise InvalidArgumentError(
            f"confidence must be between 0 and 1 (exclusive), got {confidence}"
        )
    samples = {name: _sample(name, values) for name, values in sorted(values_by_variant.items())}
    if not any(sample.count for sample in samples.values()):
        where = f" {context}" if context else ""
        raise InvalidArgumentError(
            f"no feedback with outcome {outcome!r}{where}; log outcomes through the feedback API "
            "(or check the outcome name) before asking for an A/B report"
        )
    base = _baseline(samples, baseline)
    binary = all(bool(np.isin(sample.values, (0.0, 1.0)).all()) for sample in samples.values())
    comparisons = [
        _compare(sample, samples[base], binary=binary, confidence=confidence)
        for name, sample in samples.items()
        if name != base
    ]
    return AbReport(
        outcome=outcome,
        baseline=base,
        variants=[_summary(sample) for sample in samples.values()],
        comparisons=comparisons,
        binary=binary,
    )


def _sample(name: str, values: Sequence[float] | npt.NDArray[np.generic]) -> _Sample:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"outcome values of variant {name!r} must be numbers (or booleans): {exc}"
        ) from exc
    if array.ndim != 1:
        raise InvalidArgumentError(
            f"outcome values of variant {name!r} must be a flat sequence, got shape {array.shape}"
        )
    if np.isinf(array).any():
        raise InvalidArgumentError(
            f"outcome values of variant {name!r} contain an infinite value; log finite outcomes"
        )
    present = ~np.isnan(array)
    values = array[present]
    missing = int(array.size - values.size)
    return _Sample(name, values, missing, _mean(values), _variance(values))


def _mean(values: FloatArray) -> float:
    return float(values.mean()) if values.size else math.nan


def _variance(values: FloatArray) -> float:
    if values.size < MIN_OBSERVATIONS:
        return math.nan
    # A constant sample has exactly zero variance; computing it could leave rounding noise
    # (the mean of [0.1, 0.1, 0.1] is not exactly 0.1) that a test would read as real spread.
    if values.min() == values.max():
        return 0.0
    return float(values.var(ddof=1))


def _baseline(samples: Mapping[str, _Sample], baseline: str | None) -> str:
    if baseline is None:
        return next(iter(samples))
    if baseline not in samples:
        raise InvalidArgumentError(
            f"baseline variant {baseline!r} has no feedback; choose one of {sorted(samples)}"
        )
    return baseline


def _summary(sample: _Sample) -> VariantSummary:
    return VariantSummary(
        variant=sample.name,
        count=sample.count,
        mean=sample.mean,
        std=math.sqrt(sample.var),
        missing=sample.missing,
    )


def _compare(variant: _Sample, base: _Sample, *, binary: bool, confidence: float) -> Comparison:
    difference = variant.mean - base.mean
    p_value: float | None = None
    ci_low = ci_high = math.nan
    if min(variant.count, base.count) >= MIN_OBSERVATIONS:
        test = _z_test if binary else _welch_test
        p_value, half_width = test(variant, base, confidence)
        ci_low, ci_high = difference - half_width, difference + half_width
    return Comparison(
        variant=variant.name,
        baseline=base.name,
        lift=difference / base.mean if base.mean and math.isfinite(difference) else None,
        difference=difference,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        test=Z_TEST if binary else WELCH_TEST,
        significant=p_value is not None and p_value < 1.0 - confidence,
    )


def _z_test(variant: _Sample, base: _Sample, confidence: float) -> tuple[float, float]:
    """Two-sided p-value (pooled standard error) and CI half-width (unpooled standard error)."""
    n1, n2 = variant.count, base.count
    p1, p2 = variant.mean, base.mean
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    pooled_se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    unpooled_se = math.sqrt(p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2)
    # pooled_se is 0 only when both sides are all 0 or all 1, i.e. identical.
    p_value = 2.0 * float(stats.norm.sf(abs(p1 - p2) / pooled_se)) if pooled_se else 1.0
    return p_value, float(stats.norm.ppf(0.5 + confidence / 2.0)) * unpooled_se


def _welch_test(variant: _Sample, base: _Sample, confidence: float) -> tuple[float, float]:
    """Two-sided p-value and CI half-width of Welch's t-test.

    Both sides constant: the difference is exact, so p is 1 when the means agree and 0 when they
    differ, and the interval has zero width (scipy would return NaN from 0/0).
    """
    n1, n2 = variant.count, base.count
    v1, v2 = variant.var / n1, base.var / n2
    if v1 + v2 == 0.0:
        return (1.0 if variant.mean == base.mean else 0.0), 0.0
    # ttest_ind_from_stats reuses our moments: ttest_ind on the raw values would recompute them
    # and warn about catastrophic cancellation when one side is constant.
    std1, std2 = math.sqrt(variant.var), math.sqrt(base.var)
    result = stats.ttest_ind_from_stats(
        variant.mean, std1, n1, base.mean, std2, n2, equal_var=False
    )
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    half_width = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * math.sqrt(v1 + v2)
    return float(result.pvalue), half_width
