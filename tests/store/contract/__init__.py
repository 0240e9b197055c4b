"""Store contract suites, subclassed once per backend by ``tests/store/test_contract_*.py``."""

import pytest

# The suites' asserts live here, not in test modules: ask pytest to rewrite them too.
pytest.register_assert_rewrite(
    "tests.store.contract.auth", "tests.store.contract.registry", "tests.store.contract.tracking"
)
