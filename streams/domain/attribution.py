"""Attribution of orders and conversions (contract 1.6, 1.9) and the roster index it uses (1.2)."""

from __future__ import annotations

from collections.abc import Iterable

from streams.domain.events import Attributable, CampaignDefined, RosterEntry
from streams.domain.vocabulary import Channel


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
    definition: CampaignDefined | None, event: Attributable
) -> tuple[str | None, Channel]:
    """``(influencer_id or None, channel)`` of an order or conversion: code first, then link."""
    if definition is not None:
        if event.promo_code is not None:
            owner = definition.code_owners.get(fold_code(event.promo_code))
            if owner is not None:
                return owner, Channel.CODE
        if event.link_id is not None:
            owner = definition.link_owners.get(event.link_id)
            if owner is not None:
                return owner, Channel.LINK
    return None, Channel.UNATTRIBUTED


def roster_tiers(definition: CampaignDefined | None) -> dict[str, str]:
    """Influencer -> tier, from the roster entries that give one (listed twice: the later)."""
    if definition is None:
        return {}
    return {e.influencer_id: e.tier for e in definition.influencers if e.tier is not None}
