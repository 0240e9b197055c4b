"""Settings: where Plinth keeps its metadata and artifacts, and how it authenticates.

Precedence: CLI flag > environment variable (``PLINTH_*``) > ``plinth.toml`` in the working
directory > default. Settings are parsed at the edges (CLI ``main``, ``create_app``,
``Client``) and passed down; nothing below reads ``os.environ``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plinth.errors import InvalidArgumentError

SUPPORTED_SCHEMES = ("sqlite:///", "postgresql+psycopg://", "postgresql://", "http://", "https://")


class Settings(BaseModel):
    """Plinth's configuration.

    Args:
        home: Directory for the embedded store, artifacts and the admin token (``PLINTH_HOME``).
        uri: Metadata store or server: ``sqlite:///path``, ``postgresql+psycopg://...`` or
            ``http(s)://host:port`` (``PLINTH_URI``). Defaults to ``sqlite:///$home/plinth.db``.
        artifacts: Artifact root, a directory or ``s3://bucket/prefix`` (``PLINTH_ARTIFACTS``).
            Defaults to ``$home/artifacts``.
        token: API token sent to a Plinth server (``PLINTH_TOKEN``).
        protected_aliases: Model aliases that move only through an approved promotion
            (``PLINTH_PROTECTED_ALIASES``, comma-separated; default ``production,champion``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(default_factory=lambda: Path.home() / ".plinth")
    uri: str | None = None
    artifacts: str | None = None
    token: str | None = None
    protected_aliases: tuple[str, ...] = ("production", "champion")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, config_file: Path | None = None, **overrides: Any
    ) -> Settings:
        """Build settings from an environment mapping, an optional ``plinth.toml`` and flags."""
        values: dict[str, Any] = {}
        if config_file is not None and config_file.is_file():
            with config_file.open("rb") as fh:
                values.update(tomllib.load(fh).get("plinth", {}))
        for field in ("home", "uri", "artifacts", "token"):
            env_value = environ.get(f"PLINTH_{field.upper()}")
            if env_value:
                values[field] = env_value
        aliases = environ.get("PLINTH_PROTECTED_ALIASES")
        if aliases is not None:
            values["protected_aliases"] = tuple(a.strip() for a in aliases.split(",") if a.strip())
        if "token" not in values and environ.get("MLFLOW_TRACKING_TOKEN"):
            values["token"] = environ["MLFLOW_TRACKING_TOKEN"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "home" in values:
            values["home"] = Path(values["home"]).expanduser()
        return cls(**values)

    @property
    def store_uri(self) -> str:
        """The metadata store URI, validated against the supported schemes."""
        uri = self.uri or f"sqlite:///{self.home / 'plinth.db'}"
        if not uri.startswith(SUPPORTED_SCHEMES):
            raise InvalidArgumentError(
                f"PLINTH_URI {uri!r} has an unsupported scheme; use one of "
                + ", ".join(SUPPORTED_SCHEMES)
            )
        return uri

    @property
    def is_remote(self) -> bool:
        return self.store_uri.startswith(("http://", "https://"))

    @property
    def artifact_root(self) -> str:
        return self.artifacts or str(self.home / "artifacts")

    @property
    def admin_token_path(self) -> Path:
        return self.home / "admin.token"
