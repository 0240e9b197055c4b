"""XGBoost Boosters and scikit-learn-API models, in XGBoost's own UBJSON format, as
``mlflow.xgboost`` writes them."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plinth.errors import InvalidArgumentError
from plinth.models.flavors.base import (
    Flavor,
    LoadedFlavor,
    PredictFn,
    SavedFlavor,
    config_str,
    module_roots,
    pinned,
)
from plinth.models.mlmodel import MLmodel, PackageFiles

NAME = "xgboost"
LOADER_MODULE = "mlflow.xgboost"
MODEL_FILE = "model.ubj"
BOOSTER_CLASS = "xgboost.core.Booster"


def is_model(model: object) -> bool:
    return "xgboost" in module_roots(model)


def save(model: Any, path: Path, artifacts: Mapping[str, str]) -> SavedFlavor:
    import xgboost as xgb

    model.save_model(str(path / MODEL_FILE))
    cls = type(model)
    config: dict[str, object] = {
        "code": None,
        "data": MODEL_FILE,
        "model_class": f"{cls.__module__}.{cls.__qualname__}",
        "model_format": "ubj",
        "xgb_version": xgb.__version__,
    }
    requirements = [pinned("xgboost")]
    if not isinstance(model, xgb.Booster):
        requirements.append(pinned("scikit-learn"))
    return SavedFlavor(
        config=config,
        pyfunc={"loader_module": LOADER_MODULE, "data": MODEL_FILE},
        requirements=requirements,
        example_predict=predictor(model),
    )


def load(files: PackageFiles, mlmodel: MLmodel) -> LoadedFlavor:
    config = mlmodel.flavors.get(NAME, {})
    data = config.get("data") or config_str(mlmodel.pyfunc, "data")
    model = _model_class(config_str(config, "model_class", BOOSTER_CLASS))()
    model.load_model(str(files.file(str(data))))
    return LoadedFlavor(predict=predictor(model), raw_model=model)


def predictor(model: Any) -> PredictFn:
    """The model's predict for DataFrames and arrays (a Booster wants a DMatrix)."""
    import xgboost as xgb

    if isinstance(model, xgb.Booster):
        booster, dmatrix = model, xgb.DMatrix
        return lambda data: booster.predict(dmatrix(data))
    predict: PredictFn = model.predict
    return predict


def _model_class(dotted: str) -> Any:
    import xgboost as xgb

    module_name, _, class_name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    # The class name comes from the package: instantiate only XGBoost model classes.
    if not (isinstance(cls, type) and issubclass(cls, xgb.Booster | xgb.XGBModel)):
        raise InvalidArgumentError(
            f"MLmodel names {dotted!r} as the XGBoost model class; it is not an xgboost "
            "Booster or XGBModel."
        )
    return cls


FLAVOR = Flavor(name=NAME, loader_module=LOADER_MODULE, is_model=is_model, save=save, load=load)
