"""Custom models: subclass :class:`PythonModel`, as with ``mlflow.pyfunc.PythonModel``.

The package is MLflow's pyfunc layout (``loader_module: mlflow.pyfunc.model``, the instance
cloudpickled to ``python_model.pkl``, extra files under ``artifacts/``), so
``mlflow.pyfunc.load_model`` runs it too (it needs ``plinth`` importable, for the base
class). Loading calls ``load_context`` once; each predict calls ``predict(context, input)``.
"""

from __future__ import annotations

import inspect
import shutil
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from plinth.errors import InvalidArgumentError
from plinth.models.flavors.base import (
    Flavor,
    LoadedFlavor,
    PredictFn,
    SavedFlavor,
    config_str,
    load_pickle,
    pinned,
)
from plinth.models.mlmodel import MLmodel, PackageFiles

NAME = "python_function"
LOADER_MODULE = "mlflow.pyfunc.model"
MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


@dataclass(frozen=True, slots=True, kw_only=True)
class PythonModelContext:
    """What ``load_context`` and ``predict`` receive.

    Attributes:
        artifacts: Artifact name -> local path of its copy inside the loaded package.
        model_config: Configuration passed at load time (MLflow's ``model_config``).
    """

    artifacts: dict[str, str]
    model_config: dict[str, object] = field(default_factory=dict)


class _NoTypeHints:
    """MLflow's pyfunc wrapper reads ``python_model.predict_type_hints`` to convert inputs;
    a Plinth model declares none, so inputs reach ``predict`` as they are."""

    input = None
    output = None


class PythonModel(ABC):
    """Base class for models that are not one of the library flavors.

    Example::

        class Doubler(plinth.models.PythonModel):
            def load_context(self, context):
                self.factor = float(Path(context.artifacts["factor"]).read_text())

            def predict(self, context, model_input):
                return model_input["x"] * self.factor
    """

    def load_context(self, context: PythonModelContext) -> None:  # noqa: B027 - optional hook
        """Called once when the model loads: read ``context.artifacts`` here."""

    @abstractmethod
    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        """Predict for ``model_input`` (the signature-enforced DataFrame, ndarray ...)."""

    @property
    def predict_type_hints(self) -> _NoTypeHints:
        return _NoTypeHints()


def is_model(model: object) -> bool:
    return isinstance(model, PythonModel)


def save(model: object, path: Path, artifacts: Mapping[str, str]) -> SavedFlavor:
    try:
        import cloudpickle
    except ModuleNotFoundError as exc:
        raise InvalidArgumentError(
            "Saving a PythonModel needs cloudpickle (pip install cloudpickle), the format "
            "MLflow reads python_model.pkl with."
        ) from exc
    pyfunc: dict[str, object] = {
        "cloudpickle_version": cloudpickle.__version__,
        "code": None,
        "loader_module": LOADER_MODULE,
        "python_model": MODEL_FILE,
        "streamable": False,
    }
    if artifacts:
        pyfunc["artifacts"] = _copy_artifacts(path, artifacts)
    with (path / MODEL_FILE).open("wb") as fh:
        cloudpickle.dump(model, fh)
    return SavedFlavor(
        config=None,
        pyfunc=pyfunc,
        requirements=[pinned("cloudpickle"), pinned("plinth")],
    )


def load(files: PackageFiles, mlmodel: MLmodel) -> LoadedFlavor:
    config = mlmodel.pyfunc
    if "model_code_path" in config:
        raise InvalidArgumentError(
            "This pyfunc package is an MLflow 'model from code'; Plinth loads pickled "
            "python_model packages only."
        )
    model = load_pickle(files.file(config_str(config, "python_model")))
    context = PythonModelContext(artifacts=_artifact_paths(files, config.get("artifacts")))
    model.load_context(context)
    return LoadedFlavor(predict=_bind_predict(model, context), raw_model=model)


def _bind_predict(model: Any, context: PythonModelContext) -> PredictFn:
    # MLflow 3 models may define predict(self, model_input) without a context; MLflow's
    # rule: a parameter named "context", or two parameters besides "params".
    parameters = inspect.signature(model.predict).parameters
    takes_context = "context" in parameters or len([p for p in parameters if p != "params"]) == 2
    predict: PredictFn = partial(model.predict, context) if takes_context else model.predict
    return predict


def _copy_artifacts(path: Path, artifacts: Mapping[str, str]) -> dict[str, object]:
    saved: dict[str, object] = {}
    for name, source in artifacts.items():
        # save_model checked the names and that each source exists (check_save_arguments).
        local = Path(source).expanduser()
        relative = f"{ARTIFACTS_DIR}/{name}/{local.name}"
        target = path / relative
        target.parent.mkdir(parents=True)
        if local.is_dir():
            shutil.copytree(local, target)
        else:
            shutil.copy2(local, target)
        saved[name] = {"path": relative, "uri": str(source)}
    return saved


def _artifact_paths(files: PackageFiles, declared: object) -> dict[str, str]:
    if not isinstance(declared, dict):
        return {}
    paths = {}
    for name, info in declared.items():
        relative = info.get("path") if isinstance(info, dict) else None
        if not relative:
            raise InvalidArgumentError(f"MLmodel artifact {name!r} has no 'path'.")
        paths[str(name)] = str(files.tree(str(relative)))
    return paths


FLAVOR = Flavor(name=NAME, loader_module=LOADER_MODULE, is_model=is_model, save=save, load=load)
