"""What every flavor module provides: recognise a model object, save it in MLflow's layout
for that flavor, and load it back as a predict function.

A flavor module imports its library (xgboost, onnxruntime ...) only inside these
functions, so ``import plinth`` costs none of them.
"""

from __future__ import annotations

import pickle
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from plinth.errors import InvalidArgumentError
from plinth.models.mlmodel import MLmodel, PackageFiles

PredictFn = Callable[[Any], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedFlavor:
    """What a flavor wrote into a package directory.

    Attributes:
        config: The flavor's own ``MLmodel`` section (``None`` for pure pyfunc models).
        pyfunc: The ``python_function`` section: ``loader_module`` and its data path;
            ``env`` and ``python_version`` are added by the package writer.
        requirements: Pinned pip requirements of the flavor's libraries.
        example_predict: Predicts with the in-memory model, to infer the signature's
            outputs from the input example; ``None`` where that needs a loaded package.
    """

    config: dict[str, object] | None
    pyfunc: dict[str, object]
    requirements: list[str]
    example_predict: PredictFn | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedFlavor:
    """A model loaded from a package.

    Attributes:
        predict: Called with the enforced input; usually the model's own bound ``predict``,
            so Plinth adds no call of its own.
        raw_model: The library object (estimator, Booster, InferenceSession, PythonModel).
    """

    predict: PredictFn
    raw_model: object


@dataclass(frozen=True, slots=True, kw_only=True)
class Flavor:
    """One model flavor.

    Attributes:
        name: The ``MLmodel`` flavor key (``sklearn``, ``xgboost``, ``python_function`` ...).
        loader_module: The ``python_function.loader_module`` MLflow loads it with.
        is_model: Whether an object is a model of this flavor.
        save: Writes the model's files into a directory; the third argument holds extra
            artifacts (only Python models take them).
        load: Loads the model from a package.
    """

    name: str
    loader_module: str
    is_model: Callable[[object], bool]
    save: Callable[[Any, Path, Mapping[str, str]], SavedFlavor]
    load: Callable[[PackageFiles, MLmodel], LoadedFlavor]


def module_roots(model: object) -> set[str]:
    """The top-level packages of the classes ``model`` is an instance of (its MRO), so a
    flavor recognises its models without importing its library."""
    return {cls.__module__.partition(".")[0] for cls in type(model).__mro__}


def pinned(distribution: str) -> str:
    """``name==version`` of an installed distribution (just ``name`` when not installed)."""
    try:
        return f"{distribution}=={metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return distribution


def python_version() -> str:
    return platform.python_version()


def no_artifacts(flavor: str, artifacts: Mapping[str, str]) -> None:
    """Only Python models carry extra artifacts; anything else gets a clear error (checked
    by ``save_model`` before any flavor's ``save`` runs)."""
    if artifacts:
        raise InvalidArgumentError(
            f"artifacts= is for plinth.models.PythonModel; a {flavor} model keeps everything "
            "it needs in its own file."
        )


def load_pickle(path: Path) -> Any:
    """Unpickle a model file (pickle or cloudpickle output; the latter needs cloudpickle
    importable). Like any pickle this runs code from the file: the package digests are what
    tell a file Plinth wrote from one somebody swapped."""
    with path.open("rb") as fh:
        return pickle.load(fh)


def dump_pickle(model: object, path: Path) -> None:
    with path.open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.DEFAULT_PROTOCOL)


def check_serialization(flavor: str, config: Mapping[str, object], default: str) -> None:
    """Refuse formats Plinth cannot read (MLflow's default ``skops`` needs skops)."""
    fmt = str(config.get("serialization_format") or default)
    if fmt not in ("pickle", "cloudpickle"):
        raise InvalidArgumentError(
            f"This {flavor} package is serialized as {fmt!r}; Plinth loads 'pickle' and "
            f"'cloudpickle'. Save it with mlflow's serialization_format='cloudpickle' or with "
            "plinth.models.save_model."
        )


def config_str(config: Mapping[str, object], key: str, default: str | None = None) -> str:
    """A string entry of an MLmodel section.

    Raises:
        InvalidArgumentError: the entry is missing and has no default.
    """
    value = config.get(key, default)
    if value is None:
        raise InvalidArgumentError(f"MLmodel flavor section has no {key!r} entry.")
    return str(value)
