from __future__ import annotations

from pathlib import Path

import pytest

from plinth.errors import InvalidArgumentError
from plinth.tracking.config_flatten import flatten_config, load_config

DOCUMENTS = {
    ".json": '{"model": {"depth": 4, "dropout": 0.1}, "layers": [64, 32], "seed": null}',
    ".yaml": "model:\n  depth: 4\n  dropout: 0.1\nlayers: [64, 32]\nseed: null\n",
    ".yml": "model:\n  depth: 4\n  dropout: 0.1\nlayers:\n  - 64\n  - 32\nseed: ~\n",
    ".toml": 'layers = [64, 32]\nseed = "None"\n[model]\ndepth = 4\ndropout = 0.1\n',
}
FLAT_DOCUMENT = {
    "model.depth": "4",
    "model.dropout": "0.1",
    "layers.0": "64",
    "layers.1": "32",
    "seed": "None",
}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            {"a": {"b": 1}, "l": [1, 2]}, {"a.b": "1", "l.0": "1", "l.1": "2"}, id="brief-example"
        ),
        pytest.param({"x": {"y": {"z": "deep"}}}, {"x.y.z": "deep"}, id="three-levels"),
        pytest.param(
            {"flag": True, "off": False, "none": None},
            {"flag": "True", "off": "False", "none": "None"},
            id="str-like-mlflow",
        ),
        pytest.param({"lr": 0.001, "n": 10}, {"lr": "0.001", "n": "10"}, id="numbers"),
        pytest.param(
            {"layers": [{"units": 64}, {"units": 32}]},
            {"layers.0.units": "64", "layers.1.units": "32"},
            id="list-of-mappings",
        ),
        pytest.param({"shape": (3, 4)}, {"shape.0": "3", "shape.1": "4"}, id="tuple"),
        pytest.param({"empty": {}, "none": []}, {"empty": "{}", "none": "[]"}, id="empty-kept"),
        pytest.param({"ids": {1: "a"}}, {"ids.1": "a"}, id="non-str-key"),
        pytest.param({}, {}, id="empty-config"),
    ],
)
def test_flatten_config(config: dict[str, object], expected: dict[str, str]) -> None:
    assert flatten_config(config) == expected


def test_flatten_config_uses_custom_separator() -> None:
    assert flatten_config({"a": {"b": [7]}}, sep="/") == {"a/b/0": "7"}


def test_flatten_config_rejects_keys_that_collide() -> None:
    with pytest.raises(InvalidArgumentError, match=r"'a\.b'"):
        flatten_config({"a.b": 1, "a": {"b": 2}})


def test_flatten_config_rejects_empty_separator() -> None:
    with pytest.raises(InvalidArgumentError, match="sep"):
        flatten_config({"a": 1}, sep="")


@pytest.mark.parametrize("suffix", list(DOCUMENTS))
def test_load_config_reads_each_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"config{suffix}"
    path.write_text(DOCUMENTS[suffix])

    assert flatten_config(load_config(path)) == FLAT_DOCUMENT


def test_load_config_ignores_suffix_case(tmp_path: Path) -> None:
    path = tmp_path / "CONFIG.YAML"
    path.write_text("a: 1\n")

    assert load_config(path) == {"a": 1}


def test_load_config_keeps_nested_structure(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(DOCUMENTS[".json"])

    assert load_config(path) == {
        "model": {"depth": 4, "dropout": 0.1},
        "layers": [64, 32],
        "seed": None,
    }


def test_load_config_reads_empty_yaml_as_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# nothing set yet\n")

    assert load_config(path) == {}


def test_load_config_rejects_unsupported_suffix_naming_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("[a]\nb = 1\n")

    with pytest.raises(InvalidArgumentError) as excinfo:
        load_config(path)

    message = str(excinfo.value)
    assert str(path) in message
    assert all(suffix in message for suffix in (".json", ".yaml", ".yml", ".toml"))


def test_load_config_rejects_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        load_config(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("suffix", "text", "parser_message"),
    [
        pytest.param(".json", '{"a": 1,', "Expecting", id="json"),
        pytest.param(".yaml", "a: [1, 2\n", "expected", id="yaml"),
        pytest.param(".toml", "a = \n", "Invalid value", id="toml"),
    ],
)
def test_load_config_reports_parser_message(
    tmp_path: Path, suffix: str, text: str, parser_message: str
) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_text(text)

    with pytest.raises(InvalidArgumentError, match=parser_message) as excinfo:
        load_config(path)

    assert str(path) in str(excinfo.value)


def test_load_config_rejects_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")

    with pytest.raises(InvalidArgumentError, match="mapping"):
        load_config(path)
