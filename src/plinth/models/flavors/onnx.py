"""ONNX models (``onnx.ModelProto``), run with onnxruntime, as ``mlflow.onnx`` writes them.

Predictions follow ``mlflow.onnx``'s pyfunc: an ndarray (or a dict of named arrays) in, a
dict of output name -> array out; a DataFrame in, a DataFrame of outputs out. float64 input
is cast to float32 for ``tensor(float)`` inputs, as MLflow does, since JSON and pandas
produce float64 where ONNX graphs usually take float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plinth.errors import InvalidArgumentError
from plinth.models.flavors.base import (
    Flavor,
    LoadedFlavor,
    SavedFlavor,
    config_str,
    module_roots,
    pinned,
)
from plinth.models.mlmodel import MLmodel, PackageFiles

NAME = "onnx"
LOADER_MODULE = "mlflow.onnx"
MODEL_FILE = "model.onnx"
CPU = "CPUExecutionProvider"
_THREAD_OPTIONS = ("intra_op_num_threads", "inter_op_num_threads")


def is_model(model: object) -> bool:
    return "onnx" in module_roots(model) and type(model).__name__ == "ModelProto"


def save(model: Any, path: Path, artifacts: Mapping[str, str]) -> SavedFlavor:
    import onnx

    onnx.save_model(model, str(path / MODEL_FILE))
    config: dict[str, object] = {
        "code": None,
        "data": MODEL_FILE,
        "onnx_session_options": None,
        "onnx_version": onnx.__version__,
        "providers": [CPU],
    }
    return SavedFlavor(
        config=config,
        pyfunc={"loader_module": LOADER_MODULE, "data": MODEL_FILE},
        requirements=[pinned("onnx"), pinned("onnxruntime")],
    )


def load(files: PackageFiles, mlmodel: MLmodel) -> LoadedFlavor:
    import onnxruntime as ort

    config = mlmodel.flavors.get(NAME, {})
    path = files.file(str(config.get("data") or config_str(mlmodel.pyfunc, "data")))
    options = ort.SessionOptions()
    session_options = config.get("onnx_session_options")
    if isinstance(session_options, dict):
        for key in _THREAD_OPTIONS:
            if session_options.get(key):
                setattr(options, key, int(session_options[key]))
    session = ort.InferenceSession(
        str(path), sess_options=options, providers=_providers(config.get("providers"))
    )
    return LoadedFlavor(predict=OnnxPredictor(session).predict, raw_model=session)


def _providers(declared: object) -> list[str]:
    """The declared providers this onnxruntime has (a CUDA package loads on a CPU box)."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    entries = [declared] if isinstance(declared, str) else declared
    if not isinstance(entries, list):
        return [CPU]
    # MLflow writes (name, options) pairs as two-element lists.
    names = [str(e[0]) if isinstance(e, list | tuple) else str(e) for e in entries]
    return [n for n in names if n in available] or [CPU]


class OnnxPredictor:
    """Feeds an InferenceSession from ndarrays, dicts of arrays or DataFrames."""

    def __init__(self, session: Any) -> None:
        import numpy as np
        import pandas as pd

        self._session = session
        self._np, self._pd = np, pd
        self._inputs = [i.name for i in session.get_inputs()]
        self._float_inputs = {i.name for i in session.get_inputs() if i.type == "tensor(float)"}
        self._outputs = [o.name for o in session.get_outputs()]
        self._float32 = np.dtype("float32")
        self._float64 = np.dtype("float64")

    def predict(self, data: Any) -> Any:
        if isinstance(data, self._np.ndarray):
            if len(self._inputs) != 1:
                raise InvalidArgumentError(
                    f"This ONNX model has {len(self._inputs)} inputs "
                    f"({', '.join(self._inputs)}); pass a dict of arrays or a DataFrame."
                )
            return self._run({self._inputs[0]: data})
        if isinstance(data, Mapping):
            return self._run(dict(data))
        if isinstance(data, self._pd.DataFrame):
            return self._frame_outputs(self._run(self._frame_feed(data)))
        raise InvalidArgumentError(
            f"Cannot predict on {type(data).__name__}; an ONNX model takes an ndarray, a "
            "dict of arrays or a DataFrame."
        )

    def _run(self, feed: dict[str, Any]) -> dict[str, Any]:
        for name in self._float_inputs.intersection(feed):
            if feed[name].dtype == self._float64:
                feed[name] = feed[name].astype(self._float32)
        return dict(zip(self._outputs, self._session.run(self._outputs, feed), strict=True))

    def _frame_feed(self, frame: Any) -> dict[str, Any]:
        if len(self._inputs) == 1:
            return {self._inputs[0]: frame.to_numpy()}
        return {name: frame[name].to_numpy() for name in self._inputs}

    def _frame_outputs(self, outputs: dict[str, Any]) -> Any:
        columns = {}
        for name, value in outputs.items():
            array = self._np.asarray(value)
            # One row per input row: 2-D outputs (class probabilities) as one array per row.
            columns[name] = list(array) if array.ndim > 1 else array
        return self._pd.DataFrame(columns)


FLAVOR = Flavor(name=NAME, loader_module=LOADER_MODULE, is_model=is_model, save=save, load=load)
