"""The KPI topic's records (contract 5.2) and the alerts topic's: in each flush's transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from streams import codec
from streams.domain.alerts import AlertRecord
from streams.domain.engine import CampaignState, KpiSet, kpi_key
from streams.storage import Record


def _alert_key(record: AlertRecord) -> bytes:
    return f"{record.campaign_id}|{record.rule}|{record.scope}|{record.scope_id}".encode()


def alert_records(records: Sequence[AlertRecord]) -> list[Record]:
    """The alerts topic's records: keyed ``<campaign_id>|<rule>|<scope>|<scope_id>``."""
    return [(_alert_key(r), codec.dumps(r.to_value())) for r in records]


def erased_records(
    erased: Iterable[CampaignState],
) -> tuple[list[Record], list[Record]]:
    """Tombstones of erased campaigns: (KPI topic records, alerts topic records).

    One per KPI set and alert the state holds, and one per window of the spans it dropped
    past their retention (docs/contract-decisions.md, "Erasure"); both topics are compacted,
    so a tombstone deletes its key's values.
    """
    kpis: list[Record] = []
    alerts: list[Record] = []
    for state in erased:
        held = state.set_keys()
        cid = state.campaign_id
        kpis.extend((kpi_key(cid, key).encode(), None) for key in held)
        kpis.extend((kpi_key(cid, key).encode(), None) for key in state.dropped_keys(set(held)))
        alerts.extend((_alert_key(record), None) for record in state.alerts.values())
    return kpis, alerts


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
