"""Validation gates on a promotion request: declarative checks evaluated when the request is
made and shown to the approver.

Supported forms::

    metrics.<key> <op> <number>        the source run's latest metric, e.g. metrics.auc >= 0.80
    beats_production:metrics.<key>     strictly greater than the current Production version's
    signature                          the model package at the version's source has a signature
    tag:<key>                          the version or the registered model carries the tag

Pure: the store gathers a ``GateContext`` (metrics, the Production version, the package) and
``evaluate`` turns gates into ``CheckResult`` s.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from plinth.entities.registry import CheckResult, ModelVersion, PackageInfo
from plinth.errors import InvalidArgumentError

SUPPORTED_CHECKS = (
    "metrics.<key> <op> <number> (op one of >=, >, <=, <, =, !=; e.g. metrics.auc >= 0.80)",
    "beats_production:metrics.<key>",
    "signature",
    "tag:<key>",
)

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
}
_KEY = r"(?:`(?P<quoted>[^`]+)`|(?P<bare>[\w.\-/:]+?))"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_THRESHOLD_RE = re.compile(rf"^metrics\.{_KEY}\s*(?P<op>>=|<=|==|!=|=|>|<)\s*(?P<value>{_NUMBER})$")
_BEATS_RE = re.compile(rf"^beats_production\s*:\s*metrics\.{_KEY}$")
_TAG_RE = re.compile(r"^tag\s*:\s*(?P<key>\S(?:.*\S)?)$")


@dataclass(frozen=True, slots=True)
class MetricThreshold:
    """``metrics.<key> <op> <number>`` on the source run's latest metric."""

    text: str
    key: str
    op: str
    threshold: float


@dataclass(frozen=True, slots=True)
class BeatsProduction:
    """``beats_production:metrics.<key>``: strictly greater than Production's."""

    text: str
    key: str


@dataclass(frozen=True, slots=True)
class SignaturePresent:
    """``signature``: the package at the version's source has one."""

    text: str


@dataclass(frozen=True, slots=True)
class TagPresent:
    """``tag:<key>``: the version or the registered model carries the tag."""

    text: str
    key: str


Gate = MetricThreshold | BeatsProduction | SignaturePresent | TagPresent


def _metric_key(match: re.Match[str]) -> str:
    return match.group("quoted") or match.group("bare")


def parse_check(text: str) -> Gate:
    """Parse one check expression.

    Raises:
        InvalidArgumentError: The expression is none of ``SUPPORTED_CHECKS``.
    """
    check = text.strip() if isinstance(text, str) else ""
    if match := _THRESHOLD_RE.match(check):
        value = float(match.group("value"))
        return MetricThreshold(check, _metric_key(match), match.group("op"), value)
    if match := _BEATS_RE.match(check):
        return BeatsProduction(check, _metric_key(match))
    if check.lower() == "signature":
        return SignaturePresent(check)
    if match := _TAG_RE.match(check):
        return TagPresent(check, match.group("key"))
    raise InvalidArgumentError(
        f"Unsupported check {text!r}. Supported forms: " + "; ".join(SUPPORTED_CHECKS)
    )


def parse_checks(checks: Sequence[str]) -> list[Gate]:
    """Parse every check; raises ``InvalidArgumentError`` naming the first bad one."""
    if isinstance(checks, str):
        raise InvalidArgumentError("checks must be a list of check expressions, not one string.")
    return [parse_check(c) for c in checks]


@dataclass(frozen=True, slots=True, kw_only=True)
class GateContext:
    """Everything the gates look at, read by the store when the request is made.

    Args:
        version: The version to promote.
        model_tags: The registered model's tags.
        run_metrics: The latest metrics of the version's source run (empty without one).
        production: The newest other version in Production, if any.
        production_metrics: The latest metrics of ``production`` 's source run.
        package: The model package at the version's source (``None``: none there).
        can_inspect: Whether a package inspector was available at all.
    """

    version: ModelVersion
    model_tags: Mapping[str, str] = field(default_factory=dict)
    run_metrics: Mapping[str, float] = field(default_factory=dict)
    production: ModelVersion | None = None
    production_metrics: Mapping[str, float] = field(default_factory=dict)
    package: PackageInfo | None = None
    can_inspect: bool = False


def needs_package(gates: Sequence[Gate]) -> bool:
    """Whether the package inspector must be asked (it reads the artifact store)."""
    return any(isinstance(g, SignaturePresent) for g in gates)


def needs_production(gates: Sequence[Gate]) -> bool:
    """Whether the current Production version and its metrics must be read."""
    return any(isinstance(g, BeatsProduction) for g in gates)


def evaluate(gates: Sequence[Gate], context: GateContext) -> list[CheckResult]:
    """The result of every gate against ``context``, in order."""
    return [_evaluate(g, context) for g in gates]


def _evaluate(gate: Gate, ctx: GateContext) -> CheckResult:
    if isinstance(gate, MetricThreshold):
        return _threshold(gate, ctx)
    if isinstance(gate, BeatsProduction):
        return _beats_production(gate, ctx)
    if isinstance(gate, SignaturePresent):
        return _signature(gate, ctx)
    return _tag(gate, ctx)


def _result(gate: Gate, passed: bool, detail: str) -> CheckResult:
    return CheckResult(check=gate.text, passed=passed, detail=detail)


def _missing_metric(gate: Gate, key: str, ctx: GateContext) -> CheckResult | None:
    if ctx.version.run_id is None:
        return _result(gate, False, f"version {ctx.version.version} has no source run")
    if key not in ctx.run_metrics:
        return _result(gate, False, f"source run {ctx.version.run_id} has no metric '{key}'")
    return None


def _threshold(gate: MetricThreshold, ctx: GateContext) -> CheckResult:
    if missing := _missing_metric(gate, gate.key, ctx):
        return missing
    value = ctx.run_metrics[gate.key]
    passed = not math.isnan(value) and _OPS[gate.op](value, gate.threshold)
    return _result(gate, passed, f"{gate.key} = {value:g} (needs {gate.op} {gate.threshold:g})")


def _beats_production(gate: BeatsProduction, ctx: GateContext) -> CheckResult:
    if missing := _missing_metric(gate, gate.key, ctx):
        return missing
    if ctx.production is None:
        return _result(gate, True, "no Production version to beat")
    prod = f"Production version {ctx.production.version}"
    if gate.key not in ctx.production_metrics:
        return _result(gate, True, f"{prod} has no metric '{gate.key}' to beat")
    value, baseline = ctx.run_metrics[gate.key], ctx.production_metrics[gate.key]
    if value > baseline:
        return _result(gate, True, f"{gate.key} {value:g} > {baseline:g} of {prod}")
    return _result(gate, False, f"{gate.key} {value:g} does not beat {baseline:g} of {prod}")


def _signature(gate: SignaturePresent, ctx: GateContext) -> CheckResult:
    if not ctx.can_inspect:
        return _result(gate, False, "cannot inspect the package (no package inspector)")
    source = ctx.version.source
    if ctx.package is None:
        return _result(gate, False, f"no MLmodel package at {source}")
    if not ctx.package.has_signature:
        return _result(gate, False, f"the package at {source} has no signature")
    flavors = ", ".join(ctx.package.flavors) or "none"
    return _result(gate, True, f"signature present (flavors: {flavors})")


def _tag(gate: TagPresent, ctx: GateContext) -> CheckResult:
    if gate.key in ctx.version.tags:
        return _result(gate, True, f"version tag {gate.key} = {ctx.version.tags[gate.key]!r}")
    if gate.key in ctx.model_tags:
        return _result(gate, True, f"model tag {gate.key} = {ctx.model_tags[gate.key]!r}")
    return _result(gate, False, f"tag '{gate.key}' is set on neither the version nor the model")
