"""Split a request's rows between routes and put the routes' predictions back in order.

An A-B request whose records carry different sticky keys is scored by several variants;
the caller gets one answer with every row where it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def take_rows(data: Any, rows: Sequence[int]) -> Any:
    """The rows ``rows`` of a DataFrame or an ndarray, in that order."""
    if isinstance(data, pd.DataFrame):
        return data.iloc[list(rows)].reset_index(drop=True)
    return data[np.asarray(rows)]


def merge_rows(parts: Sequence[tuple[Sequence[int] | None, Any]], total: int) -> Any:
    """Reassemble ``(row indices, predictions)`` parts into predictions of ``total`` rows."""
    order = np.concatenate([np.asarray(rows, dtype=np.int64) for rows, _ in parts])
    inverse = np.empty(total, dtype=np.int64)
    inverse[order] = np.arange(total)
    return _reorder(_stack([p for _, p in parts]), inverse)


def _stack(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, pd.DataFrame | pd.Series):
        return pd.concat(parts, ignore_index=True)
    if isinstance(first, dict):
        return {key: _stack([p[key] for p in parts]) for key in first}
    if isinstance(first, list):
        return [item for part in parts for item in part]
    return np.concatenate([np.asarray(p) for p in parts])


def _reorder(stacked: Any, inverse: np.ndarray[Any, Any]) -> Any:
    if isinstance(stacked, pd.DataFrame | pd.Series):
        return stacked.iloc[inverse].reset_index(drop=True)
    if isinstance(stacked, dict):
        return {key: _reorder(value, inverse) for key, value in stacked.items()}
    if isinstance(stacked, list):
        return [stacked[i] for i in inverse]
    return stacked[inverse]
