"""Turn nested configuration files into flat run parameters.

Run parameters are flat ``str -> str`` pairs (MLflow's model), while training configs are
nested JSON, YAML or TOML documents. ``load_config`` reads one and ``flatten_config`` joins
nested keys with a separator, so ``{"optimizer": {"lr": 0.1}}`` is logged as
``optimizer.lr = "0.1"``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from plinth.errors import InvalidArgumentError

_PARSERS: dict[str, Callable[[str], object]] = {
    ".json": json.loads,
    ".yaml": yaml.safe_load,
    ".yml": yaml.safe_load,
    ".toml": tomllib.loads,
}

# json.JSONDecodeError and tomllib.TOMLDecodeError subclass ValueError; UnicodeDecodeError
# (a file that isn't UTF-8 text) does too.
_PARSE_ERRORS = (ValueError, yaml.YAMLError)


def flatten_config(mapping: Mapping[str, object], sep: str = ".") -> dict[str, str]:
    """Flatten nested mappings and lists into ``sep``-joined keys with string values.

    Example: ``{"a": {"b": 1}, "l": [1, 2]}`` becomes ``{"a.b": "1", "l.0": "1", "l.1": "2"}``.
    Leaves are rendered with ``str()`` as MLflow does, so ``True`` becomes ``"True"`` and
    ``None`` becomes ``"None"``. An empty nested mapping or list is kept as ``"{}"`` or
    ``"[]"`` so that its key is not lost.

    Args:
        mapping: The configuration; nested keys of any type are rendered with ``str()``.
        sep: Separator placed between the parts of a key.

    Returns:
        Flat key to string value, in the document's order.

    Raises:
        InvalidArgumentError: If ``sep`` is empty, or two different paths flatten to the
            same key (e.g. ``{"a.b": 1, "a": {"b": 2}}``).
    """
    if not sep:
        raise InvalidArgumentError("sep must be a non-empty string")
    flat: dict[str, str] = {}
    for key, value in mapping.items():
        _flatten_into(flat, str(key), value, sep)
    return flat


def load_config(path: Path) -> dict[str, object]:
    """Read a JSON, YAML or TOML configuration file, chosen by the file's suffix.

    Args:
        path: A ``.json``, ``.yaml``, ``.yml`` or ``.toml`` file (suffix case is ignored).

    Returns:
        The top-level mapping, with its keys as strings; an empty YAML file gives ``{}``.

    Raises:
        InvalidArgumentError: If the suffix is not supported, the file does not exist, the
            parser rejects it (the message includes the parser's), or the document's top
            level is not a mapping.
    """
    parse = _PARSERS.get(path.suffix.lower())
    if parse is None:
        supported = ", ".join(sorted(_PARSERS))
        raise InvalidArgumentError(
            f"unsupported config file {path}: suffix must be one of {supported}"
        )
    if not path.is_file():
        raise InvalidArgumentError(f"config file {path} does not exist or is not a file")
    try:
        document = parse(path.read_text(encoding="utf-8"))
    except _PARSE_ERRORS as exc:
        raise InvalidArgumentError(f"could not parse config file {path}: {exc}") from exc
    if document is None:
        # yaml.safe_load returns None for an empty or comment-only file.
        return {}
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise InvalidArgumentError(f"config file {path} must hold a mapping at the top, not {kind}")
    return {str(key): value for key, value in document.items()}


def _flatten_into(flat: dict[str, str], prefix: str, value: object, sep: str) -> None:
    children: list[tuple[str, object]]
    if isinstance(value, Mapping):
        children = [(str(key), child) for key, child in value.items()]
    elif isinstance(value, list | tuple):
        children = [(str(index), child) for index, child in enumerate(value)]
    else:
        _put(flat, prefix, str(value))
        return
    if not children:
        _put(flat, prefix, "{}" if isinstance(value, Mapping) else "[]")
    for key, child in children:
        _flatten_into(flat, f"{prefix}{sep}{key}", child, sep)


def _put(flat: dict[str, str], key: str, value: str) -> None:
    if key in flat:
        # Silently keeping one of the two values would log a parameter the run never used.
        raise InvalidArgumentError(f"config keys collide after flattening: {key!r}")
    flat[key] = value
