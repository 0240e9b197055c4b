"""A/B report statistics, checked against textbook formulas and scipy's own Welch test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from plinth.errors import InvalidArgumentError
from plinth.serving.ab_stats import WELCH_TEST, Z_TEST, ab_report

Z_975 = 1.959963984540054  # the 97.5% quantile of the standard normal, from tables


def conversions(converted: int, total: int) -> list[int]:
    return [1] * converted + [0] * (total - converted)


def test_z_test_matches_the_textbook_formula() -> None:
    report = ab_report(
        {"a": conversions(200, 1000), "b": conversions(250, 1000)}, outcome="converted"
    )

    # Hand computation: pooled p for the test statistic, unpooled for the interval.
    pooled = 450 / 2000
    z = 0.05 / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    expected_p = math.erfc(z / math.sqrt(2))
    half_width = Z_975 * math.sqrt(0.2 * 0.8 / 1000 + 0.25 * 0.75 / 1000)
    (comparison,) = report.comparisons
    assert report.binary
    assert report.baseline == "a"
    assert comparison.test == Z_TEST
    assert comparison.variant == "b"
    assert comparison.difference == pytest.approx(0.05)
    assert comparison.lift == pytest.approx(0.25)
    assert comparison.p_value == pytest.approx(expected_p, rel=1e-9)
    assert expected_p == pytest.approx(0.00742, abs=1e-5)
    assert comparison.ci_low == pytest.approx(0.05 - half_width, rel=1e-9)
    assert comparison.ci_high == pytest.approx(0.05 + half_width, rel=1e-9)
    assert comparison.significant


def test_variant_summaries_report_count_mean_and_sample_std() -> None:
    report = ab_report({"b": [True, False, True, True], "a": [0, 0, 1]}, outcome="converted")

    assert [v.variant for v in report.variants] == ["a", "b"]
    a, b = report.variants
    assert a.count == 3
    assert a.mean == pytest.approx(1 / 3)
    assert a.std == pytest.approx(math.sqrt(1 / 3))  # deviations 1/3, 1/3, 2/3 over n - 1 = 2
    assert a.missing == 0
    assert (b.count, b.mean) == (4, 0.75)
    assert report.binary


def test_welch_p_value_matches_scipy_ttest_ind() -> None:
    rng = np.random.default_rng(7)
    control = rng.normal(10.0, 2.0, size=400)
    treatment = rng.normal(10.4, 3.5, size=250)

    report = ab_report({"control": control, "treatment": treatment}, outcome="revenue")

    expected = stats.ttest_ind(treatment, control, equal_var=False)
    (comparison,) = report.comparisons
    assert not report.binary
    assert comparison.test == WELCH_TEST
    assert comparison.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert comparison.difference == pytest.approx(treatment.mean() - control.mean())


def test_welch_interval_uses_welch_satterthwaite_degrees_of_freedom() -> None:
    a = np.array([3.1, 2.9, 3.4, 3.0, 2.7, 3.3])
    b = np.array([4.0, 2.0, 5.5, 3.5, 1.0, 4.5, 6.0, 2.5])

    (comparison,) = ab_report({"a": a, "b": b}, outcome="latency", confidence=0.9).comparisons

    # scipy >= 1.11 reports the Welch interval itself; an independent route to the same numbers.
    expected = stats.ttest_ind(b, a, equal_var=False).confidence_interval(confidence_level=0.9)
    assert comparison.ci_low == pytest.approx(expected.low, rel=1e-9)
    assert comparison.ci_high == pytest.approx(expected.high, rel=1e-9)


def test_baseline_can_be_chosen_and_every_other_variant_is_compared() -> None:
    data = {"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 4.0], "c": [5.0, 6.0, 7.0]}

    report = ab_report(data, outcome="score", baseline="b")

    assert report.baseline == "b"
    assert [(c.variant, c.baseline) for c in report.comparisons] == [("a", "b"), ("c", "b")]
    assert [c.difference for c in report.comparisons] == [-1.0, 3.0]
    assert report.comparisons[0].lift == pytest.approx(-1 / 3)


def test_a_a_test_rejects_at_about_the_significance_level() -> None:
    rejections = {"binary": 0, "continuous": 0}
    for seed in range(200):
        rng = np.random.default_rng(seed)
        binary = ab_report(
            {"a": rng.random(500) < 0.3, "b": rng.random(500) < 0.3}, outcome="converted"
        )
        continuous = ab_report(
            {"a": rng.exponential(2.0, 300), "b": rng.exponential(2.0, 300)}, outcome="revenue"
        )
        rejections["binary"] += binary.comparisons[0].significant
        rejections["continuous"] += continuous.comparisons[0].significant

    assert 4 <= rejections["binary"] <= 18  # 2%..9% of 200
    assert 4 <= rejections["continuous"] <= 18


def test_a_true_effect_is_detected() -> None:
    rng = np.random.default_rng(11)
    binary = ab_report(
        {"a": rng.random(5000) < 0.10, "b": rng.random(5000) < 0.13}, outcome="converted"
    )
    continuous = ab_report(
        {"a": rng.normal(5.0, 1.0, 2000), "b": rng.normal(5.2, 1.0, 2000)}, outcome="revenue"
    )

    for comparison in (binary.comparisons[0], continuous.comparisons[0]):
        assert comparison.significant
        assert comparison.p_value is not None and comparison.p_value < 0.001
        assert comparison.ci_low > 0


def test_confidence_intervals_cover_the_true_difference_at_their_level() -> None:
    covered = {"binary": 0, "continuous": 0}
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        binary = ab_report(
            {"a": rng.random(800) < 0.2, "b": rng.random(600) < 0.25}, outcome="converted"
        ).comparisons[0]
        continuous = ab_report(
            {"a": rng.normal(3.0, 1.0, 80), "b": rng.normal(3.5, 2.0, 40)}, outcome="revenue"
        ).comparisons[0]
        covered["binary"] += binary.ci_low < 0.05 < binary.ci_high
        covered["continuous"] += continuous.ci_low < 0.5 < continuous.ci_high

    assert 180 <= covered["binary"] <= 198  # 90%..99% of 200 for a 95% interval
    assert 180 <= covered["continuous"] <= 198


def test_nan_values_are_dropped_and_counted() -> None:
    report = ab_report(
        {"a": [1.0, float("nan"), 3.0], "b": np.array([np.nan, np.nan, 4.0, 6.0])},
        outcome="score",
    )

    assert [(v.count, v.missing, v.mean) for v in report.variants] == [(2, 1, 2.0), (2, 2, 5.0)]
    assert report.comparisons[0].p_value is not None


def test_a_side_with_too_few_observations_has_no_p_value() -> None:
    report = ab_report({"a": [1.0, 2.0, 3.0], "b": [5.0], "c": []}, outcome="score")

    b, c = report.comparisons
    assert (b.p_value, b.significant, b.difference) == (None, False, 3.0)
    assert math.isnan(b.ci_low) and math.isnan(b.ci_high)
    assert c.p_value is None and math.isnan(c.difference) and c.lift is None
    summary_b, summary_c = report.variants[1:]
    assert summary_b.mean == 5.0 and math.isnan(summary_b.std)
    assert summary_c.count == 0 and math.isnan(summary_c.mean)


@pytest.mark.parametrize(
    ("a", "b", "p_value", "difference"),
    [
        pytest.param([2.0] * 5, [2.0] * 4, 1.0, 0.0, id="welch-same-constant"),
        pytest.param([0.1] * 5, [0.3] * 4, 0.0, 0.2, id="welch-different-constants"),
        pytest.param([1] * 5, [1] * 4, 1.0, 0.0, id="z-all-converted"),
        pytest.param([0] * 5, [0] * 4, 1.0, 0.0, id="z-none-converted"),
    ],
)
def test_zero_variance_on_both_sides(
    a: list[float], b: list[float], p_value: float, difference: float
) -> None:
    (comparison,) = ab_report({"a": a, "b": b}, outcome="score").comparisons

    assert comparison.p_value == p_value
    assert comparison.difference == pytest.approx(difference)
    assert comparison.ci_low == comparison.ci_high == pytest.approx(difference)


def test_zero_variance_on_one_side_still_runs_welch() -> None:
    (comparison,) = ab_report({"a": [0.1] * 6, "b": [0.5, 0.7, 0.6, 0.4]}, outcome="x").comparisons

    expected = stats.ttest_ind_from_stats(
        0.55, np.std([0.5, 0.7, 0.6, 0.4], ddof=1), 4, 0.1, 0.0, 6, equal_var=False
    )
    assert comparison.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_lift_is_none_when_the_baseline_mean_is_zero() -> None:
    (comparison,) = ab_report({"a": [0, 0, 0], "b": [0, 1, 1]}, outcome="converted").comparisons

    assert comparison.lift is None
    assert comparison.difference == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        pytest.param(
            {}, {}, "no feedback with outcome 'converted' for endpoint 'churn'", id="empty"
        ),
        pytest.param({"a": [np.nan]}, {}, "no feedback with outcome", id="all-nan"),
        pytest.param({"a": [1, 0]}, {"baseline": "z"}, "baseline variant 'z'", id="baseline"),
        pytest.param({"a": [1, 0]}, {"confidence": 1.0}, "confidence", id="confidence"),
        pytest.param({"a": ["yes"]}, {}, "variant 'a' must be numbers", id="not-numbers"),
        pytest.param({"a": [[1, 0]]}, {}, "flat sequence", id="nested"),
        pytest.param({"a": [1.0, np.inf]}, {}, "infinite", id="infinite"),
    ],
)
def test_invalid_input_is_rejected_with_a_clear_message(
    data: dict[str, list[object]], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ab_report(data, outcome="converted", context="for endpoint 'churn'", **kwargs)  # type: ignore[arg-type]
