"""Strict JSON for every file and every ``--json`` output the project writes.

Python's ``json`` writes ``Infinity``/``NaN`` by default, which is not JSON (RFC 8259): strict parsers (JavaScript,
Go, Rust's serde_json, ``jq``) reject the whole file. The rule here:

* every non-finite float (``inf``, ``-inf``, ``nan``) is written as ``null``, and the encoder runs with
  ``allow_nan=False``, so a non-finite value that slipped past :func:`strict` is an error, not a bad file;
* the one place where infinities carry meaning is a space's bounds (``meta/info.json``'s ``observation_space`` and
  ``action_space``, e.g. MuJoCo's unbounded observations): a ``null`` in ``low`` reads back as ``-inf`` and in
  ``high`` as ``+inf`` (:func:`restore_space_bounds`, applied by ``DatasetInfo`` when it loads ``info.json``).
"""

from __future__ import annotations

import json
import math
from typing import Any


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None, NumPy scalars and arrays as Python values, tuples as lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    tolist = getattr(obj, "tolist", None)  # NumPy scalars and arrays
    if tolist is not None:
        return strict(tolist())
    return obj


def dumps(obj: Any, **kwargs) -> str:
    """``json.dumps`` of :func:`strict` ``(obj)`` with ``allow_nan=False``."""
    return json.dumps(strict(obj), allow_nan=False, **kwargs)


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses ``Infinity``, ``-Infinity`` and ``NaN`` (ValueError naming the constant)."""

    def refuse(name):
        raise ValueError(f"non-JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def restore_space_bounds(space: dict[str, Any] | None) -> dict[str, Any] | None:
    """A space dict read from JSON with ``null`` bounds back as ``-inf`` (``low``) / ``+inf`` (``high``)."""
    if not isinstance(space, dict):
        return space
    out = dict(space)
    for key, fill in (("low", -math.inf), ("high", math.inf)):
        if key in out:
            out[key] = _fill(out[key], fill)
    return out


def _fill(value, fill: float):
    if value is None:
        return fill
    if isinstance(value, list):
        return [_fill(v, fill) for v in value]
    return value
