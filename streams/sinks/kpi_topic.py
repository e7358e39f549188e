"""The KPI topic's records (contract 5.2) and the alerts topic's: in each flush's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streams import codec
from streams.domain.alerts import AlertRecord
from streams.domain.engine import KpiSet
from streams.storage import Record


def alert_records(records: Sequence[AlertRecord]) -> list[Record]:
    """The alerts topic's records: keyed ``<campaign_id>|<rule>|<scope>|<scope_id>``."""
    return [
        (f"{r.campaign_id}|{r.rule}|{r.scope}|{r.scope_id}".encode(), codec.dumps(r.to_value()))
        for r in records
    ]


def kpi_records(
    kpi_sets: Sequence[KpiSet],
    updated_at_ms: int,
    on_error: Callable[[KpiSet, Exception], None],
) -> list[Record]:
    """One record per KPI set, keyed by the set's key.

    A set that cannot be encoded is left out and reported to ``on_error`` (logged and
    counted by the caller): one bad set must never stop the others, nor the worker.
    """
    records: list[Record] = []
    for kpi_set in kpi_sets:
        try:
            records.append(
                (kpi_set.key.encode(), codec.dumps(kpi_set.to_value(updated_at_ms)))
            )
        except (TypeError, ValueError, UnicodeError) as error:
            on_error(kpi_set, error)
    return records
