"""The ``MLmodel`` file: MLflow's package manifest, plus Plinth's file digests.

Plinth writes the keys MLflow writes (``flavors``, ``signature``, ``run_id``, ``model_uuid``
...), so ``mlflow.pyfunc.load_model`` reads its packages, and reads MLflow's packages in turn.
Its own addition lives under one key that MLflow ignores::

    plinth:
      plinth_version: 0.1.0
      sha256:                       # every file of the package but MLmodel itself
        model.pkl: 9f2c...
        requirements.txt: 41ab...
      mlmodel_sha256: 77de...       # this document without the `plinth` key (canonical JSON)

Packages without that key (written by MLflow) load without verification.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from plinth.errors import InvalidArgumentError, ModelIntegrityError, NotFoundError
from plinth.models.signature import ModelSignature

MLMODEL_FILE = "MLmodel"
PYFUNC_FLAVOR = "python_function"
PLINTH_KEY = "plinth"

# libyaml when available: the pure-Python parser costs milliseconds per load.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True, slots=True, kw_only=True)
class MLmodel:
    """A parsed ``MLmodel`` file.

    Attributes:
        flavors: Flavor name -> that flavor's section (``python_function`` included).
        signature: The model signature, if the package has one.
        run_id: The run that logged the package.
        model_id: The MLflow 3 logged model (``m-...``) it belongs to.
        model_uuid: The package's own id.
        utc_time_created: When it was saved (``YYYY-mm-dd HH:MM:SS.ffffff``).
        digests: Relative path -> sha256 of every file; ``None`` for MLflow's packages.
        mlmodel_digest: sha256 of this document without the ``plinth`` key.
        document: The whole document as read.
    """

    flavors: dict[str, dict[str, object]]
    signature: ModelSignature | None = None
    run_id: str | None = None
    model_id: str | None = None
    model_uuid: str | None = None
    utc_time_created: str | None = None
    digests: dict[str, str] | None = None
    mlmodel_digest: str | None = None
    document: dict[str, object] = field(default_factory=dict)

    @property
    def pyfunc(self) -> dict[str, object]:
        """The ``python_function`` section (empty if the package has none)."""
        return self.flavors.get(PYFUNC_FLAVOR, {})


def read_mlmodel(model_dir: Path) -> MLmodel:
    """Parse ``model_dir/MLmodel``.

    Raises:
        NotFoundError: there is no ``MLmodel`` file (the directory is not a model package).
        InvalidArgumentError: the file is not an MLmodel document.
    """
    path = model_dir / MLMODEL_FILE
    if not path.is_file():
        raise NotFoundError(f"No model package at {model_dir}: it has no {MLMODEL_FILE} file.")
    return parse_mlmodel(path.read_bytes(), where=str(path))


def parse_mlmodel(data: bytes, *, where: str) -> MLmodel:
    """Parse the bytes of an ``MLmodel`` file read from ``where`` (named in errors).

    Raises:
        InvalidArgumentError: not YAML, or a document without a ``flavors`` map.
    """
    try:
        document = yaml.load(data, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise InvalidArgumentError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise InvalidArgumentError(f"{where} is not an MLmodel file: it has no 'flavors' map.")
    signature = document.get("signature")
    plinth = document.get(PLINTH_KEY)
    plinth = plinth if isinstance(plinth, dict) else {}
    digests = plinth.get("sha256")
    return MLmodel(
        flavors={str(k): dict(v or {}) for k, v in document["flavors"].items()},
        signature=ModelSignature.from_mlmodel(signature) if isinstance(signature, dict) else None,
        run_id=_optional_str(document.get("run_id")),
        model_id=_optional_str(document.get("model_id")),
        model_uuid=_optional_str(document.get("model_uuid")),
        utc_time_created=_optional_str(document.get("utc_time_created")),
        digests={str(k): str(v) for k, v in digests.items()} if isinstance(digests, dict) else None,
        mlmodel_digest=_optional_str(plinth.get("mlmodel_sha256")),
        document=document,
    )


def write_mlmodel(model_dir: Path, document: Mapping[str, object], *, plinth_version: str) -> None:
    """Write ``document`` as ``model_dir/MLmodel``, with the digests of every other file."""
    body = {k: v for k, v in document.items() if k != PLINTH_KEY}
    body[PLINTH_KEY] = {
        "plinth_version": plinth_version,
        "sha256": package_digests(model_dir),
        "mlmodel_sha256": document_digest(body),
    }
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    (model_dir / MLMODEL_FILE).write_text(text)


def document_digest(document: Mapping[str, object]) -> str:
    """sha256 of the document without the ``plinth`` key, as canonical JSON: independent of
    YAML formatting, so only a changed value changes it."""
    body = {k: v for k, v in document.items() if k != PLINTH_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def package_digests(model_dir: Path) -> dict[str, str]:
    """Relative POSIX path -> sha256 of every file under ``model_dir`` except ``MLmodel``."""
    digests: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(model_dir):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            relative = path.relative_to(model_dir).as_posix()
            if relative != MLMODEL_FILE:
                digests[relative] = file_sha256(path)
    return digests


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def verify_package(model_dir: Path, mlmodel: MLmodel) -> bool:
    """Check every recorded digest; ``False`` (nothing checked) for packages without any.

    Raises:
        ModelIntegrityError: a recorded file is missing or its bytes changed, or MLmodel
            itself was edited; the message names the file.
    """
    if mlmodel.digests is None:
        return False
    if mlmodel.mlmodel_digest is not None and (
        document_digest(mlmodel.document) != mlmodel.mlmodel_digest
    ):
        raise _integrity_error(model_dir, MLMODEL_FILE, "its content changed after it was saved")
    for relative, expected in mlmodel.digests.items():
        path = model_dir / relative
        if not path.is_file():
            raise _integrity_error(model_dir, relative, "the file is missing")
        if file_sha256(path) != expected:
            raise _integrity_error(model_dir, relative, "its sha256 does not match")
    return True


class PackageFiles:
    """Resolves the files a flavor loader reads, refusing files the digests do not cover
    (a verified package must not load bytes nobody checked)."""

    def __init__(self, root: Path, digests: Mapping[str, str] | None) -> None:
        self.root = root
        self._covered = None if digests is None else frozenset(digests)

    def file(self, relative: str) -> Path:
        """The path of the package file ``relative``.

        Raises:
            NotFoundError: no such file in the package.
            ModelIntegrityError: the package has digests, but none for this file.
        """
        path = self.root / relative
        if not path.is_file():
            raise NotFoundError(f"Model package {self.root} has no file {relative!r}.")
        if self._covered is not None and Path(relative).as_posix() not in self._covered:
            raise _integrity_error(self.root, relative, "no digest was recorded for it")
        return path

    def tree(self, relative: str) -> Path:
        """A file or a directory of the package, every file in it covered; see ``file``."""
        path = self.root / relative
        if not path.is_dir():
            return self.file(relative)
        for child in sorted(path.rglob("*")):
            if child.is_file():
                self.file(child.relative_to(self.root).as_posix())
        return path


def _integrity_error(model_dir: Path, relative: str, reason: str) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"Model package {model_dir} failed its integrity check: {relative}: {reason}. "
        "The package was modified or corrupted after it was saved; log the model again.",
        details={"path": relative, "package": str(model_dir)},
    )


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
