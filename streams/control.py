"""Operator requests that reach the workers through Kafka: the control topic.

A request is keyed by its campaign id, like the campaign's input records, and the control
topic has as many partitions as the inputs, so it lands in the partition number that holds
the campaign's state. The worker owning that partition applies it among the partition's
records and commits its effect with the offsets of the flush that follows: once, whatever
restarts, and at one point in the campaign's stream (the replay reads the same record from
its input file).

The only request is ``forget`` (``campaign-kpi forget``): erase the campaign's state and
outputs. Its value is ``{"type": "forget", "campaign_id": ..., "request_id": ...}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from streams import codec

FORGET: Final = "forget"
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")


class BadRequest(ValueError):
    """A control record that is no request this release knows."""


@dataclass(frozen=True, slots=True)
class ForgetRequest:
    """Erase a campaign; ``request_id`` names the acknowledgement the worker writes."""

    campaign_id: str
    request_id: str

    def record(self) -> tuple[bytes, bytes]:
        """The control topic's record: (key, value)."""
        value = {"type": FORGET, "campaign_id": self.campaign_id, "request_id": self.request_id}
        return self.campaign_id.encode(), codec.dumps(value)


def parse_request(key: bytes | None, value: bytes | None) -> ForgetRequest:
    """The request a control record holds; :class:`BadRequest` when it holds none."""
    try:
        obj = codec.loads(value or b"")
    except ValueError as error:
        raise BadRequest(f"not JSON ({error})") from None
    if not isinstance(obj, dict) or obj.get("type") != FORGET:
        raise BadRequest("not a forget request (a JSON object with type 'forget')")
    campaign_id, request_id = obj.get("campaign_id"), obj.get("request_id")
    if not isinstance(campaign_id, str) or not campaign_id:
        raise BadRequest("campaign_id must be a non-empty string")
    if key is None or key != campaign_id.encode():
        raise BadRequest("the record's key must be its campaign_id (it picks the partition)")
    if not isinstance(request_id, str) or _REQUEST_ID.fullmatch(request_id) is None:
        raise BadRequest("request_id must be 1 to 64 of A-Z a-z 0-9 . _ -")
    return ForgetRequest(campaign_id, request_id)
