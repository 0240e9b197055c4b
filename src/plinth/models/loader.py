"""``load_model(uri)``: a model package, verified and ready to predict.

Loading reads ``MLmodel``, checks the sha256 of every file against the digests Plinth
recorded (``ModelIntegrityError`` names the first file that differs; MLflow's packages have
no digests and load unverified), loads the flavor and plans the signature enforcement once.
Each ``predict`` then is the plan (a no-op for input that already matches) plus the model's
own predict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from plinth.client import Client
from plinth.errors import InvalidArgumentError
from plinth.models.enforce import InputPlan, input_plan
from plinth.models.flavors import FLAVORS, Flavor, flavor_for_loader
from plinth.models.flavors.base import PredictFn
from plinth.models.mlmodel import MLmodel, PackageFiles, read_mlmodel, verify_package
from plinth.models.signature import ModelSignature
from plinth.models.uri import resolve_model_uri
from plinth.tracking import fluent

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy as np
    import pandas as pd

ModelInput: TypeAlias = "pd.DataFrame | np.ndarray[Any, Any] | Sequence[Mapping[Any, Any]]"
Predictions: TypeAlias = (
    "np.ndarray[Any, Any] | pd.DataFrame | pd.Series[Any] | list[Any] | dict[str, Any]"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelMetadata:
    """What a loaded model is and where it came from.

    Attributes:
        model_uri: The URI it was loaded from.
        path: The local package directory.
        flavor: The flavor it loaded as (``sklearn``, ``xgboost``, ``lightgbm``, ``onnx``,
            ``python_function``).
        signature: The signature enforced at predict time, if the package has one.
        run_id: The run that logged it (from ``MLmodel``, else from the URI).
        model_id: The MLflow 3 logged model it belongs to.
        model_uuid: The package's id.
        utc_time_created: When it was saved.
        verified: Whether its files were checked against recorded digests (False for
            packages written by MLflow, which records none).
    """

    model_uri: str
    path: Path
    flavor: str
    signature: ModelSignature | None
    run_id: str | None
    model_id: str | None
    model_uuid: str | None
    utc_time_created: str | None
    verified: bool


class LoadedModel:
    """A model ready to predict; see ``load_model``."""

    __slots__ = ("_plan", "_predict", "_raw_model", "metadata")

    def __init__(
        self, *, metadata: ModelMetadata, plan: InputPlan, predict: PredictFn, raw_model: object
    ) -> None:
        self.metadata = metadata
        self._plan = plan
        self._predict = predict
        self._raw_model = raw_model

    def predict(self, data: ModelInput) -> Predictions:
        """Predict on a DataFrame, an ndarray or a list of dicts (JSON records).

        The input is checked against the signature first: safe conversions (int -> double)
        happen, extra columns are dropped with a ``SignatureWarning``.

        Returns:
            The flavor's predictions: an ndarray for scikit-learn, XGBoost and LightGBM;
            for ONNX a dict of output name -> array (a DataFrame for DataFrame input); for a
            ``PythonModel`` whatever its ``predict`` returns.

        Raises:
            InvalidArgumentError: a missing column, a column of a type that does not convert
                safely, or a tensor of the wrong dtype or shape; the message names it.
        """
        result: Predictions = self._predict(self._plan(data))
        return result

    def prepare(self, data: ModelInput) -> object:
        """Check and convert ``data`` to what the model takes, without predicting; raises
        like ``predict``. Servers prepare each request alone, then predict many at once
        with ``predict_prepared``, so one bad request cannot fail its batch."""
        return self._plan(data)

    def predict_prepared(self, data: object) -> Predictions:
        """Predict input that ``prepare`` returned (or a concatenation of such inputs)."""
        result: Predictions = self._predict(data)
        return result

    @property
    def raw_model(self) -> object:
        """The library's model object (estimator, Booster, InferenceSession, PythonModel)."""
        return self._raw_model

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.metadata.flavor!r}, uri={self.metadata.model_uri!r})"


def load_model(
    model_uri: str | Path, *, client: Client | None = None, dst_path: str | Path | None = None
) -> LoadedModel:
    """Load a model package by URI.

    Args:
        model_uri: ``runs:/RUN_ID/path``, ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``,
            ``models:/NAME/STAGE``, ``models:/m-<id>`` (an MLflow 3 logged model), an
            artifact location (``s3://``, ``mlflow-artifacts:/``), ``file://`` or a path.
        client: Resolves runs, registry names and artifacts; defaults to the fluent API's
            client (``plinth.get_client()``), built only for URIs that need one.
        dst_path: Where remote packages are downloaded (default
            ``<PLINTH_HOME>/cache/models``).

    Returns:
        The loaded model.

    Raises:
        NotFoundError: nothing at the URI, or no ``MLmodel`` there.
        ModelIntegrityError: a package file does not match its recorded sha256.
        InvalidArgumentError: a malformed URI, or a flavor Plinth does not load.
    """
    uri = str(model_uri)
    resolved = resolve_model_uri(
        uri,
        client=client or fluent.get_client,
        cache_dir=Path(dst_path) if dst_path is not None else None,
    )
    return load_package(resolved.path, model_uri=uri, run_id=resolved.run_id)


def load_package(
    path: str | Path, *, model_uri: str | None = None, run_id: str | None = None
) -> LoadedModel:
    """Load the package in the local directory ``path``; see ``load_model``.

    Args:
        path: The package directory.
        model_uri: Recorded in the metadata (defaults to the path).
        run_id: The run to report when ``MLmodel`` names none.
    """
    root = Path(path)
    mlmodel = read_mlmodel(root)
    verified = verify_package(root, mlmodel)
    flavor = _flavor(mlmodel)
    loaded = flavor.load(PackageFiles(root, mlmodel.digests), mlmodel)
    metadata = ModelMetadata(
        model_uri=model_uri or str(root),
        path=root,
        flavor=flavor.name,
        signature=mlmodel.signature,
        run_id=mlmodel.run_id or run_id,
        model_id=mlmodel.model_id,
        model_uuid=mlmodel.model_uuid,
        utc_time_created=mlmodel.utc_time_created,
        verified=verified,
    )
    return LoadedModel(
        metadata=metadata,
        plan=input_plan(mlmodel.signature),
        predict=loaded.predict,
        raw_model=loaded.raw_model,
    )


def _flavor(mlmodel: MLmodel) -> Flavor:
    loader_module = mlmodel.pyfunc.get("loader_module")
    if loader_module:
        return flavor_for_loader(str(loader_module))
    for flavor in FLAVORS:
        if flavor.name in mlmodel.flavors:
            return flavor
    raise InvalidArgumentError(
        "The package has no python_function loader and no flavor Plinth loads "
        f"(it has: {', '.join(sorted(mlmodel.flavors)) or 'none'})."
    )
