"""LightGBM Boosters (LightGBM's text model file) and scikit-learn-API models (pickled), as
``mlflow.lightgbm`` writes them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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

NAME = "lightgbm"
LOADER_MODULE = "mlflow.lightgbm"
BOOSTER_FILE = "model.lgb"
PICKLE_FILE = "model.pkl"
BOOSTER_CLASS = "lightgbm.basic.Booster"


def is_model(model: object) -> bool:
    return "lightgbm" in module_roots(model)


def save(model: Any, path: Path, artifacts: Mapping[str, str]) -> SavedFlavor:
    import lightgbm as lgb

    cls = type(model)
    config: dict[str, object] = {
        "code": None,
        "lgb_version": lgb.__version__,
        "model_class": f"{cls.__module__}.{cls.__qualname__}",
    }
    requirements = [pinned("lightgbm")]
    if isinstance(model, lgb.Booster):
        data = BOOSTER_FILE
        model.save_model(str(path / data))
    else:
        data = PICKLE_FILE
        dump_pickle(model, path / data)
        config["serialization_format"] = "pickle"
        requirements.append(pinned("scikit-learn"))
    config["data"] = data
    return SavedFlavor(
        config=config,
        pyfunc={"loader_module": LOADER_MODULE, "data": data},
        requirements=requirements,
        example_predict=model.predict,
    )


def load(files: PackageFiles, mlmodel: MLmodel) -> LoadedFlavor:
    import lightgbm as lgb

    config = mlmodel.flavors.get(NAME, {})
    path = files.file(str(config.get("data") or config_str(mlmodel.pyfunc, "data")))
    model: Any
    if config_str(config, "model_class", BOOSTER_CLASS) == BOOSTER_CLASS:
        model = lgb.Booster(model_file=str(path))
    else:
        # MLflow's own default for scikit-learn-API models written before skops.
        check_serialization(NAME, config, default="cloudpickle")
        model = load_pickle(path)
    return LoadedFlavor(predict=model.predict, raw_model=model)


FLAVOR = Flavor(name=NAME, loader_module=LOADER_MODULE, is_model=is_model, save=save, load=load)
