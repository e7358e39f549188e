"""Brand-lift answers (contract 1.10, v2) and the ``brand_lift`` object (contract 2)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from streams.domain.events import SurveyResponse

from .kpi_factories import (
    HOUR,
    T0,
    answer,
    at,
    changed,
    engine_with,
    feed,
    interaction,
    kpi,
    kpis,
)

FIELDS = ("exposed", "exposed_positive", "control", "control_positive")


def group(question: str, exposed: tuple[int, int], control: tuple[int, int],
          prefix: str = "") -> list[SurveyResponse]:
    """Answers in force: (answers, positive ones) per group, one respondent each."""
    answers = []
    for name, (total, positive) in (("exposed", exposed), ("control", control)):
        for i in range(total):
            answers.append(answer(respondent_id=f"{prefix}{name}-{i}", group=name,
                                  question=question, positive=i < positive))
    return answers


def lift_of(*answers: SurveyResponse) -> dict[str, dict[str, float]]:
    value = kpi(engine_with(*answers), "brand_lift")
    assert isinstance(value, dict)
    return value


# (exposed, exposed positive), (control, control positive) -> the fields beyond the counts,
# computed by hand from the contract's formulas.
CASES = [
    # lift = 3/4 - 1/5 = 0.55; relative = 0.55 / (1/5) = 2.75; p = 4/9;
    # z = 0.55 / sqrt(4/9 * 5/9 * (1/4 + 1/5)) = 0.55 / sqrt(1/9) = 1.65
    ((4, 3), (5, 1), {"lift": 0.55, "relative_lift": 2.75, "z": 1.65}),
    # control_positive 0: no relative_lift; p = 1/4: z = 0.5 / sqrt(3/16 * 1) = 2 / sqrt(3)
    ((2, 1), (2, 0), {"lift": 0.5, "z": 2 / math.sqrt(3)}),
    # negative lift: -1; relative -1 / 1; p = 1/2: z = -1 / sqrt(1/4 * 1) = -2
    ((2, 0), (2, 2), {"lift": -1.0, "relative_lift": -1.0, "z": -2.0}),
    # every answer positive: p = 1, no z; relative = 0 / 1
    ((2, 2), (1, 1), {"lift": 0.0, "relative_lift": 0.0}),
    # no answer positive: p = 0, no z; control_positive 0, no relative_lift
    ((1, 0), (1, 0), {"lift": 0.0}),
    # one group only: no lift, no relative_lift, no z
    ((3, 2), (0, 0), {}),
    ((0, 0), (2, 1), {}),
]


@pytest.mark.parametrize(("exposed", "control", "derived"), CASES)
def test_brand_lift_fields(
    exposed: tuple[int, int], control: tuple[int, int], derived: dict[str, float]
) -> None:
    value = lift_of(*group("intent", exposed, control))
    assert value.keys() == {"intent"}
    entry = value["intent"]
    counts = {"exposed": exposed[0], "exposed_positive": exposed[1],
              "control": control[0], "control_positive": control[1]}
    assert {name: entry[name] for name in FIELDS} == counts
    for name in FIELDS:
        assert type(entry[name]) is int
    assert entry.keys() == {*FIELDS, *derived}
    for name, expected in derived.items():
        assert isinstance(entry[name], float), name
        assert math.isclose(entry[name], expected, rel_tol=1e-12, abs_tol=1e-15), name


def test_brand_lift_has_the_questions_with_an_answer_in_force_only() -> None:
    value = lift_of(*group("awareness", (1, 1), (1, 0)), *group("recall", (1, 0), (0, 0), "r"))
    assert value.keys() == {"awareness", "recall"}


def test_brand_lift_lives_in_the_campaign_all_set_only_once_an_answer_is_in_force() -> None:
    engine = engine_with(interaction())
    assert "brand_lift" not in (kpis(engine) or {})
    feed(engine, answer())
    assert "brand_lift" in (kpis(engine) or {})
    for s in engine.all_sets():
        if (s.scope, s.window) != ("campaign", "all"):
            assert "brand_lift" not in s.kpis
            assert "survey_responses" not in s.kpis


def test_survey_responses_counts_answers_in_force_per_respondent_and_question() -> None:
    engine = engine_with(
        answer(respondent_id="u1", question="awareness"),
        answer(respondent_id="u1", question="recall"),
        answer(respondent_id="u2", question="awareness"),
        answer("2026-11-02T11:00:00Z", respondent_id="u1", question="awareness",
               positive=False),  # replaces u1's awareness answer
    )
    assert kpi(engine, "survey_responses") == 3
    lift = kpi(engine, "brand_lift")
    assert isinstance(lift, dict)
    assert lift["awareness"]["exposed"] == 2
    assert lift["awareness"]["exposed_positive"] == 1


def test_a_respondent_changing_group_moves_with_the_answer_in_force() -> None:
    engine = engine_with(
        answer(T0, respondent_id="u1", group="exposed", positive=True),
        answer(at(T0, HOUR), respondent_id="u1", group="control", positive=False),
    )
    lift = kpi(engine, "brand_lift")
    assert isinstance(lift, dict)
    assert {name: lift["awareness"][name] for name in FIELDS} == {
        "exposed": 0, "exposed_positive": 0, "control": 1, "control_positive": 0,
    }
    assert "lift" not in lift["awareness"]
    assert kpi(engine, "survey_responses") == 1


@pytest.mark.parametrize(
    ("second_offset", "in_force_positive"),
    [(HOUR, False), (0, False), (-1, True)],
    ids=["newer_replaces", "tie_last_processed_wins", "older_is_not_in_force"],
)
def test_answer_in_force(second_offset: int, in_force_positive: bool) -> None:
    engine = engine_with(
        answer(T0, respondent_id="u1", positive=True),
        answer(at(T0, second_offset), respondent_id="u1", positive=False),
    )
    lift = kpi(engine, "brand_lift")
    assert isinstance(lift, dict)
    assert lift["awareness"]["exposed_positive"] == int(in_force_positive)
    assert lift["awareness"]["exposed"] == 1
    assert kpi(engine, "survey_responses") == 1


def test_an_older_answer_is_counted_but_touches_no_kpi_set() -> None:
    engine = engine_with(answer(T0, respondent_id="u1"))
    changed(engine)
    assert feed(engine, answer(at(T0, -HOUR), respondent_id="u1", group="control")) == [
        "counted"
    ]
    assert changed(engine) == []


def test_a_late_answer_counts_in_late_events_and_in_force() -> None:
    engine = engine_with(answer("2026-11-02T20:00:00Z", respondent_id="u1"))
    assert feed(engine, answer("2026-11-02T13:00:00Z", respondent_id="u2", group="control",
                               positive=False)) == ["late"]
    assert kpi(engine, "late_events") == 1
    assert kpi(engine, "survey_responses") == 2
    lift = kpi(engine, "brand_lift")
    assert isinstance(lift, dict)
    assert lift["awareness"]["control"] == 1


def test_a_late_older_answer_counts_in_late_events_only() -> None:
    engine = engine_with(answer("2026-11-02T20:00:00Z", respondent_id="u1", positive=True))
    changed(engine)
    assert feed(engine, answer("2026-11-02T13:00:00Z", respondent_id="u1",
                               positive=False)) == ["late"]
    written = changed(engine)
    assert [(s.scope, s.window) for s in written] == [("campaign", "all")]
    assert written[0].kpis["late_events"] == 1
    lift = written[0].kpis["brand_lift"]
    assert isinstance(lift, dict)
    assert lift["awareness"]["exposed_positive"] == 1


def test_a_duplicate_answer_changes_only_duplicate_events() -> None:
    first = answer(event_id="a1", positive=True)
    engine = engine_with(first)
    assert feed(engine, dataclasses.replace(first, positive=False)) == ["duplicate"]
    assert kpi(engine, "duplicate_events") == 1
    lift = kpi(engine, "brand_lift")
    assert isinstance(lift, dict)
    assert lift["awareness"]["exposed_positive"] == 1


def test_answers_of_other_campaigns_are_apart() -> None:
    engine = engine_with(answer(campaign_id="a"), answer(campaign_id="b", group="control"))
    assert kpi(engine, "survey_responses", campaign_id="a") == 1
    lift = kpi(engine, "brand_lift", campaign_id="b")
    assert isinstance(lift, dict)
    assert lift["awareness"]["exposed"] == 0
