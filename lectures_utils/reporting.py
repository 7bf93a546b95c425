"""Recording the figures a notebook asserts, so ``make bench`` can tabulate them.

A notebook states a number, asserts it, and records it::

    acc = accuracy(y_test, pred)
    assert acc >= 0.94, acc
    record("logistic regression test accuracy", acc)

``record`` prints the value; when the environment variable ``LECTURES_RECORD_FILE`` names a file
(the benchmark script sets it), it also appends one JSON line there. It never changes a result, and
it returns None: a notebook cell that ends with ``record(...)`` shows the printed, rounded line only,
not the full-precision value a second time as the cell's output.
"""

from __future__ import annotations

import json
import math
import os
from numbers import Real

RECORD_ENV_VAR = "LECTURES_RECORD_FILE"

__all__ = ["RECORD_ENV_VAR", "record"]


def record(name: str, value: float, unit: str = "", quiet: bool = False) -> None:
    """Print ``name = value unit`` and append it to ``$LECTURES_RECORD_FILE`` if set. Returns None."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name must be a non-empty string describing the figure")
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"value must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"value of {name!r} is {value}: a recorded figure must be finite")
    if not quiet:
        print(f"{name} = {value:.6g}{(' ' + unit) if unit else ''}")
    path = os.environ.get(RECORD_ENV_VAR)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"name": name, "value": value, "unit": unit}, ensure_ascii=False) + "\n")
