"""The bench's model, trained the same way in every venv: ``python _serving_model.py
TRAIN.parquet OUT_DIR`` saves it with ``mlflow.sklearn.save_model`` (run in the MLflow venv);
``fit`` is imported by ``bench/serving.py`` for Plinth."""

from __future__ import annotations

import sys
from typing import Any

import pandas as pd


def fit(frame: pd.DataFrame, features: list[str]) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(frame[features], frame["label"])


def main() -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    frame = pd.read_parquet(sys.argv[1])
    features = [c for c in frame.columns if c != "label"]
    model = fit(frame, features)
    example = frame[features].head(3)
    mlflow.sklearn.save_model(
        model,
        sys.argv[2],
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
    )


if __name__ == "__main__":
    main()
