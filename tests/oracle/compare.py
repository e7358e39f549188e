"""Value-by-value comparison of the product's replay output with the naive oracle."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from .naive import Result, key_of

HEADER_FIELDS = ["schema_version", "campaign_id", "scope", "scope_id", "window",
                 "window_start", "window_end"]
DLQ_VALUE_LIMIT = 64 * 1024
DLQ_FIELDS = {"reason", "detail", "topic", "partition", "offset", "timestamp", "key",
              "key_encoding", "value", "value_encoding", "truncated"}  # contract 4


def _diff(where: str, e: Any, a: Any, rel: float, out: list[str], *,
          exact: bool = False) -> None:
    """Append to ``out`` how ``a`` differs from ``e``; objects are compared entry by entry.

    Integers (counters, counts inside objects, ``published_at``) must be written as integers
    and equal exactly, unless ``rel`` allows an estimate; numbers that the oracle computes as
    floats (ratios, lift, z) may be written either way and agree to 1e-12 (``exact``: to the
    bit, for formulas the contract says to evaluate as written); strings (attributes,
    ``objective``) must be equal.
    """
    if isinstance(e, dict):
        if not isinstance(a, dict):
            out.append(f"{where} expected {e!r} actual {a!r}")
            return
        for name in sorted(set(e) - set(a)):
            out.append(f"{where}.{name} missing (expected {e[name]!r})")
        for name in sorted(set(a) - set(e)):
            out.append(f"{where}.{name} unexpected (actual {a[name]!r})")
        for name in sorted(set(e) & set(a)):
            _diff(f"{where}.{name}", e[name], a[name], rel, out, exact=exact)
        return
    if isinstance(e, bool) or isinstance(a, bool):
        if e is not a:
            out.append(f"{where} expected {e!r} actual {a!r}")
        return
    if isinstance(e, int):
        if not isinstance(a, int):
            out.append(f"{where} not written as an integer: {a!r} (expected {e!r})")
        elif a != e and not (rel > 0.0 and math.isclose(e, a, rel_tol=rel)):
            out.append(f"{where} expected {e!r} actual {a!r}")
        return
    if isinstance(e, float) and exact:
        if not isinstance(a, int | float) or a != e:
            out.append(f"{where} expected {e!r} actual {a!r} (evaluated as written)")
        return
    if isinstance(e, float):
        if not isinstance(a, int | float) or not math.isclose(
                e, a, rel_tol=max(rel, 1e-12), abs_tol=1e-300):
            out.append(f"{where} expected {e!r} actual {a!r}")
        return
    if type(e) is not type(a) or e != a:
        out.append(f"{where} expected {e!r} actual {a!r}")


def compare_values(expected: Result, actual: list[dict[str, Any]], *,
                   reach_rel_tol: float = 0.0) -> list[str]:
    """Return human-readable differences (empty when the outputs agree).

    ``reach_rel_tol`` applies only to the KPIs the oracle marks as derived from a reach of
    100 distinct viewers or more (the contract allows an estimate there); all else is exact.
    """
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
            if e[f] != a.get(f) or type(e[f]) is not type(a.get(f)):
                diffs.append(f"{k}: {f} expected {e[f]!r} actual {a.get(f)!r}")
        if not isinstance(a.get("updated_at"), int):
            diffs.append(f"{k}: updated_at missing or not an integer")
        estimated = expected.estimated.get(k, set())
        kpis = a.get("kpis")
        if not isinstance(kpis, dict):
            diffs.append(f"{k}: kpis is not an object: {kpis!r}")
            continue
        for name in sorted(set(e["kpis"]) - set(kpis)):
            diffs.append(f"{k}: kpi {name} missing (expected {e['kpis'][name]!r})")
        for name in sorted(set(kpis) - set(e["kpis"])):
            diffs.append(f"{k}: kpi {name} unexpected (actual {kpis[name]!r})")
        for name in sorted(set(e["kpis"]) & set(kpis)):
            ev, av = e["kpis"][name], kpis[name]
            if name == "target_progress" and isinstance(ev, dict) and isinstance(av, dict):
                # Each entry follows the tolerance of the KPI it tracks.
                for t in sorted(set(ev) ^ set(av)):
                    diffs.append(f"{k}: target_progress.{t} expected {ev.get(t)!r} "
                                 f"actual {av.get(t)!r}")
                for t in sorted(set(ev) & set(av)):
                    rel = reach_rel_tol if t in estimated else 0.0
                    _diff(f"{k}: target_progress.{t}", ev[t], av[t], rel, diffs)
                continue
            rel = reach_rel_tol if name in estimated else 0.0
            _diff(f"{k}: kpi {name}", ev, av, rel, diffs, exact=name == "brand_lift")
    return diffs


def compare_dlq(expected: Result, dlq_lines: list[str]) -> list[str]:
    """Same count per reason; each record's reason and value match the original line's."""
    diffs: list[str] = []
    records = [json.loads(line) for line in dlq_lines if line.strip()]
    exp_reasons = Counter(d.reason for d in expected.dead_letters)
    act_reasons = Counter(r.get("reason") for r in records)
    if exp_reasons != act_reasons:
        diffs.append(f"DLQ reasons expected {dict(sorted(exp_reasons.items()))} "
                     f"actual {dict(sorted(act_reasons.items(), key=str))}")
    by_line = {d.line_no: d for d in expected.dead_letters}
    got_lines = {r.get("offset") for r in records}
    for want_dl in expected.dead_letters:
        if want_dl.line_no not in got_lines:
            diffs.append(f"DLQ line {want_dl.line_no}: expected {want_dl.reason}, no dead "
                         f"letter ({want_dl.value[:100]!r})")
    for r in records:
        off = r.get("offset")
        d = by_line.get(off) if isinstance(off, int) else None
        if d is None:
            diffs.append(f"DLQ record at offset {off!r} ({r.get('reason')}) not expected: "
                         f"{str(r.get('value'))[:100]!r}")
            continue
        if r.get("reason") != d.reason:
            diffs.append(f"DLQ line {off}: reason expected {d.reason} actual {r.get('reason')}"
                         f" ({d.value[:100]!r})")
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
        if DLQ_FIELDS - set(r):
            diffs.append(f"DLQ line {off}: fields missing: {sorted(DLQ_FIELDS - set(r))}")
        if d.key is not None and r.get("key_encoding") != "utf-8":
            diffs.append(f"DLQ line {off}: key_encoding expected 'utf-8' actual "
                         f"{r.get('key_encoding')!r}")
    return diffs


def reach_errors(expected: Result, actual: list[dict[str, Any]]) -> list[float]:
    """Relative errors of the product's reach where the oracle marks reach as estimable."""
    act = {key_of(v): v for v in actual}
    errors = []
    for k, v in expected.by_key().items():
        if "reach" in expected.estimated.get(k, set()) and k in act:
            exact = v["kpis"]["reach"]
            errors.append((act[k]["kpis"].get("reach", 0) - exact) / exact)
    return errors


def report(diffs: list[str], limit: int = 40) -> str:
    head = "\n  ".join(diffs[:limit])
    more = f"\n  ... and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return f"{len(diffs)} differences:\n  {head}{more}"
