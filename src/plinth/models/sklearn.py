"""Save a scikit-learn estimator as an MLflow ``MLmodel`` package (pickle serialisation),
so ``mlflow.sklearn.load_model`` and ``mlflow.pyfunc.load_model`` read it as is."""

from __future__ import annotations

import hashlib
import pickle
import platform
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

MODEL_FILE = "model.pkl"


def save_sklearn_model(model: Any, path: Path, *, run_id: str | None = None) -> Path:
    """Write ``model`` as an MLmodel directory at ``path`` (created; must not exist)."""
    import sklearn

    path.mkdir(parents=True, exist_ok=False)
    with (path / MODEL_FILE).open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.DEFAULT_PROTOCOL)
    digest = hashlib.sha256((path / MODEL_FILE).read_bytes()).hexdigest()
    python_version = platform.python_version()
    mlmodel: dict[str, Any] = {
        "artifact_path": path.name,
        "flavors": {
            "python_function": {
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.sklearn",
                "model_path": MODEL_FILE,
                "predict_fn": "predict",
                "python_version": python_version,
            },
            "sklearn": {
                "code": None,
                "pickled_model": MODEL_FILE,
                "serialization_format": "pickle",
                "sklearn_version": sklearn.__version__,
            },
        },
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "plinth": {"sha256": {MODEL_FILE: digest}},
    }
    if run_id:
        mlmodel["run_id"] = run_id
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=False))
    requirements = f"scikit-learn=={sklearn.__version__}\n"
    (path / "requirements.txt").write_text(requirements)
    (path / "python_env.yaml").write_text(
        yaml.safe_dump(
            {
                "python": python_version,
                "build_dependencies": ["pip"],
                "dependencies": ["-r requirements.txt"],
            },
            sort_keys=False,
        )
    )
    (path / "conda.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "plinth_env",
                "channels": ["conda-forge"],
                "dependencies": [
                    f"python={python_version}",
                    "pip",
                    {"pip": [requirements.strip()]},
                ],
            },
            sort_keys=False,
        )
    )
    return path
