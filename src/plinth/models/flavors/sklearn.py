"""scikit-learn estimators and Pipelines, pickled as ``mlflow.sklearn`` writes them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from plinth.errors import InvalidArgumentError
from plinth.models.flavors.base import (
    Flavor,
    LoadedFlavor,
    SavedFlavor,
    check_serialization,
    config_str,
    dump_pickle,
    load_pickle,
    module_roots,
    pinned,
)
from plinth.models.mlmodel import MLmodel, PackageFiles

NAME = "sklearn"
LOADER_MODULE = "mlflow.sklearn"
MODEL_FILE = "model.pkl"
PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba")
"""The methods MLflow lets a package name as its pyfunc ``predict_fn``."""


def is_model(model: object) -> bool:
    # Anything built on sklearn.base (Pipelines, user estimators); xgboost and lightgbm
    # estimators also are, so the registry asks their flavors first.
    return "sklearn" in module_roots(model) and callable(getattr(model, "predict", None))


def save(model: object, path: Path, artifacts: Mapping[str, str]) -> SavedFlavor:
    import sklearn

    # pickle, not cloudpickle: the standard library reads it, and MLflow's loader too.
    dump_pickle(model, path / MODEL_FILE)
    config: dict[str, object] = {
        "code": None,
        "pickled_model": MODEL_FILE,
        "serialization_format": "pickle",
        "sklearn_version": sklearn.__version__,
    }
    pyfunc: dict[str, object] = {
        "loader_module": LOADER_MODULE,
        "model_path": MODEL_FILE,
        "predict_fn": "predict",
    }
    return SavedFlavor(
        config=config,
        pyfunc=pyfunc,
        requirements=[pinned("scikit-learn")],
        example_predict=getattr(model, "predict", None),
    )


def load(files: PackageFiles, mlmodel: MLmodel) -> LoadedFlavor:
    config = mlmodel.flavors.get(NAME, {})
    check_serialization(NAME, config, default="pickle")
    relative = config.get("pickled_model") or config_str(mlmodel.pyfunc, "model_path", MODEL_FILE)
    model = load_pickle(files.file(str(relative)))
    predict_fn = config_str(mlmodel.pyfunc, "predict_fn", "predict")
    if predict_fn not in PREDICT_FNS:
        raise InvalidArgumentError(
            f"Unsupported sklearn predict_fn {predict_fn!r}; use one of {', '.join(PREDICT_FNS)}."
        )
    return LoadedFlavor(predict=getattr(model, predict_fn), raw_model=model)


FLAVOR = Flavor(name=NAME, loader_module=LOADER_MODULE, is_model=is_model, save=save, load=load)
