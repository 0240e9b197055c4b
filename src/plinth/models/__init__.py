"""Model packaging in MLflow's ``MLmodel`` format, so packages travel both ways.

``log_model`` / ``save_model`` pick the flavor from the object (scikit-learn, XGBoost,
LightGBM, ONNX, ``PythonModel``), write the package with a signature, input example,
requirements and sha256 digests; ``load_model`` takes ``runs:/``, ``models:/`` and local
URIs, verifies the digests and enforces the signature at predict time::

    info = plinth.models.log_model(model, input_example=x_train.head())
    model = plinth.models.load_model(info.model_uri)
    model.predict(x_test)

Names load lazily (PEP 562): ``import plinth`` imports none of the flavor libraries, pandas
or the loader until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plinth.models.enforce import SignatureWarning
    from plinth.models.flavors.pyfunc import PythonModel, PythonModelContext
    from plinth.models.loader import (
        LoadedModel,
        ModelInput,
        ModelMetadata,
        Predictions,
        load_model,
        load_package,
    )
    from plinth.models.log import ModelInfo, log_model
    from plinth.models.package import ModelPackage, save_model
    from plinth.models.signature import ColumnSpec, ModelSignature, TensorSpec, infer_signature

_EXPORTS = {
    "ColumnSpec": "plinth.models.signature",
    "LoadedModel": "plinth.models.loader",
    "ModelInfo": "plinth.models.log",
    "ModelInput": "plinth.models.loader",
    "ModelMetadata": "plinth.models.loader",
    "ModelPackage": "plinth.models.package",
    "ModelSignature": "plinth.models.signature",
    "Predictions": "plinth.models.loader",
    "PythonModel": "plinth.models.flavors.pyfunc",
    "PythonModelContext": "plinth.models.flavors.pyfunc",
    "SignatureWarning": "plinth.models.enforce",
    "TensorSpec": "plinth.models.signature",
    "infer_signature": "plinth.models.signature",
    "load_model": "plinth.models.loader",
    "load_package": "plinth.models.loader",
    "log_model": "plinth.models.log",
    "save_model": "plinth.models.package",
}

__all__ = [
    "ColumnSpec",
    "LoadedModel",
    "ModelInfo",
    "ModelInput",
    "ModelMetadata",
    "ModelPackage",
    "ModelSignature",
    "Predictions",
    "PythonModel",
    "PythonModelContext",
    "SignatureWarning",
    "TensorSpec",
    "infer_signature",
    "load_model",
    "load_package",
    "log_model",
    "save_model",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'plinth.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
