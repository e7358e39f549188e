"""Attributes (contract 2, v2): what describes a post or an influencer, present once known."""

from __future__ import annotations

import pytest

from streams.domain.events import RosterEntry

from .kpi_factories import (
    T0,
    campaign,
    changed,
    click,
    engine_with,
    feed,
    interaction,
    kpi,
    kpis,
    order,
    post,
    review,
    roster_entry,
    secs,
    snapshot,
    us,
)

POST_ATTRIBUTES = ("influencer_id", "platform", "format", "published_at", "metrics_source")


def test_post_attributes_come_from_the_counted_post_published() -> None:
    engine = engine_with(
        post("2026-11-02T10:05:00.999999Z", post_id="p1", influencer_id="i7",
             platform="tiktok", format="short"),
        interaction(post_id="p1", influencer_id="i7"),
    )
    values = kpis(engine, "post", "p1")
    assert values is not None
    assert {name: values[name] for name in POST_ATTRIBUTES} == {
        "influencer_id": "i7", "platform": "tiktok", "format": "short",
        "published_at": secs("2026-11-02T10:05:00Z"),  # epoch seconds, rounded down
        "metrics_source": "events",
    }
    assert type(values["published_at"]) is int


def test_published_at_before_the_epoch_rounds_down() -> None:
    # 1970-01-01T00:30:00.5+01:00 is 1799.5 s before the epoch: rounded down, -1800
    t = us("1970-01-01T00:30:00.5+01:00")
    assert t == -1_799_500_000
    engine = engine_with(post(t))
    assert kpi(engine, "published_at", "post", "p1") == -1800


def test_a_duplicate_post_published_does_not_change_the_attributes() -> None:
    engine = engine_with(post(post_id="p1", platform="youtube", format="video"))
    assert feed(engine, post(post_id="p1", platform="blog", format="post",
                             influencer_id="i9")) == ["duplicate"]
    values = kpis(engine, "post", "p1")
    assert values is not None
    assert (values["platform"], values["format"], values["influencer_id"]) == (
        "youtube", "video", "i1"
    )


def test_post_attributes_are_absent_until_known() -> None:
    engine = engine_with(click(post_id="p1"), review(post_id="p2"))
    for post_id in ("p1", "p2"):
        values = kpis(engine, "post", post_id)
        assert values is not None
        assert not set(POST_ATTRIBUTES) & set(values)
    feed(engine, snapshot(post_id="p1", likes=1))
    values = kpis(engine, "post", "p1")
    assert values is not None
    assert values["metrics_source"] == "platform"
    assert "platform" not in values  # no post_published counted yet


def test_a_late_post_published_still_gives_the_attributes() -> None:
    engine = engine_with(post("2026-11-02T20:00:00Z", post_id="p0"))
    assert feed(engine, post("2026-11-02T13:00:00Z", post_id="p1", platform="x")) == ["late"]
    assert kpi(engine, "platform", "post", "p1") == "x"


def test_attributes_live_in_their_own_place_only() -> None:
    engine = engine_with(
        campaign(roster=[roster_entry("i1", tier="macro")]),
        post(), interaction(), order(),
    )
    for s in engine.all_sets():
        names = set(s.kpis)
        if (s.scope, s.window) != ("post", "all"):
            assert not set(POST_ATTRIBUTES) & names, (s.scope, s.window)
        if (s.scope, s.window) != ("influencer", "all"):
            assert "tier" not in names, (s.scope, s.window)
        if (s.scope, s.window) != ("campaign", "all"):
            assert "objective" not in names, (s.scope, s.window)


# -- tier --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roster", "tier"),
    [
        ([roster_entry("i1", tier="nano")], "nano"),
        ([roster_entry("i1")], None),  # listed without a tier
        ([roster_entry("i2", tier="mega")], None),  # not listed
        ([roster_entry("i1", tier="nano"), roster_entry("i1", tier="mid")], "mid"),  # the later
        # Reading (docs): the later entry that *gives* a tier; a later entry without one
        # does not take the tier away.
        ([roster_entry("i1", tier="micro"), roster_entry("i1")], "micro"),
    ],
)
def test_tier_comes_from_the_roster_of_the_definition_in_force(
    roster: list[RosterEntry], tier: str | None
) -> None:
    engine = engine_with(campaign(roster=roster), interaction(influencer_id="i1"))
    assert kpi(engine, "tier", "influencer", "i1") == tier
    for window in ("1d", "1h"):
        assert kpi(engine, "tier", "influencer", "i1", window, start=T0) is None


def test_an_influencer_set_created_after_the_definition_has_its_tier() -> None:
    engine = engine_with(campaign(roster=[roster_entry("i1", tier="nano")]))
    assert kpis(engine, "influencer", "i1") is None
    feed(engine, post(influencer_id="i1"))
    assert kpi(engine, "tier", "influencer", "i1") == "nano"


def test_a_redefinition_changing_a_tier_rewrites_the_influencer_set() -> None:
    engine = engine_with(
        campaign("2026-11-01T00:00:00Z", roster=[roster_entry("i1", tier="nano"),
                                                 roster_entry("i2", tier="micro")]),
        post(post_id="p1", influencer_id="i1"),
        post(post_id="p2", influencer_id="i2"),
    )
    changed(engine)
    feed(engine, campaign("2026-11-01T01:00:00Z", roster=[roster_entry("i1", tier="mid"),
                                                          roster_entry("i2", tier="micro")]))
    written = {(s.scope, s.scope_id, s.window): s.kpis for s in changed(engine)}
    assert written["influencer", "i1", "all"]["tier"] == "mid"
    assert ("influencer", "i2", "all") not in written  # its tier did not change
    assert ("campaign", "c1", "all") in written


def test_a_redefinition_dropping_an_influencer_removes_its_tier() -> None:
    engine = engine_with(
        campaign("2026-11-01T00:00:00Z", roster=[roster_entry("i1", tier="nano")]),
        post(influencer_id="i1"),
    )
    changed(engine)
    feed(engine, campaign("2026-11-01T01:00:00Z", roster=[]))
    written = {(s.scope, s.scope_id, s.window): s.kpis for s in changed(engine)}
    assert "tier" not in written["influencer", "i1", "all"]
    assert written["influencer", "i1", "all"]["posts"] == 1


def test_an_older_definition_does_not_change_the_tier() -> None:
    engine = engine_with(
        campaign("2026-11-01T01:00:00Z", roster=[roster_entry("i1", tier="nano")]),
        post(influencer_id="i1"),
    )
    changed(engine)
    assert feed(engine, campaign("2026-11-01T00:00:00Z",
                                 roster=[roster_entry("i1", tier="mega")])) == ["counted"]
    assert kpi(engine, "tier", "influencer", "i1") == "nano"
    assert all(s.scope != "influencer" for s in changed(engine))
