"""The SDK surface is exactly ``plinth.__all__``, sorted, with nothing private leaking."""

from __future__ import annotations

import plinth


def test_all_names_exist_and_are_sorted() -> None:
    assert all(hasattr(plinth, name) for name in plinth.__all__)
    assert list(plinth.__all__) == sorted(plinth.__all__)


def test_every_public_attribute_is_exported() -> None:
    public = {
        name
        for name, value in vars(plinth).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("plinth")
    }
    assert public <= set(plinth.__all__)
