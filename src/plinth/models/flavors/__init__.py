"""The model flavors Plinth saves and loads, and how a model object picks its flavor."""

from __future__ import annotations

from plinth.errors import InvalidArgumentError
from plinth.models.flavors import lightgbm, onnx, pyfunc, sklearn, xgboost
from plinth.models.flavors.base import Flavor, LoadedFlavor, SavedFlavor

FLAVORS: tuple[Flavor, ...] = (
    pyfunc.FLAVOR,
    # Before sklearn: their scikit-learn-API estimators are sklearn estimators too.
    xgboost.FLAVOR,
    lightgbm.FLAVOR,
    onnx.FLAVOR,
    sklearn.FLAVOR,
)
"""In detection order: the first whose ``is_model`` accepts an object saves it."""

_BY_LOADER = {f.loader_module: f for f in FLAVORS}


def flavor_for(model: object) -> Flavor:
    """The flavor that saves ``model``.

    Raises:
        InvalidArgumentError: no flavor accepts it (the message lists what does).
    """
    for flavor in FLAVORS:
        if flavor.is_model(model):
            return flavor
    raise InvalidArgumentError(
        f"Cannot log a {type(model).__module__}.{type(model).__qualname__}: Plinth saves "
        "scikit-learn estimators and Pipelines, XGBoost and LightGBM models, ONNX ModelProtos "
        "and plinth.models.PythonModel subclasses (wrap anything else in a PythonModel)."
    )


def flavor_for_loader(loader_module: str) -> Flavor:
    """The flavor that loads packages whose pyfunc ``loader_module`` is ``loader_module``.

    Raises:
        InvalidArgumentError: a loader module of a flavor Plinth does not load.
    """
    flavor = _BY_LOADER.get(loader_module)
    if flavor is None:
        supported = ", ".join(sorted(_BY_LOADER))
        raise InvalidArgumentError(
            f"Cannot load a model package with loader_module {loader_module!r}; Plinth "
            f"loads {supported}."
        )
    return flavor


__all__ = ["FLAVORS", "Flavor", "LoadedFlavor", "SavedFlavor", "flavor_for", "flavor_for_loader"]
