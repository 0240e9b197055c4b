"""Write a model as an MLflow ``MLmodel`` package directory.

``save_model`` picks the flavor from the object and writes, in MLflow's layout::

    MLmodel                       flavor sections + python_function, signature, run and model
                                  ids, and the sha256 of every other file (under `plinth`)
    model.pkl | model.ubj | model.lgb | model.onnx | python_model.pkl (+ artifacts/)
    requirements.txt              the flavor's libraries, pinned to the installed versions
    python_env.yaml, conda.yaml   the environment MLflow rebuilds for `mlflow models serve`
    input_example.json            the example, as MLflow stores it (pandas "split" or a list)
    serving_input_example.json    the same as a scoring-server request body
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from plinth.entities.validation import validate_mapping
from plinth.errors import InvalidArgumentError
from plinth.models.flavors import SavedFlavor, flavor_for
from plinth.models.flavors.base import Flavor, no_artifacts, pinned, python_version
from plinth.models.mlmodel import PYFUNC_FLAVOR, write_mlmodel
from plinth.models.signature import ModelSignature, infer_signature, is_records

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PLINTH_VERSION = "0.1.0"
INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_INPUT_FILE = "serving_input_example.json"
REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPackage:
    """A package as ``save_model`` wrote it.

    Attributes:
        path: The package directory.
        flavor: The flavor it was saved as (``sklearn``, ``python_function`` ...).
        signature: The signature written to ``MLmodel``, given or inferred.
        model_uuid: The package's id in ``MLmodel``.
    """

    path: Path
    flavor: str
    signature: ModelSignature | None
    model_uuid: str


def save_model(
    model: object,
    path: str | Path,
    *,
    signature: ModelSignature | None = None,
    input_example: object = None,
    artifacts: Mapping[str, str | Path] | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
) -> ModelPackage:
    """Save ``model`` as an MLmodel package at ``path``.

    Args:
        model: A scikit-learn estimator or Pipeline, an XGBoost or LightGBM model (Booster
            or scikit-learn API), an ``onnx.ModelProto`` or a ``PythonModel``.
        path: The package directory; it must not exist or be empty.
        signature: The model signature; inferred from ``input_example`` when omitted; MLflow's
            ``ModelSignature`` (from ``mlflow.models.infer_signature``) is taken too.
        input_example: A DataFrame, list of dicts or ndarray, stored with the package.
        artifacts: Name -> local file or directory, copied into a ``PythonModel``'s package
            and passed to its ``load_context`` as ``context.artifacts``.
        run_id: The run the package belongs to, recorded in ``MLmodel``.
        model_id: The MLflow 3 logged model it belongs to, recorded in ``MLmodel``.

    Returns:
        The written package.

    Raises:
        InvalidArgumentError: an unsupported model or input example, ``path`` is a non-empty
            directory, or ``artifacts`` given for a model that is not a ``PythonModel``.
    """
    checked = check_save_arguments(
        model, signature=signature, input_example=input_example, artifacts=artifacts
    )
    flavor, signature, example = checked.flavor, checked.signature, checked.example
    target = _check_target(Path(path))
    # Written next to the target and renamed into place: a failed save leaves nothing.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would make the package private to its writer
    try:
        saved = flavor.save(model, staging, checked.artifacts)
        if signature is None and example is not None:
            signature = infer_signature(example, _example_output(saved, example))
        document = _document(flavor.name, saved, signature, run_id=run_id, model_id=model_id)
        if example is not None:
            document["saved_input_example_info"] = _write_example(staging, example)
        _write_environment(staging, saved.requirements)
        write_mlmodel(staging, document, plinth_version=PLINTH_VERSION)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ModelPackage(
        path=target, flavor=flavor.name, signature=signature, model_uuid=str(document["model_uuid"])
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveArguments:
    """``save_model``'s arguments, checked: the flavor, the signature as Plinth's own, the
    input example as a DataFrame or ndarray and the artifacts as name -> local path."""

    flavor: Flavor
    signature: ModelSignature | None
    example: pd.DataFrame | np.ndarray[Any, Any] | None
    artifacts: dict[str, str]


def check_save_arguments(
    model: object,
    *,
    signature: object = None,
    input_example: object = None,
    artifacts: object = None,
) -> SaveArguments:
    """Check what ``save_model`` takes before a file is written (``log_model`` calls this
    before it creates anything in the store, so a bad argument leaves nothing behind).

    Raises:
        InvalidArgumentError: an unsupported model, signature, input example or artifacts.
    """
    flavor = flavor_for(model)
    return SaveArguments(
        flavor=flavor,
        signature=ModelSignature.of(signature),
        example=_example_data(input_example),
        artifacts=_artifact_sources(flavor, artifacts),
    )


def _artifact_sources(flavor: Flavor, artifacts: object) -> dict[str, str]:
    sources = validate_mapping("artifacts", artifacts)
    if sources and flavor.name != PYFUNC_FLAVOR:
        no_artifacts(flavor.name, sources)
    checked = {}
    for name, source in sources.items():
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise InvalidArgumentError(
                f"Artifact name {name!r}: names are single path components such as 'weights'."
            )
        if not isinstance(source, str | os.PathLike):
            raise InvalidArgumentError(
                f"artifacts[{name!r}] must be a local path (str or Path), got "
                f"{type(source).__name__}."
            )
        if not Path(source).expanduser().exists():
            raise InvalidArgumentError(
                f"artifacts[{name!r}]: {str(source)!r} is not a local file or directory."
            )
        checked[name] = os.fspath(source)
    return checked


def _check_target(path: Path) -> Path:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InvalidArgumentError(f"Cannot save a model to {path}: it exists and is not empty.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _document(
    flavor: str,
    saved: SavedFlavor,
    signature: ModelSignature | None,
    *,
    run_id: str | None,
    model_id: str | None,
) -> dict[str, object]:
    pyfunc = {
        **saved.pyfunc,
        "env": {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE},
        "python_version": python_version(),
    }
    flavors: dict[str, object] = {PYFUNC_FLAVOR: dict(sorted(pyfunc.items()))}
    if saved.config is not None:
        flavors[flavor] = saved.config
    document: dict[str, object] = {
        "flavors": flavors,
        "model_id": model_id,
        "model_uuid": uuid.uuid4().hex,
        "run_id": run_id,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    if signature is not None:
        document["signature"] = signature.to_mlmodel()
    return document


def _example_data(example: object) -> pd.DataFrame | np.ndarray[Any, Any] | None:
    """The input example as a DataFrame or ndarray (records become a DataFrame)."""
    if example is None:
        return None
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame | np.ndarray):
        return example
    if is_records(example):
        return pd.DataFrame.from_records(example)  # type: ignore[arg-type]
    raise InvalidArgumentError(
        f"input_example must be a pandas DataFrame, a list of dicts or a numpy ndarray, not "
        f"{type(example).__name__}."
    )


def _example_output(saved: SavedFlavor, example: object) -> object:
    """The model's predictions on its input example, for the signature's outputs."""
    if saved.example_predict is None:
        return None
    try:
        return saved.example_predict(example)
    except Exception as exc:  # the model's own code: any error means a bad example
        raise InvalidArgumentError(
            f"The model cannot predict its input_example ({type(exc).__name__}: {exc}); "
            "pass an example of exactly the model's input columns."
        ) from exc


def _write_example(path: Path, example: pd.DataFrame | np.ndarray[Any, Any]) -> dict[str, str]:
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        stored: object = {"columns": split["columns"], "data": split["data"]}
        serving: object = {"dataframe_split": stored}
        info = {"type": "dataframe", "pandas_orient": "split"}
    else:
        stored = example.tolist()
        serving = {"inputs": stored}
        info = {"type": "ndarray"}
    (path / INPUT_EXAMPLE_FILE).write_text(json.dumps(stored, default=str))
    (path / SERVING_INPUT_FILE).write_text(json.dumps(serving, indent=2, default=str))
    return {
        "artifact_path": INPUT_EXAMPLE_FILE,
        **info,
        "serving_input_path": SERVING_INPUT_FILE,
    }


def _write_environment(path: Path, requirements: list[str]) -> None:
    python = python_version()
    (path / REQUIREMENTS_FILE).write_text("\n".join(requirements) + "\n")
    python_env = {
        "python": python,
        "build_dependencies": [pinned("pip"), pinned("setuptools"), "wheel"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (path / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, sort_keys=False))
    conda = {
        "name": "plinth-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", "pip", {"pip": requirements}],
    }
    (path / CONDA_FILE).write_text(yaml.safe_dump(conda, sort_keys=False))
