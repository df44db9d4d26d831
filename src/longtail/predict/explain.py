"""Explanations: per-account feature contributions turned into sentences a CSM understands (no I/O).

Contributions are in log-odds and, with the base value, sum to the model's raw output for the row. A positive
contribution raises the predicted probability (risk, or propensity to expand); a negative one lowers it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from longtail.predict.models import F64, Columns

WORDS = {"7d": "(7 days)", "28d": "(28 days)", "30d": "(30 days)", "90d": "(90 days)", "pct": "%"}


def feature_label(name: str) -> str:
    """'active_users_28d' -> 'Active users (28 days)'."""
    parts = [WORDS.get(p, p) for p in name.split("_")]
    text = " ".join(parts)
    return text[:1].upper() + text[1:]


def _value_text(value: float, columns: Columns, index: int) -> str:
    if index >= len(columns.numeric):
        vocab = list(columns.categorical.values())[index - len(columns.numeric)]
        return "unknown" if math.isnan(value) else vocab[int(value)]
    if math.isnan(value):
        return "missing"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"


@dataclass(frozen=True)
class Reason:
    """One feature's push on one account's score."""

    feature: str
    value: str
    contribution: float
    sentence: str


def reasons(x_row: F64, contrib_row: F64, columns: Columns, *, top: int = 3, noun: str = "risk") -> list[Reason]:
    """The `top` features with the largest absolute contribution, largest first, as sentences."""
    contrib = contrib_row[:-1]
    order = np.argsort(-np.abs(contrib), kind="stable")
    out: list[Reason] = []
    for j in order[:top]:
        c = float(contrib[j])
        if c == 0.0:
            break
        name = columns.names[j]
        value = _value_text(float(x_row[j]), columns, int(j))
        direction = "raises" if c > 0 else "lowers"
        out.append(Reason(name, value, c, f"{feature_label(name)} is {value} ({direction} {noun})"))
    return out
