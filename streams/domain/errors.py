"""Rejections: a record that breaks a rule of the contract goes to the dead-letter topic."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Dead-letter reasons (contract section 4), in the order the checks run.

    ``schema_violation`` is checked twice (step 3: not an object, or no string ``type``;
    step 5: every other field rule); it is listed once, at its first place.
    """

    TOO_LARGE = "too_large"
    MALFORMED_JSON = "malformed_json"
    SCHEMA_VIOLATION = "schema_violation"
    TYPE_MISMATCH = "type_mismatch"
    KEY_MISMATCH = "key_mismatch"
    FUTURE_TIMESTAMP = "future_timestamp"
    CURRENCY_MISMATCH = "currency_mismatch"
    SOURCE_MISMATCH = "source_mismatch"
    REFUND_EXCEEDS_ORDER = "refund_exceeds_order"


class InvalidRecord(Exception):
    """A record that breaks a rule of the contract: not counted, sent to the dead-letter topic."""

    def __init__(self, reason: Reason | str, detail: str) -> None:
        """Keep the contract's reason code and a readable detail."""
        self.reason = Reason(reason)  # ValueError for a reason the contract does not have
        self.detail = detail
        super().__init__(f"{self.reason}: {detail}")
