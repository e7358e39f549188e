"""Order attribution (contract 1.6) and the roster index it relies on (contract 1.2)."""

from __future__ import annotations

from collections.abc import Iterable

from streams.domain.events import CampaignDefined, Order, RosterEntry


def fold_code(code: str) -> str:
    """Promo codes compare after Unicode case folding."""
    return code.casefold()


def index_roster(roster: Iterable[RosterEntry]) -> tuple[dict[str, str], dict[str, str]]:
    """Map each folded promo code and each link id to its influencer.

    Raises ValueError when a code or link belongs to two influencers (a schema violation).
    """
    code_owners: dict[str, str] = {}
    link_owners: dict[str, str] = {}
    for entry in roster:
        for code in entry.promo_codes:
            folded = fold_code(code)
            owner = code_owners.setdefault(folded, entry.influencer_id)
            if owner != entry.influencer_id:
                raise ValueError(
                    f"promo code {code!r} belongs to both {owner!r} and {entry.influencer_id!r}"
                )
        for link_id in entry.link_ids:
            owner = link_owners.setdefault(link_id, entry.influencer_id)
            if owner != entry.influencer_id:
                raise ValueError(
                    f"link id {link_id!r} belongs to both {owner!r} and {entry.influencer_id!r}"
                )
    return code_owners, link_owners


def attribute(
    definition: CampaignDefined | None, order: Order
) -> tuple[str | None, str]:
    """``(influencer_id or None, channel)`` of an order: promo code first, then link."""
    if definition is not None:
        if order.promo_code is not None:
            owner = definition.code_owners.get(fold_code(order.promo_code))
            if owner is not None:
                return owner, "code"
        if order.link_id is not None:
            owner = definition.link_owners.get(order.link_id)
            if owner is not None:
                return owner, "link"
    return None, "unattributed"
