"""A package whose bytes changed after it was saved fails to load, naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.models.conftest import Echo, fit

from plinth.errors import ConflictError, ModelIntegrityError
from plinth.models import load_model, save_model


def saved(kind: str, tmp_path: Path) -> Path:
    fitted = fit(kind, tmp_path)
    return save_model(fitted.model, tmp_path / "pkg", artifacts=fitted.artifacts).path


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_the_model_file_fails_naming_it(tmp_path: Path) -> None:
    package = saved("sklearn", tmp_path)
    flip_a_byte(package / "model.pkl")

    with pytest.raises(
        ModelIntegrityError, match=r"model\.pkl: its sha256 does not match"
    ) as caught:
        load_model(package)

    assert caught.value.details["path"] == "model.pkl"
    assert isinstance(caught.value, ConflictError)


def test_a_deleted_file_fails_naming_it(tmp_path: Path) -> None:
    package = saved("xgboost", tmp_path)
    (package / "requirements.txt").unlink()

    with pytest.raises(ModelIntegrityError, match=r"requirements\.txt: the file is missing"):
        load_model(package)


def test_an_edited_mlmodel_fails_naming_it(tmp_path: Path) -> None:
    package = saved("sklearn", tmp_path)
    mlmodel = package / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("predict_fn: predict", "predict_fn: score"))

    with pytest.raises(ModelIntegrityError, match="MLmodel: its content changed"):
        load_model(package)


def test_a_file_slipped_into_an_artifact_directory_is_not_loaded(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "vocab.txt").write_text("gold\nbasic\n")
    package = save_model(Echo(), tmp_path / "pkg", artifacts={"assets": str(assets)}).path
    (package / "artifacts" / "assets" / "assets" / "extra.py").write_text("print('hello')")

    with pytest.raises(ModelIntegrityError, match=r"extra\.py: no digest was recorded"):
        load_model(package)


def test_reformatting_mlmodel_without_changing_values_still_verifies(tmp_path: Path) -> None:
    import yaml

    package = saved("sklearn", tmp_path)
    mlmodel = package / "MLmodel"
    mlmodel.write_text(yaml.safe_dump(yaml.safe_load(mlmodel.read_text()), sort_keys=True))

    assert load_model(package).metadata.verified
