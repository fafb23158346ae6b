"""TurnRecord: built from what the relay knows after a turn, and read back from storage."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kimiyi.conversation import CallState, TurnMarks, TurnOutcome
from kimiyi.metrics import TurnRecord


@dataclass
class Report:  # the relay's TurnReport, field for field
    tracking_id: str
    latency_ms: float | None
    frames: int
    outcome: TurnOutcome | None
    gone: bool = False


def outcome(provider="openai", failovers=0, cache_hit=False, llm=True, **changes) -> TurnOutcome:
    marks = TurnMarks(received=100.0, step_done=100.002, first_chunk=100.150, last_chunk=100.400)
    if llm:
        marks.llm_request, marks.first_token = 100.010, 100.130
    fields = {
        "state": CallState("confirm", "zh-HK", turns=3),
        "action": "continue",
        "reply": "好",
        "node_path": ("confirm",),
        "marks": marks,
        "provider": provider,
        "failovers": failovers,
        "failures": tuple(f"azure:timeout{i}" for i in range(failovers)),
        "cache_hit": cache_hit,
    }
    return TurnOutcome(**{**fields, **changes})


def record(**changes) -> TurnRecord:
    return TurnRecord.from_report(
        Report("trk_1", 151.23456, 4, outcome(**changes)),
        at_ms=1_795_521_600_123,
        scripted_provider="scripted",
    )


def test_a_live_llm_turn_carries_everything_the_design_asks_for():
    turn = record()
    assert turn.tracking_id == "trk_1" and turn.turn == 3 and turn.at_ms == 1_795_521_600_123
    assert turn.latency_ms == 151.235  # kept to the microsecond
    assert turn.first_token_ms == pytest.approx(120.0)  # llm request -> first token
    assert (turn.provider, turn.failovers, turn.cache_hit) == ("openai", 0, False)
    assert (turn.language, turn.node, turn.action, turn.frames) == ("zh-HK", "confirm", "continue", 4)
    assert set(turn.marks) == {"stepDone", "llmRequest", "firstToken", "firstChunk", "lastChunk"}
    assert turn.marks["firstChunk"] == pytest.approx(150.0)


def test_first_token_time_only_when_an_llm_was_asked():
    assert record(provider="cache", cache_hit=True, llm=False).first_token_ms is None
    assert record(provider=None, cache_hit=None, llm=False).first_token_ms is None
    # The scripted responder answering straight away is no LLM: its "first token" would be ~0 ms.
    assert record(provider="scripted").first_token_ms is None
    # After live providers failed, the wait until the scripted line is the caller's real wait.
    after_failover = record(provider="scripted", failovers=2)
    assert after_failover.first_token_ms == pytest.approx(120.0)
    assert after_failover.failures == ("azure:timeout0", "azure:timeout1")


def test_nothing_said_means_no_latency():
    turn = TurnRecord.from_report(Report("trk_1", None, 0, outcome()), at_ms=1, scripted_provider="scripted")
    assert turn.latency_ms is None and turn.frames == 0


def test_a_report_without_outcome_is_refused():
    with pytest.raises(ValueError, match="outcome"):
        TurnRecord.from_report(Report("trk_1", None, 1, None), at_ms=1, scripted_provider="scripted")


def test_round_trip_through_the_stored_shape():
    turn = record(provider="scripted", failovers=1, interrupted=True)
    assert TurnRecord.from_dict(turn.to_dict()) == turn
    assert turn.to_dict()["failures"] == ["azure:timeout0"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"turn": 0}, "turn"),
        ({"turn": "3"}, "turn"),
        ({"at": -5}, "at"),
        ({"latencyMs": -1}, "latencyMs"),
        ({"latencyMs": "fast"}, "latencyMs"),
        ({"firstTokenMs": float("nan")}, "firstTokenMs"),
        ({"failovers": 1.5}, "failovers"),
        ({"cacheHit": "yes"}, "cacheHit"),
        ({"marks": {"firstChunk": -3}}, "marks.firstChunk"),
        ({"marks": [1, 2]}, "marks"),
        ({"failures": "azure"}, "failures"),
        ({"trackingId": ""}, "trackingId"),
        ({"node": 5}, "node"),
    ],
)
def test_malformed_records_name_the_field(change, named):
    data = {**record().to_dict(), **change}
    with pytest.raises(ValueError, match=named):
        TurnRecord.from_dict(data)


def test_missing_keys_are_named():
    with pytest.raises(ValueError, match="trackingId, turn"):
        TurnRecord.from_dict({"at": 1})
    with pytest.raises(ValueError, match="object"):
        TurnRecord.from_dict(["not", "a", "record"])
