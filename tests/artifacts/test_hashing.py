"""StreamSha256: the digest of what was written, inline or beside the writer."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from plinth.artifacts.hashing import INLINE_BYTES, StreamSha256


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param([], id="empty"),
        pytest.param([10, 0, 7], id="small"),
        pytest.param([INLINE_BYTES], id="exactly-inline"),
        pytest.param([INLINE_BYTES - 1, 2, 3 << 20, 5, 1 << 20], id="crosses-into-a-thread"),
        pytest.param([64 << 10] * 200, id="many-chunks"),
    ],
)
def test_digest_is_hashlibs_of_the_concatenation(sizes: list[int]) -> None:
    chunks = [os.urandom(n) for n in sizes]

    with StreamSha256() as digest:
        for chunk in chunks:
            digest.update(chunk)
        got = digest.hexdigest()

    assert got == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_an_abandoned_stream_leaves_no_thread_behind() -> None:
    before = {t.ident for t in threading.enumerate()}

    with pytest.raises(RuntimeError), StreamSha256() as digest:
        digest.update(os.urandom(INLINE_BYTES))
        digest.update(os.urandom(1 << 20))
        raise RuntimeError("the writer failed")

    assert {t.ident for t in threading.enumerate()} <= before
