"""Value-by-value comparison of the product's replay output with the naive oracle."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from .naive import COUNTERS, Result, key_of

REACH_DERIVED = {"reach", "engagement_rate_by_reach", "frequency"}
HEADER_FIELDS = ["schema_version", "campaign_id", "scope", "scope_id", "window",
                 "window_start", "window_end"]
DLQ_VALUE_LIMIT = 64 * 1024


def _close(expected: Any, actual: Any, rel: float) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int) and isinstance(actual, int) and rel == 0.0:
        return expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=max(rel, 1e-12), abs_tol=0.0)
    return bool(expected == actual)


def compare_values(expected: Result, actual: list[dict[str, Any]], *,
                   reach_rel_tol: float = 0.0) -> list[str]:
    """Return human-readable differences (empty when the outputs agree)."""
    diffs: list[str] = []
    exp = expected.by_key()
    act: dict[str, dict[str, Any]] = {}
    for v in actual:
        k = key_of(v)
        if k in act:
            diffs.append(f"{k}: written twice in OUT")
        act[k] = v
    keys = [key_of(v) for v in actual]
    if keys != sorted(keys):
        first = next(i for i in range(len(keys) - 1) if keys[i] > keys[i + 1])
        diffs.append(f"OUT not sorted by key near index {first}: {keys[first]!r} > "
                     f"{keys[first + 1]!r}")
    missing = sorted(set(exp) - set(act))
    extra = sorted(set(act) - set(exp))
    if missing:
        diffs.append(f"{len(missing)} keys missing from product, e.g. {missing[:8]}")
    if extra:
        diffs.append(f"{len(extra)} unexpected keys in product, e.g. {extra[:8]}")
    for k in sorted(set(exp) & set(act)):
        e, a = exp[k], act[k]
        for f in HEADER_FIELDS:
            if e[f] != a.get(f):
                diffs.append(f"{k}: {f} expected {e[f]!r} actual {a.get(f)!r}")
        if "updated_at" not in a:
            diffs.append(f"{k}: updated_at missing")
        diffs.extend(_compare_kpis(k, e["kpis"], a.get("kpis", {}), reach_rel_tol))
    return diffs


def _compare_kpis(k: str, e: dict[str, Any], a: dict[str, Any], reach_tol: float) -> list[str]:
    diffs: list[str] = []
    if e.get("reach", 0) < 100:
        reach_tol = 0.0  # reach is exact below 100 distinct viewers
    for name in sorted(set(e) - set(a)):
        diffs.append(f"{k}: kpi {name} missing (expected {e[name]!r})")
    for name in sorted(set(a) - set(e)):
        diffs.append(f"{k}: kpi {name} unexpected (actual {a[name]!r})")
    for name in sorted(set(e) & set(a)):
        ev, av = e[name], a[name]
        if name in COUNTERS and (not isinstance(av, int) or isinstance(av, bool)):
            diffs.append(f"{k}: kpi {name} not written as an integer: {av!r}")
            continue
        rel = reach_tol if name in REACH_DERIVED else 0.0
        if name == "target_progress":
            if not isinstance(av, dict) or set(av) != set(ev):
                diffs.append(f"{k}: target_progress expected {ev!r} actual {av!r}")
                continue
            for t in sorted(ev):
                trel = reach_tol if t in REACH_DERIVED else 0.0
                if not _close(ev[t], av[t], trel):
                    diffs.append(f"{k}: target_progress[{t}] expected {ev[t]!r} "
                                 f"actual {av[t]!r}")
            continue
        if not _close(ev, av, rel):
            diffs.append(f"{k}: kpi {name} expected {ev!r} actual {av!r}")
    return diffs


def compare_dlq(expected: Result, dlq_lines: list[str]) -> list[str]:
    """Same count per reason; each record's value equals the original line's value."""
    diffs: list[str] = []
    records = [json.loads(line) for line in dlq_lines if line.strip()]
    exp_reasons = Counter(d.reason for d in expected.dead_letters)
    act_reasons = Counter(r.get("reason") for r in records)
    if exp_reasons != act_reasons:
        diffs.append(f"DLQ reasons expected {dict(sorted(exp_reasons.items()))} "
                     f"actual {dict(sorted(act_reasons.items(), key=str))}")
    by_line = {d.line_no: d for d in expected.dead_letters}
    for r in records:
        off = r.get("offset")
        d = by_line.get(off) if isinstance(off, int) else None
        if d is None:
            diffs.append(f"DLQ record at offset {off!r} ({r.get('reason')}) not expected")
            continue
        if r.get("reason") != d.reason:
            diffs.append(f"DLQ line {off}: reason expected {d.reason} actual {r.get('reason')}")
        raw = d.value.encode("utf-8")
        truncated = len(raw) > DLQ_VALUE_LIMIT
        want = raw[:DLQ_VALUE_LIMIT].decode("utf-8", errors="strict") if truncated else d.value
        if r.get("value") != want:
            diffs.append(f"DLQ line {off}: value expected {want[:80]!r} actual "
                         f"{str(r.get('value'))[:80]!r}")
        if bool(r.get("truncated")) != truncated:
            diffs.append(f"DLQ line {off}: truncated expected {truncated} actual "
                         f"{r.get('truncated')!r}")
        for name, want_field in [("key", d.key), ("timestamp", d.timestamp),
                                 ("partition", None), ("value_encoding", "utf-8")]:
            if r.get(name) != want_field:
                diffs.append(f"DLQ line {off}: {name} expected {want_field!r} actual "
                             f"{r.get(name)!r}")
        if r.get("topic") != d.topic:
            diffs.append(f"DLQ line {off}: topic expected {d.topic} actual {r.get('topic')}")
    return diffs


def reach_errors(expected: Result, actual: list[dict[str, Any]]) -> list[float]:
    """Relative errors of the product's reach where the exact reach is at least 100."""
    act = {key_of(v): v for v in actual}
    errors = []
    for k, v in expected.by_key().items():
        exact = v["kpis"].get("reach")
        if exact is not None and exact >= 100 and k in act:
            errors.append((act[k]["kpis"].get("reach", 0) - exact) / exact)
    return errors


def report(diffs: list[str], limit: int = 40) -> str:
    head = "\n  ".join(diffs[:limit])
    more = f"\n  ... and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return f"{len(diffs)} differences:\n  {head}{more}"
