"""Every flavor round-trips (save -> load -> the same predictions as the library itself), and
packages travel both ways between Plinth and MLflow."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import yaml
from tests.models.conftest import (
    FLAVOR_KINDS,
    assert_same_predictions,
    example_of,
    fit,
    make_frame,
    make_labels,
    quietly,
)

from plinth.errors import InvalidArgumentError
from plinth.models import load_model, save_model

EXPECTED_FLAVOR = {
    "sklearn": ("sklearn", "mlflow.sklearn"),
    "sklearn_pipeline": ("sklearn", "mlflow.sklearn"),
    "xgboost": ("xgboost", "mlflow.xgboost"),
    "xgboost_booster": ("xgboost", "mlflow.xgboost"),
    "lightgbm": ("lightgbm", "mlflow.lightgbm"),
    "lightgbm_booster": ("lightgbm", "mlflow.lightgbm"),
    "onnx": ("onnx", "mlflow.onnx"),
    "pyfunc": ("python_function", "mlflow.pyfunc.model"),
}


@pytest.mark.parametrize("kind", FLAVOR_KINDS)
def test_a_saved_model_loads_and_predicts_like_the_library(kind: str, tmp_path: Path) -> None:
    fitted = fit(kind, tmp_path)
    save_model(
        fitted.model,
        tmp_path / "pkg",
        input_example=example_of(fitted),
        artifacts=fitted.artifacts,
    )

    loaded = load_model(tmp_path / "pkg")

    assert_same_predictions(loaded.predict(fitted.inputs), fitted.raw_predict(fitted.inputs))
    assert loaded.metadata.flavor == EXPECTED_FLAVOR[kind][0]
    assert loaded.metadata.verified


@pytest.mark.parametrize("kind", FLAVOR_KINDS)
def test_the_package_names_mlflows_loader_for_its_flavor(kind: str, tmp_path: Path) -> None:
    fitted = fit(kind, tmp_path)

    save_model(fitted.model, tmp_path / "pkg", artifacts=fitted.artifacts)

    mlmodel = yaml.safe_load((tmp_path / "pkg" / "MLmodel").read_text())
    flavor, loader = EXPECTED_FLAVOR[kind]
    assert mlmodel["flavors"]["python_function"]["loader_module"] == loader
    assert flavor in mlmodel["flavors"]


@pytest.mark.parametrize("kind", FLAVOR_KINDS)
def test_mlflow_loads_a_plinth_package_and_predicts_the_same(
    kind: str, tmp_path: Path, mlflow: ModuleType
) -> None:
    fitted = fit(kind, tmp_path)
    save_model(
        fitted.model,
        tmp_path / "pkg",
        input_example=example_of(fitted),
        artifacts=fitted.artifacts,
    )

    by_mlflow = mlflow.pyfunc.load_model(str(tmp_path / "pkg")).predict(fitted.inputs)

    assert_same_predictions(by_mlflow, load_model(tmp_path / "pkg").predict(fitted.inputs))


def test_mlflow_reads_the_signature_plinth_wrote(tmp_path: Path, mlflow: ModuleType) -> None:
    fitted = fit("sklearn", tmp_path)
    save_model(fitted.model, tmp_path / "pkg", input_example=make_frame(3))

    signature = mlflow.models.Model.load(str(tmp_path / "pkg")).signature

    assert signature is not None
    assert signature.inputs.input_names() == ["tenure", "calls"]
    assert [t.name for t in signature.inputs.input_types()] == ["double", "long"]


# -- packages MLflow wrote ---------------------------------------------------------------------
Writer = Callable[[ModuleType, Any, str], None]


def _mlflow_sklearn(fmt: str) -> Writer:
    def save(mlflow: ModuleType, model: Any, path: str) -> None:
        mlflow.sklearn.save_model(model, path, serialization_format=fmt)

    return save


def _mlflow_xgboost(mlflow: ModuleType, model: Any, path: str) -> None:
    mlflow.xgboost.save_model(model, path)


def _mlflow_lightgbm(mlflow: ModuleType, model: Any, path: str) -> None:
    import lightgbm as lgb

    if isinstance(model, lgb.Booster):
        mlflow.lightgbm.save_model(model, path)
    else:
        mlflow.lightgbm.save_model(model, path, serialization_format="pickle")


def _mlflow_onnx(mlflow: ModuleType, model: Any, path: str) -> None:
    mlflow.onnx.save_model(model, path)


MLFLOW_WRITERS = [
    pytest.param("sklearn", _mlflow_sklearn("pickle"), "sklearn", id="sklearn-pickle"),
    pytest.param("sklearn_pipeline", _mlflow_sklearn("cloudpickle"), "sklearn", id="sklearn-cpk"),
    pytest.param("xgboost", _mlflow_xgboost, "xgboost", id="xgboost"),
    pytest.param("xgboost_booster", _mlflow_xgboost, "xgboost", id="xgboost-booster"),
    pytest.param("lightgbm", _mlflow_lightgbm, "lightgbm", id="lightgbm-pickle"),
    pytest.param("lightgbm_booster", _mlflow_lightgbm, "lightgbm", id="lightgbm-booster"),
    pytest.param("onnx", _mlflow_onnx, "onnx", id="onnx"),
]


@pytest.mark.parametrize(("kind", "write", "flavor"), MLFLOW_WRITERS)
def test_plinth_loads_a_package_mlflow_wrote(
    kind: str, write: Writer, flavor: str, tmp_path: Path, mlflow: ModuleType
) -> None:
    fitted = fit(kind, tmp_path)
    quietly(lambda: write(mlflow, fitted.model, str(tmp_path / "pkg")))

    loaded = load_model(tmp_path / "pkg")

    assert_same_predictions(loaded.predict(fitted.inputs), fitted.raw_predict(fitted.inputs))
    assert loaded.metadata.flavor == flavor
    assert not loaded.metadata.verified  # MLflow records no digests: nothing to check


def test_plinth_loads_an_mlflow_python_model_with_artifacts_and_signature(
    tmp_path: Path, mlflow: ModuleType
) -> None:
    base: Any = mlflow.pyfunc.PythonModel

    class AddOffset(base):  # type: ignore[misc]
        def load_context(self, context: Any) -> None:
            self.offset = float(Path(context.artifacts["offset"]).read_text())

        def predict(self, context: Any, model_input: Any) -> Any:
            return model_input["tenure"] + self.offset

    (tmp_path / "offset.txt").write_text("100")
    frame = make_frame(5)
    quietly(
        lambda: mlflow.pyfunc.save_model(
            str(tmp_path / "pkg"),
            python_model=AddOffset(),
            artifacts={"offset": str(tmp_path / "offset.txt")},
            input_example=frame.head(2),
        )
    )

    loaded = load_model(tmp_path / "pkg")

    np.testing.assert_allclose(np.asarray(loaded.predict(frame)), frame["tenure"] + 100)
    assert loaded.metadata.flavor == "python_function"
    assert loaded.metadata.signature is not None
    assert [s.name for s in loaded.metadata.signature.inputs] == ["tenure", "calls"]


def test_an_mlflow_skops_package_is_refused_with_a_way_out(
    tmp_path: Path, mlflow: ModuleType
) -> None:
    fitted = fit("sklearn", tmp_path)
    quietly(lambda: _mlflow_sklearn("pickle")(mlflow, fitted.model, str(tmp_path / "pkg")))
    mlmodel_path = tmp_path / "pkg" / "MLmodel"
    mlmodel = yaml.safe_load(mlmodel_path.read_text())
    mlmodel["flavors"]["sklearn"]["serialization_format"] = "skops"
    mlmodel_path.write_text(yaml.safe_dump(mlmodel))

    with pytest.raises(InvalidArgumentError, match=r"'skops'.*cloudpickle"):
        load_model(tmp_path / "pkg")


# -- what a package holds ----------------------------------------------------------------------
def test_a_package_holds_requirements_environment_and_input_examples(tmp_path: Path) -> None:
    import sklearn

    fitted = fit("sklearn", tmp_path)

    save_model(fitted.model, tmp_path / "pkg", input_example=make_frame(2), run_id="r1")

    pkg = tmp_path / "pkg"
    assert (pkg / "requirements.txt").read_text() == f"scikit-learn=={sklearn.__version__}\n"
    assert yaml.safe_load((pkg / "python_env.yaml").read_text())["dependencies"] == [
        "-r requirements.txt"
    ]
    example = json.loads((pkg / "input_example.json").read_text())
    assert example["columns"] == ["tenure", "calls"]
    serving = json.loads((pkg / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": example}
    mlmodel = yaml.safe_load((pkg / "MLmodel").read_text())
    assert mlmodel["run_id"] == "r1"
    assert mlmodel["saved_input_example_info"]["type"] == "dataframe"
    assert sorted(mlmodel["plinth"]["sha256"]) == sorted(
        p.name for p in pkg.iterdir() if p.name != "MLmodel"
    )


def test_an_ndarray_example_is_stored_as_serving_inputs(tmp_path: Path) -> None:
    fitted = fit("onnx", tmp_path)

    save_model(fitted.model, tmp_path / "pkg", input_example=fitted.inputs[:2])

    serving = json.loads((tmp_path / "pkg" / "serving_input_example.json").read_text())
    np.testing.assert_allclose(serving["inputs"], fitted.inputs[:2], rtol=1e-6)


def test_an_example_the_model_cannot_predict_fails_and_leaves_nothing(tmp_path: Path) -> None:
    fitted = fit("sklearn", tmp_path)
    with_label = make_frame(3).assign(churned=[0, 1, 0])

    with pytest.raises(InvalidArgumentError, match="cannot predict its input_example"):
        save_model(fitted.model, tmp_path / "out" / "pkg", input_example=with_label)

    assert list((tmp_path / "out").iterdir()) == []


def test_saving_an_unsupported_object_lists_what_is_supported(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"scikit-learn.*PythonModel"):
        save_model(object(), tmp_path / "pkg")


def test_artifacts_are_only_for_python_models(tmp_path: Path) -> None:
    fitted = fit("sklearn", tmp_path)

    with pytest.raises(InvalidArgumentError, match="artifacts="):
        save_model(fitted.model, tmp_path / "pkg", artifacts={"x": str(tmp_path)})


def test_saving_into_a_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "keep.txt").write_text("mine")

    with pytest.raises(InvalidArgumentError, match="not empty"):
        save_model(fit("sklearn", tmp_path).model, tmp_path / "pkg")


def test_a_pipeline_trained_on_labels_predicts_them(tmp_path: Path) -> None:
    fitted = fit("sklearn_pipeline", tmp_path)
    save_model(fitted.model, tmp_path / "pkg")
    frame = make_frame(200, seed=3)

    predictions = np.asarray(load_model(tmp_path / "pkg").predict(frame))

    assert np.mean(predictions == make_labels(frame)) > 0.9
