"""Lineage: where a model version or a run came from (source run, code, data, parents).

``plinth.lineage("models:/churn/3")`` builds a :class:`Lineage`;
:func:`plinth.lineage.render.render_lineage` draws it for the terminal.
"""

from plinth.lineage.model_lineage import (
    CodeVersion,
    DataInput,
    Lineage,
    RunSummary,
    lineage,
)

__all__ = ["CodeVersion", "DataInput", "Lineage", "RunSummary", "lineage"]
