"""``plinth.autolog()`` for scikit-learn: every ``fit`` logs the estimator's params, its
training metrics and the fitted model, into the active run or a run of its own.

It wraps ``fit`` on scikit-learn's estimator classes (as MLflow's autolog does). Only the
outermost ``fit`` logs: a Pipeline or GridSearchCV fitting inner estimators, on this
thread or on joblib's worker threads, records one run, not dozens. A failure to log warns;
it never fails the fit.
"""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

from plinth.entities import Metric, Param, RunStatus, RunTag, now_ms
from plinth.entities.validation import MAX_PARAM_VALUE_LENGTH
from plinth.models.log import log_model
from plinth.tracking import fluent

log = logging.getLogger("plinth.autolog")

_ORIGINAL_FIT = "_plinth_original_fit"


class _FitDepth:
    """How many autologged fits are running in the process. Process-wide, as MLflow's
    training session is: a search's inner fits may run on joblib worker threads, which must
    not log runs of their own. (The price: two models trained at once in two threads log
    one run, for the first.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0

    def enter(self) -> bool:
        """Count a fit in; whether it is the outermost."""
        with self._lock:
            self._depth += 1
            return self._depth == 1

    def leave(self) -> None:
        with self._lock:
            self._depth -= 1


_fits = _FitDepth()
_settings: dict[str, bool] = {"log_models": True}


def autolog(*, log_models: bool = True, disable: bool = False) -> None:
    """Turn scikit-learn autologging on (or off with ``disable=True``).

    Args:
        log_models: Also log each fitted estimator as an MLmodel under ``model/``.
        disable: Restore the original ``fit`` methods.
    """
    _settings["log_models"] = log_models
    for cls in _fit_owners():
        fit = cls.__dict__["fit"]
        original = getattr(fit, _ORIGINAL_FIT, None)
        if disable:
            if original is not None:
                setattr(cls, "fit", original)  # noqa: B010
        elif original is None:
            setattr(cls, "fit", _wrap_fit(fit))  # noqa: B010


def _fit_owners() -> list[type]:
    """The classes that define the ``fit`` of scikit-learn's estimators. Many estimators
    inherit it (RandomForestClassifier from BaseForest, GridSearchCV from BaseSearchCV),
    so the method is wrapped where it is defined, once."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classes = [cls for _name, cls in all_estimators()]
    owners: dict[type, None] = {}
    for cls in [*classes, Pipeline]:
        owner = next((k for k in cls.__mro__ if "fit" in k.__dict__), None)
        if owner is not None and owner is not object:
            owners[owner] = None
    return list(owners)


def _wrap_fit(fit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fit)
    def fit_and_log(self: Any, *args: Any, **kwargs: Any) -> Any:
        outermost = _fits.enter()
        try:
            if outermost:
                return _fit_in_run(fit, self, args, kwargs)
            return fit(self, *args, **kwargs)
        finally:
            _fits.leave()

    setattr(fit_and_log, _ORIGINAL_FIT, fit)
    return fit_and_log


def _fit_in_run(
    fit: Callable[..., Any], estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    own_run = fluent.active_run() is None
    if own_run:
        fluent.start_run(run_name=type(estimator).__name__)
    try:
        result = fit(estimator, *args, **kwargs)
    except BaseException:
        if own_run:
            fluent.end_run(RunStatus.FAILED)
        raise
    x = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    try:
        _log_fitted(estimator, x, y)
    except Exception as exc:  # logging must never break the user's training
        # e.g. a second fit with other params in the same run (params are immutable).
        warnings.warn(
            f"plinth.autolog could not log this fit of {type(estimator).__name__}: {exc}",
            stacklevel=4,
        )
    if own_run:
        fluent.end_run()
    return result


def _log_fitted(estimator: Any, x: Any, y: Any) -> None:
    run = fluent.active_run()
    assert run is not None
    client = fluent.get_client()
    params = [
        Param(str(k), str(v)[:MAX_PARAM_VALUE_LENGTH])
        for k, v in estimator.get_params(deep=True).items()
    ]
    tags = [
        RunTag("estimator_name", type(estimator).__name__),
        RunTag("estimator_class", f"{type(estimator).__module__}.{type(estimator).__qualname__}"),
    ]
    client.log_batch(run.run_id, params=params, tags=tags)
    now = now_ms()
    metrics = [
        Metric(key=k, value=v, timestamp=now) for k, v in training_metrics(estimator, x, y).items()
    ]
    if metrics:
        client.log_batch(run.run_id, metrics=metrics)
    if _settings["log_models"]:
        # A logged model (models:/m-...), the run's output carrying the training metrics
        # above, as MLflow 3's autolog makes.
        log_model(estimator, _free_name(client, run.run_id), run_id=run.run_id, client=client)


def _free_name(client: Any, run_id: str) -> str:
    """``model``, or ``model-2``, ``model-3``... for a later fit in the same run."""
    taken = {info.path for info in client.list_artifacts(run_id)}
    name, n = "model", 1
    while name in taken:
        n += 1
        name = f"model-{n}"
    return name


def training_metrics(estimator: Any, x: Any, y: Any) -> dict[str, float]:
    """MLflow's ``training_*`` metrics for classifiers and regressors (empty without labels)."""
    from sklearn.base import is_classifier, is_regressor

    if y is None or x is None:
        return {}
    try:
        if is_classifier(estimator):
            return _classifier_metrics(estimator, x, y)
        if is_regressor(estimator):
            return _regressor_metrics(estimator, x, y)
    except (ValueError, TypeError, AttributeError) as exc:
        # A metric that does not apply (e.g. multilabel targets) must not fail the fit.
        log.warning("autolog: could not compute training metrics: %s", exc)
    return {}


def _classifier_metrics(estimator: Any, x: Any, y: Any) -> dict[str, float]:
    from sklearn import metrics as m

    predicted = estimator.predict(x)
    out = {
        "training_accuracy_score": m.accuracy_score(y, predicted),
        "training_precision_score": m.precision_score(
            y, predicted, average="weighted", zero_division=0
        ),
        "training_recall_score": m.recall_score(y, predicted, average="weighted", zero_division=0),
        "training_f1_score": m.f1_score(y, predicted, average="weighted", zero_division=0),
        "training_score": estimator.score(x, y),
    }
    if hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(x)
        out["training_log_loss"] = m.log_loss(y, proba, labels=estimator.classes_)
        if proba.shape[1] == 2:
            out["training_roc_auc"] = m.roc_auc_score(y, proba[:, 1])
    return {k: float(v) for k, v in out.items()}


def _regressor_metrics(estimator: Any, x: Any, y: Any) -> dict[str, float]:
    from sklearn import metrics as m

    predicted = estimator.predict(x)
    mse = float(m.mean_squared_error(y, predicted))
    return {
        "training_mean_squared_error": mse,
        "training_root_mean_squared_error": mse**0.5,
        "training_mean_absolute_error": float(m.mean_absolute_error(y, predicted)),
        "training_r2_score": float(m.r2_score(y, predicted)),
        "training_score": float(estimator.score(x, y)),
    }
