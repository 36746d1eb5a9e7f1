"""``torch.nn._reduction``: the reduction-string helpers some custom losses import."""

from __future__ import annotations

from ._functional.loss import legacy_get_string as legacy_get_string


def get_enum(reduction: str) -> int:
    """0 = 'none', 1 = 'mean', 2 = 'sum' (as PyTorch)."""
    try:
        return {"none": 0, "mean": 1, "elementwise_mean": 1, "sum": 2}[reduction]
    except KeyError:
        raise ValueError(f"{reduction} is not a valid value for reduction") from None


def legacy_get_enum(size_average, reduce, emit_warning=True) -> int:
    return get_enum(legacy_get_string(size_average, reduce, emit_warning))
