"""The one error hierarchy: flags on the class decide dead-letter, retry or crash."""

from __future__ import annotations

from typing import ClassVar, Final

# Contract section 4, in the order the checks run.
REASONS: Final[tuple[str, ...]] = (
    "too_large",
    "malformed_json",
    "schema_violation",
    "type_mismatch",
    "key_mismatch",
    "future_timestamp",
    "currency_mismatch",
)


class KpiError(Exception):
    """Base of every error this project raises on purpose."""

    dead_letter: ClassVar[bool] = False
    retriable: ClassVar[bool] = False


class InvalidRecord(KpiError):
    """A record that breaks a rule of the contract: not counted, sent to the dead-letter topic."""

    dead_letter = True

    def __init__(self, reason: str, detail: str) -> None:
        """Keep the contract's reason code and a readable detail."""
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ServiceUnavailable(KpiError):
    """A sink or broker did not answer; the caller waits and retries, losing nothing."""

    retriable = True
