"""What is "in force" does not depend on the order records arrive in (contract 1.4.1, 1.7, 1.10).

* Answers and reviews: per (respondent, question) and (post, reviewer) the one with the latest
  ``occurred_at`` is in force, so with distinct times any processing order gives the same
  answers and reviews in force.
* Snapshots: re-sends (exact copies) and stale copies (older than the snapshot in force when
  they arrive) change no metric value and no window sum; only ``duplicate_events`` and
  ``stale_snapshots`` tell them apart.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.engine import Engine
from streams.domain.events import AnyEvent, ContentReview, PostMetrics, SurveyResponse
from streams.domain.vocabulary import Topic

from ..unit.v2_stream import BASE, HOUR, METRICS, MINUTE

CID = "c1"
COUNTS_OF_NOISE = ("duplicate_events", "stale_snapshots", "late_events")


def run(items: Sequence[tuple[Topic, AnyEvent]]) -> dict[str, dict[str, object]]:
    engine = Engine()
    for topic, event in items:
        engine.apply(topic, event)
    return {s.key: s.kpis for s in engine.all_sets()}


# -- answers and reviews in force ---------------------------------------------------------

# distinct times within the grace (no event is late whatever the order)
distinct_times = st.lists(st.integers(0, 5 * HOUR), min_size=1, max_size=25, unique=True)


@st.composite
def answers(draw: st.DrawFn) -> list[tuple[Topic, AnyEvent]]:
    made: list[tuple[Topic, AnyEvent]] = []
    for i, offset in enumerate(draw(distinct_times)):
        made.append((Topic.SURVEYS, SurveyResponse(
            f"a{i}", BASE + offset, CID,
            respondent_id=draw(st.sampled_from(["u1", "u2", "u3", "u4"])),
            group=draw(st.sampled_from(["exposed", "control"])),
            question=draw(st.sampled_from(["awareness", "recall", "intent"])),
            positive=draw(st.booleans()),
        )))
    return made


@settings(max_examples=100, deadline=None)
@given(answers(), st.randoms(use_true_random=False))
def test_answers_in_force_do_not_depend_on_processing_order(
    items: list[tuple[Topic, AnyEvent]], rng: random.Random
) -> None:
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert run(shuffled) == run(sorted(items, key=lambda item: item[1].occurred_at_us))


# producers name the same influencer on every record of a post (1.4.1)
AUTHOR = {"p1": "i1", "p2": "i2", "p3": "i1"}


@st.composite
def reviews(draw: st.DrawFn) -> list[tuple[Topic, AnyEvent]]:
    made: list[tuple[Topic, AnyEvent]] = []
    for i, offset in enumerate(draw(distinct_times)):
        post_id = draw(st.sampled_from(sorted(AUTHOR)))
        criteria = draw(st.lists(st.sampled_from(["tone", "brand_fit", "creativity"]),
                                 min_size=1, max_size=3, unique=True))
        made.append((Topic.CONTENT_REVIEWS, ContentReview(
            f"r{i}", BASE + offset, CID, post_id=post_id, influencer_id=AUTHOR[post_id],
            reviewer_id=draw(st.sampled_from(["rv1", "rv2"])),
            scores=tuple((c, draw(st.integers(1, 5))) for c in criteria),
        )))
    return made


@settings(max_examples=100, deadline=None)
@given(reviews(), st.randoms(use_true_random=False))
def test_reviews_in_force_do_not_depend_on_processing_order(
    items: list[tuple[Topic, AnyEvent]], rng: random.Random
) -> None:
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert run(shuffled) == run(sorted(items, key=lambda item: item[1].occurred_at_us))


# -- snapshots: re-sends and stale copies -------------------------------------------------


@st.composite
def snapshot_sequences(draw: st.DrawFn) -> tuple[list[PostMetrics], list[PostMetrics]]:
    """Snapshots of posts in strict time order, and the same with re-sends and stale copies.

    Gaps of up to 2 hours make some re-sends arrive past the 10-minute dedup horizon: they
    are counted again, as stale snapshots (or ties with the one in force).
    """
    clean: list[PostMetrics] = []
    t = BASE
    for i in range(draw(st.integers(1, 15))):
        # strictly later each time: a re-send tying a snapshot in force would take over
        t += draw(st.sampled_from([1, MINUTE, 9 * MINUTE, 2 * HOUR]))
        chosen = draw(st.lists(st.sampled_from(METRICS), min_size=1, max_size=8, unique=True))
        clean.append(PostMetrics(
            f"s{i}", t, CID, post_id=draw(st.sampled_from(["p1", "p2"])),
            influencer_id="i1",
            metrics=tuple((m, draw(st.integers(0, 10**6))) for m in METRICS if m in chosen),
        ))
    noisy: list[PostMetrics] = []
    in_force: dict[str, int] = {}
    for n, original in enumerate(clean):
        noisy.append(original)
        in_force[original.post_id] = original.occurred_at_us
        for k in range(draw(st.integers(0, 2))):
            if draw(st.booleans()):
                noisy.append(draw(st.sampled_from(noisy[: len(noisy)])))  # an exact re-send
            else:  # a stale copy: a new event, older than the snapshot in force of its post
                post_id = draw(st.sampled_from(sorted(in_force)))
                age = draw(st.integers(1, 8 * HOUR))
                chosen = draw(st.lists(st.sampled_from(METRICS), min_size=1, max_size=8,
                                       unique=True))
                noisy.append(PostMetrics(
                    f"stale-{n}-{k}", in_force[post_id] - age, CID, post_id=post_id,
                    influencer_id="i1",
                    metrics=tuple((m, draw(st.integers(0, 10**6))) for m in METRICS
                                  if m in chosen),
                ))
    return clean, noisy


def without_noise_counts(sets: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    return {
        key: {name: value for name, value in kpis.items() if name not in COUNTS_OF_NOISE}
        for key, kpis in sets.items()
    }


@settings(max_examples=100, deadline=None)
@given(snapshot_sequences())
def test_re_sends_and_stale_copies_change_no_metric_and_no_window_sum(
    pair: tuple[list[PostMetrics], list[PostMetrics]],
) -> None:
    clean, noisy = pair
    expected = run([(Topic.INTERACTIONS, s) for s in clean])
    got = run([(Topic.INTERACTIONS, s) for s in noisy])
    assert without_noise_counts(got) == without_noise_counts(expected)
    # each extra record is a duplicate, a stale snapshot, or (a re-send of the snapshot in
    # force past the horizon) a tie with zero deltas
    campaign_all = got[f"{CID}|campaign|{CID}|all|all"]
    noise = campaign_all["duplicate_events"], campaign_all["stale_snapshots"]
    assert isinstance(noise[0], int)
    assert isinstance(noise[1], int)
    assert noise[0] + noise[1] <= len(noisy) - len(clean)


@settings(max_examples=100, deadline=None)
@given(snapshot_sequences())
def test_post_values_are_the_latest_reported_value_of_each_metric(
    pair: tuple[list[PostMetrics], list[PostMetrics]],
) -> None:
    clean, noisy = pair
    got = run([(Topic.INTERACTIONS, s) for s in noisy])
    for post_id in {s.post_id for s in clean}:
        latest: dict[str, int] = {}
        for s in clean:  # time order: a later value replaces an earlier one
            if s.post_id == post_id:
                latest.update(s.metrics)
        values = got[f"{CID}|post|{post_id}|all|all"]
        for metric in METRICS:
            assert values[metric] == latest.get(metric, 0), metric
