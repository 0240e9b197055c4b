"""Store contract suites, subclassed once per backend by ``tests/store/test_contract_*.py``."""

import threading
from collections.abc import Callable

import pytest

# The suites' asserts live here, not in test modules: ask pytest to rewrite them too.
pytest.register_assert_rewrite(
    "tests.store.contract.auth", "tests.store.contract.registry", "tests.store.contract.tracking"
)


def at_once(*calls: Callable[[], object]) -> list[BaseException]:
    """Run ``calls`` on threads released together; what they raised (none, when all went
    through)."""
    start = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        start.wait()
        try:
            call()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
