"""The comparison itself, on the clinic example, with fake models: what each pipeline does and reports."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from kimiyi.llm import FailoverChain, split_into_tokens
from kimiyi.metrics.histogram import exact_percentile as percentile
from kimiyi.test_optimization import compare_pipelines, parse_comparison_request
from tests.fakes.lockstep_model import LockStepChain, LockStepModel, VirtualClock

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "clinic-appointment.json"
LONG_REPLY = (
    "Sure, I can help with that. There is free parking right behind the building, "
    "and the entrance is on Harbour Road. Can you still make it tomorrow at ten thirty?"
)


def paced(clock=None, **options):
    """A lock-step fake model on `clock`: its delays are the only time that passes."""
    return LockStepModel(clock or VirtualClock(), options.pop("reply", LONG_REPLY), **options)


def request(utterances, **changes):
    payload = json.loads(EXAMPLE.read_text())
    payload.update(utterances=utterances, **changes)
    return parse_comparison_request(json.dumps(payload).encode())


def chain_of(model=None):
    return LockStepChain(model) if model else FailoverChain([], first_token_timeout_s=2)


def run(utterances, model=None, **changes):
    clock = model.clock if model else VirtualClock()
    return compare_pipelines(request(utterances, **changes), chain_of(model), clock=clock)


def test_optimized_speaks_before_traditional_on_every_streamed_llm_turn():
    model = paced(first_s=0.030, token_s=0.004)  # on a virtual clock: these delays are all that passes
    body = run(["Hello?", "Is there parking near the clinic?"], model)
    reply_ms = 30 + 4 * (len(split_into_tokens(LONG_REPLY)) - 1)  # 30 ms to the first token, 4 ms apart
    judge_ms = 30  # the routing answer is one token
    first_clause_ms = 30 + 4  # "Sure" "," is the first speakable clause
    assert len(body["turns"]) == 2
    for row in body["turns"]:
        assert row["node"] == "ask_confirm" and row["needsLlm"] is True
        assert row["reply"] == LONG_REPLY
        assert row["optimized"]["routingMs"] == row["traditional"]["routingMs"] == judge_ms
        assert row["optimized"]["msToFirstSpeech"] == judge_ms + first_clause_ms  # spoke while streaming
        assert row["optimized"]["msTotal"] == judge_ms + reply_ms
        # A <Gather> loop speaks only when the whole reply is written.
        assert row["traditional"]["msToFirstSpeech"] == row["traditional"]["msTotal"] == judge_ms + reply_ms
        assert row["savedMs"] == reply_ms - first_clause_ms
        assert row["traditional"]["provider"] == row["optimized"]["provider"] == "paced"
        assert row["traditional"]["llmCalls"] == row["optimized"]["llmCalls"] == 2  # judge, then reply
    summary = body["summary"]
    assert summary["optimized"]["mean"] == judge_ms + first_clause_ms
    assert summary["traditional"]["mean"] == judge_ms + reply_ms
    assert summary["speedup"]["mean"] == round((judge_ms + reply_ms) / (judge_ms + first_clause_ms), 2)
    assert body["providers"] == ["paced", "scripted"] and body["scriptedOnly"] is False


def test_the_repeated_pass_answers_common_phrases_from_the_cache():
    model = paced()
    body = run(["Hello?", "Who is this?", "Is there parking near the clinic?"], model, repeat=2)
    first, second = body["turns"][:3], body["turns"][3:]
    assert [row["pass"] for row in body["turns"]] == [1, 1, 1, 2, 2, 2]
    assert all(row["optimized"]["cacheHit"] is False for row in first)
    for row in second[:2]:
        assert row["optimized"] == {**row["optimized"], "cacheHit": True, "provider": "cache", "llmCalls": 0}
        assert row["traditional"]["llmCalls"] == 2  # the traditional loop has no cache
    # Free text is not a context-free phrase: never stored, so never served.
    assert second[2]["optimized"]["cacheHit"] is False and second[2]["optimized"]["llmCalls"] == 2
    assert second[2]["reply"] == first[2]["reply"]
    summary = body["summary"]
    assert [(p["pass"], p["cache"], p["cacheHitRate"]) for p in summary["passes"]] == [
        (1, "cold", 0.0),
        (2, "warm", 0.667),
    ]
    assert summary["cacheHitRate"] == round(2 / 6, 3)
    assert summary["cache"] == {"hits": 4, "misses": 4, "writes": 4}  # a verdict and a reply per phrase
    assert summary["llmCalls"] == {"traditional": 12, "optimized": 8}


def test_traditional_asks_the_llm_to_route_even_when_a_deterministic_edge_matched():
    model = paced()
    body = run(["Can you repeat that?"], model)  # the "repeat" intent edge: no LLM needed to route
    row = body["turns"][0]
    assert row["node"] == "ask_confirm"
    assert row["optimized"]["llmCalls"] == 1 and row["traditional"]["llmCalls"] == 2
    assert model.asked == ["reply", "judge", "reply"]  # optimized first, then traditional


def test_key_presses_and_nodes_without_plain_language_edges_need_no_routing_call():
    model = paced()
    body = run(["No", {"dtmf": "1"}], model)
    said_no, pressed_one = body["turns"]
    # "No" matches the intent edge to the menu: a verbatim line, no LLM in the optimized pipeline.
    assert said_no["node"] == "options_menu" and said_no["needsLlm"] is False
    assert said_no["optimized"]["llmCalls"] == 0 and said_no["optimized"]["cacheHit"] is None
    assert said_no["optimized"]["provider"] is None
    assert said_no["traditional"]["llmCalls"] == 1 and said_no["traditional"]["provider"] == "paced"
    assert said_no["reply"].startswith("No problem. Press 1 to reschedule")
    # The menu has only key and keyword edges: both pipelines only write the reply at the next node.
    assert pressed_one["utterance"] == {"dtmf": "1"} and pressed_one["node"] == "reschedule"
    assert pressed_one["optimized"]["llmCalls"] == pressed_one["traditional"]["llmCalls"] == 1


def test_a_pass_stops_where_the_call_ends_and_the_next_pass_starts_over():
    body = run(["Yes", "Hello?"], paced(), repeat=2)
    assert [(row["pass"], row["turn"], row["node"], row["action"]) for row in body["turns"]] == [
        (1, 1, "see_you", "end"),
        (2, 1, "see_you", "end"),
    ]
    assert "pass 1: the call ended at 'see_you' after turn 1; 1 later utterance was not run" in body["notes"]
    assert body["truncated"] is False


def test_with_no_llm_configured_the_scripted_responder_answers_and_the_body_says_so():
    body = run(["Hello?", "Who is this?"], None, repeat=2)
    assert body["scriptedOnly"] is True and body["providers"] == ["scripted"]
    assert any("no LLM is configured" in note for note in body["notes"])
    for row in body["turns"]:
        assert row["optimized"]["provider"] == row["traditional"]["provider"] == "scripted"
        assert row["reply"].startswith("Can you make it tomorrow at 10:30 AM?")  # the scripted line
        assert row["optimized"]["cacheHit"] is False  # a scripted line is never stored as an answer
        assert row["optimized"]["llmCalls"] == row["traditional"]["llmCalls"] == 1  # no judge without an LLM
    assert body["summary"]["cacheHitRate"] == 0.0


def test_a_different_route_in_the_traditional_run_is_reported_and_the_optimized_path_is_followed():
    model = paced(routes=("1", "0"))  # the optimized judge hears "1", the traditional one "0"
    body = run(["Is there parking near the clinic?"], model)
    row = body["turns"][0]
    assert row["diverged"] is True
    assert row["node"] == "see_you"  # edge 1: "will come to the appointment" -> confirmed -> see_you
    assert row["traditional"]["node"] == "ask_confirm"
    assert any("the traditional run went to 'ask_confirm'" in note for note in body["notes"])


def test_turns_that_agree_carry_no_traditional_node():
    row = run(["Hello?"], paced())["turns"][0]
    assert row["diverged"] is False and "node" not in row["traditional"]


def test_the_work_stops_before_the_deadline_and_says_truncated():
    ticks = itertools.count(step=0.5)  # every clock reading is half a second after the last
    req = request(["Hello?", "Who is this?", "Is there parking?", "Hello?"])
    body = compare_pipelines(req, chain_of(paced()), deadline_s=3, clock=lambda: next(ticks))
    assert body["truncated"] is True
    assert 1 <= len(body["turns"]) < 4
    assert body["deadlineMs"] == 3000
    assert any(note.startswith(f"stopped after {len(body['turns'])} turns") for note in body["notes"])


def test_no_time_at_all_gives_an_empty_but_well_formed_answer():
    ticks = itertools.count(step=0.001)  # any time at all is past a zero deadline
    body = compare_pipelines(request(["Hello?"]), chain_of(paced()), deadline_s=0, clock=lambda: next(ticks))
    assert body["truncated"] is True and body["turns"] == []
    summary = body["summary"]
    assert summary["traditional"] == {"p50": None, "p95": None, "mean": None}
    assert summary["speedup"] == {"mean": None, "p50": None}
    assert summary["cacheHitRate"] is None


def test_the_answer_names_the_workflow_version_language_and_opening():
    req = request(["Hello?"], language="zh-HK")
    body = compare_pipelines(req, chain_of(paced()))
    assert body["success"] is True
    assert body["workflowId"] == "clinic-appointment-confirmation"
    assert body["workflowVersion"] == req.workflow.version_hash
    assert body["language"] == "zh-HK"
    assert body["opening"].startswith("你好，Alex Chan！")
    assert "warnings" not in body


def test_verbatim_turns_give_no_meaningless_speedup():
    ticks = itertools.count(step=0.00001)  # 0.01 ms per clock reading: a verbatim turn takes a few
    req = request(["Yes"])  # deterministic edges to verbatim lines: no LLM in the optimized pipeline
    body = compare_pipelines(req, chain_of(paced()), clock=lambda: next(ticks))
    row = body["turns"][0]
    assert row["optimized"]["llmCalls"] == 0 and row["optimized"]["msToFirstSpeech"] < 0.1
    assert body["summary"]["speedup"] == {"mean": None, "p50": None}  # not a ratio over rounding noise


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        (list(range(1, 21)), 50, 10),
        (list(range(1, 21)), 95, 19),
        (list(range(1, 21)), 100, 20),
        ([7.5], 95, 7.5),
        ([3, 1, 2], 50, 2),
        ([], 50, None),
    ],
)
def test_percentile_is_nearest_rank(values, p, expected):
    assert percentile(values, p) == expected
