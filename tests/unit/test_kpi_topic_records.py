"""The KPI topic's records: a set that cannot be encoded is reported and left out, alone."""

from __future__ import annotations

from streams import codec
from streams.domain.engine import KpiSet
from streams.sinks.kpi_topic import kpi_records


def test_a_set_that_cannot_be_encoded_is_reported_and_the_others_are_kept() -> None:
    good = KpiSet("c1", "campaign", "c1", "all", None, None, {"spend_minor": 2**70 + 1})
    no_type = KpiSet("c1", "post", "p1", "all", None, None, {"posts": 1, "likes": {1, 2}})
    not_unicode = KpiSet("c1", "post", "p2", "all", None, None, {"platform": "\udc80"})
    failed: list[str] = []
    records = kpi_records(
        [no_type, good, not_unicode], 7, lambda kpi_set, _: failed.append(kpi_set.key)
    )
    assert failed == [no_type.key, not_unicode.key]
    assert [key for key, _ in records] == [good.key.encode()]
    value = records[0][1]
    assert value is not None
    assert codec.loads(value)["kpis"] == {"spend_minor": 2**70 + 1}
