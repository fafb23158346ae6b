"""The turn pipeline on the clinic example: edges, static lines, LLM replies, languages, failover."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimiyi.conversation import (
    CallState,
    Say,
    SwitchLanguage,
    TurnInput,
    TurnOutcome,
    apply_interrupt,
    run_turn,
)
from kimiyi.conversation.turn import opening
from kimiyi.llm import FailoverChain
from kimiyi.workflow import parse_workflow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "clinic-appointment.json"
VARIABLES = {"patientName": "Anna", "clinicName": "Bright Smile", "appointmentTime": "3 pm", "balanceDue": 0}


class FakeProvider:
    """An LLM that answers routing prompts with a set number and everything else with a set reply."""

    def __init__(
        self, reply: str = "Sure, I can help with that. What day suits you?", route: str = "0"
    ) -> None:
        self.name = "fake"
        self.reply = reply
        self.route = route
        self.requests: list[list[dict]] = []

    def stream(self, messages, *, max_tokens, temperature, context) -> Iterator[str]:
        self.requests.append(messages)
        text = self.route if "Answer with the number" in messages[0]["content"] else self.reply
        return iter([text[i : i + 4] for i in range(0, len(text), 4)])

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "model": "fake", "host": "none"}


class DeadProvider(FakeProvider):
    def stream(self, messages, **_):
        raise ConnectionRefusedError("nothing listening")


@pytest.fixture(scope="module")
def workflow():
    return parse_workflow(json.loads(EXAMPLE.read_text()))


def turn(workflow, state, chain, utterance=None, digit=None):
    events = list(run_turn(workflow, state, TurnInput(utterance, digit), chain))
    outcome = events[-1]
    assert isinstance(outcome, TurnOutcome)
    assert all(not isinstance(e, TurnOutcome) for e in events[:-1])
    return [e for e in events[:-1]], outcome


def said(events) -> str:
    return "".join(e.text for e in events if isinstance(e, Say))


def test_opening_speaks_the_static_path_and_the_first_question(workflow):
    text, state = opening(workflow, VARIABLES)
    assert text.startswith("Hi Anna, this is Mia from Bright Smile")
    assert text.endswith("tell me if you'd like to reschedule or cancel.")
    assert state.node_id == "ask_confirm" and state.language == "en-US"
    assert state.history == ({"role": "assistant", "content": text},)


def test_a_yes_follows_deterministic_edges_to_the_end_with_no_llm(workflow):
    _, state = opening(workflow, VARIABLES)
    fake = FakeProvider()
    events, outcome = turn(workflow, state, FailoverChain([fake]), "Yes, that works")
    assert fake.requests == []  # intent edge, static lines, end node: no LLM call at all
    assert outcome.node_path == ("confirmed", "see_you")  # balanceDue is 0: the reminder is skipped
    assert outcome.action == "end" and outcome.state.ended
    assert said(events).startswith("Great, you're all set for tomorrow at 3 pm.")
    assert said(events).endswith("Goodbye!")
    assert "insurance card. Thank you, see you tomorrow." in said(events)  # lines keep their space
    assert outcome.provider is None
    assert outcome.state.history[-2:] == (
        {"role": "user", "content": "Yes, that works"},
        {"role": "assistant", "content": outcome.reply},
    )


def test_variables_choose_the_path(workflow):
    _, state = opening(workflow, {**VARIABLES, "balanceDue": 40})
    _, outcome = turn(workflow, state, FailoverChain([]), "yes")
    assert outcome.node_path == ("confirmed", "balance_reminder", "see_you")
    assert "40 dollars" in outcome.reply


def test_plain_language_edges_are_judged_then_the_node_replies(workflow):
    _, state = opening(workflow, VARIABLES)
    fake = FakeProvider(route="2")  # the second LLM edge: wants another day or time
    events, outcome = turn(workflow, state, FailoverChain([fake]), "hmm, Thursday might suit me better")
    assert outcome.judged_edge == "ask-llm-reschedule"
    assert outcome.node_path == ("reschedule",)
    assert said(events) == fake.reply
    assert outcome.provider == "fake"
    reply_request = fake.requests[-1]
    assert "The patient wants to move their appointment" in reply_request[0]["content"]
    assert reply_request[-1] == {"role": "user", "content": "hmm, Thursday might suit me better"}


def test_first_clause_is_its_own_chunk(workflow):
    _, state = opening(workflow, VARIABLES)
    events, _ = turn(workflow, state, FailoverChain([FakeProvider(route="2")]), "Thursday is better")
    chunks = [e.text for e in events if isinstance(e, Say)]
    assert chunks[0] == "Sure,"
    assert "".join(chunks) == "Sure, I can help with that. What day suits you?"


def test_no_verdict_stays_on_the_node_and_the_llm_answers_there(workflow):
    _, state = opening(workflow, VARIABLES)
    fake = FakeProvider(reply="It's with Dr. Wong at 3 pm. Can you make it?", route="0")
    _, outcome = turn(workflow, state, FailoverChain([fake]), "which doctor is it with?")
    assert outcome.judged_edge is None and outcome.node_path == ("ask_confirm",)
    assert outcome.reply == "It's with Dr. Wong at 3 pm. Can you make it?"


def test_offline_the_scripted_line_answers_and_llm_edges_are_not_guessed(workflow):
    _, state = opening(workflow, VARIABLES)
    _, outcome = turn(workflow, state, FailoverChain([]), "which doctor is it with?")
    assert outcome.node_path == ("ask_confirm",)
    assert outcome.provider == "scripted"
    assert outcome.reply.startswith("Can you make it tomorrow at 3 pm?")


def test_dead_provider_fails_over_and_the_turn_records_it(workflow):
    _, state = opening(workflow, VARIABLES)
    _, outcome = turn(workflow, state, FailoverChain([DeadProvider()]), "which doctor is it with?")
    assert outcome.provider == "scripted"
    assert outcome.failovers == 1 and outcome.failures == ("fake:error",)


def test_menu_digits_and_transfer(workflow):
    state = CallState("options_menu", "en-US", variables=VARIABLES)
    _, outcome = turn(workflow, state, FailoverChain([]), digit="2")
    assert outcome.node_path == ("cancel_check",)
    assert outcome.state.history[-2]["content"] == "(pressed 2)"
    _, outcome = turn(workflow, state, FailoverChain([]), digit="0")
    assert outcome.action == "transfer" and outcome.transfer_to == "+12125550147"
    assert outcome.reply == "Please hold while I connect you to our front desk."


def test_caller_switching_to_cantonese_switches_language_and_lines(workflow):
    _, state = opening(workflow, VARIABLES)
    events, outcome = turn(workflow, state, FailoverChain([]), "係呀，我聽日得閒㗎")
    assert events[0] == SwitchLanguage("zh-HK")
    assert outcome.state.language == "zh-HK"
    assert outcome.node_path == ("confirmed", "see_you")
    assert said(events).startswith("好，幫你確認咗聽日3 pm嘅預約喇。")
    chunks = [e.text for e in events if isinstance(e, Say)]
    assert chunks[0] == "好，"  # CJK clause punctuation ends the first chunk


def test_timing_marks_are_in_order(workflow):
    _, state = opening(workflow, VARIABLES)
    ticks = iter(range(1000))
    events = list(
        run_turn(
            workflow,
            state,
            TurnInput("Thursday?"),
            FailoverChain([FakeProvider(route="2")]),
            clock=lambda: float(next(ticks)),
        )
    )
    marks = events[-1].marks.as_ms()
    order = ["stepDone", "llmRequest", "firstToken", "firstChunk", "lastChunk"]
    assert [name for name in order if name in marks] == order
    assert [marks[name] for name in order] == sorted(marks[name] for name in order)


def test_interrupt_keeps_what_the_caller_heard():
    state = CallState(
        "ask_confirm",
        "en-US",
        history=(
            {"role": "user", "content": "hours?"},
            {"role": "assistant", "content": "Our opening hours are nine to six, Monday to Friday."},
        ),
    )
    assert apply_interrupt(state, "Our opening hours are").history[-1]["content"] == "Our opening hours are"
    assert apply_interrupt(state, "").history == state.history[:-1]
    assert apply_interrupt(CallState("n", "en-US"), "x") == CallState("n", "en-US")


def test_state_round_trips_through_a_dict():
    state = CallState("n", "zh-HK", ({"role": "user", "content": "你好"},), {"a": 1}, 3, False)
    assert CallState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_interrupt_that_arrived_after_the_next_turn_began_cuts_the_earlier_reply():
    state = CallState(
        "n",
        "en-US",
        history=(
            {"role": "assistant", "content": "Your appointment is at three. Anything else?"},
            {"role": "user", "content": "no"},
            {"role": "assistant", "content": "Goodbye!"},
        ),
    )
    cut = apply_interrupt(state, "Your appointment is at three.", replies_back=1)
    assert cut.history[0]["content"] == "Your appointment is at three."
    assert cut.history[1:] == state.history[1:]
    assert apply_interrupt(state, "x", replies_back=5) == state


def test_cache_answers_a_repeated_context_free_turn_without_the_llm(workflow):
    from kimiyi.cache import MemoryCacheStore, TurnCache

    cache = TurnCache(MemoryCacheStore())

    def call(provider, variables=VARIABLES):
        _, state = opening(workflow, variables)
        events = list(
            run_turn(
                workflow, state, TurnInput("Sorry, who is this?"), FailoverChain([provider]), cache=cache
            )
        )
        return said(events), events[-1]

    first = FakeProvider(reply="It's Mia from Bright Smile. Can you make it tomorrow?", route="0")
    text, outcome = call(first)
    assert outcome.cache_hit is False and outcome.provider == "fake"
    assert len(first.requests) == 2  # judged the plain-language edges, then replied

    second = FakeProvider(reply="a different answer the cache must not need", route="2")
    again, repeat = call(second)
    assert second.requests == []  # verdict and reply both came from the cache
    assert repeat.cache_hit is True and repeat.provider == "cache"
    assert again == text and repeat.state.history == outcome.state.history

    third = FakeProvider(reply="Hello Ben.", route="0")
    _, other = call(third, {**VARIABLES, "patientName": "Ben"})
    assert other.cache_hit is False and len(third.requests) == 2  # another patient: nothing shared


def test_scripted_answers_are_never_cached(workflow):
    from kimiyi.cache import MemoryCacheStore, TurnCache

    store = MemoryCacheStore()
    _, state = opening(workflow, VARIABLES)
    list(
        run_turn(
            workflow,
            state,
            TurnInput("Sorry, who is this?"),
            FailoverChain([DeadProvider()]),
            cache=TurnCache(store),
        )
    )
    assert store.stats.writes == 0


def test_tenants_never_share_cached_answers_even_with_one_workflow(workflow):
    from kimiyi.cache import MemoryCacheStore, TurnCache

    shared = TurnCache(MemoryCacheStore())

    def call(tenant):
        provider = FakeProvider(reply="It's Mia from Bright Smile. Can you make it tomorrow?", route="0")
        _, state = opening(workflow, VARIABLES)
        chain, cache = FailoverChain([provider]), shared.for_tenant(tenant)
        outcome = list(run_turn(workflow, state, TurnInput("Sorry, who is this?"), chain, cache=cache))[-1]
        return outcome.cache_hit, len(provider.requests)

    assert call("acme") == (False, 2)
    assert call("globex") == (False, 2)  # the same words, workflow and variables: still asked afresh
    assert call("acme") == (True, 0)
    assert call("globex") == (True, 0)


def _with_digits(workflow, digits):
    data = workflow.to_dict()
    for node in data["nodes"]:
        if node["id"] == "front_desk":
            node["data"]["sendDigits"] = digits
    return data


def test_a_node_can_play_digits_after_its_line(workflow):
    from kimiyi.conversation import SendDigits

    with_digits = parse_workflow(_with_digits(workflow, "ww204#"))
    state = CallState("options_menu", "en-US", variables=VARIABLES)
    events, outcome = turn(with_digits, state, FailoverChain([]), digit="0")
    assert outcome.action == "transfer"
    assert events[-1] == SendDigits("ww204#")
    assert said(events) == "Please hold while I connect you to our front desk."
    assert (
        parse_workflow(with_digits.to_dict()).version_hash
        == with_digits.version_hash
        != workflow.version_hash
    )


@pytest.mark.parametrize("digits", ["12a", "", 5, "1" * 40])
def test_send_digits_must_be_keypad_tones(workflow, digits):
    from kimiyi.workflow import WorkflowError

    with pytest.raises(WorkflowError, match=r"nodes\[\d+\].*data\.sendDigits"):
        parse_workflow(_with_digits(workflow, digits))


class CutShort(FakeProvider):
    """Streams `tokens`, then the connection drops."""

    def __init__(self, *tokens: str) -> None:
        super().__init__()
        self.name = "cut"
        self.tokens = tokens

    def stream(self, messages, **_):
        self.requests.append(messages)

        def tokens():
            yield from self.tokens
            raise ConnectionResetError("reset by peer")

        return tokens()


def test_a_cantonese_reply_cut_short_keeps_its_whole_clauses_and_goes_on_without_a_space(workflow):
    state = CallState("ask_confirm", "zh-HK", variables=VARIABLES)
    cut = CutShort("冇問題", "。", "我哋", "聽日")
    then = FakeProvider(reply="聽日朝早九點開門。")
    events, outcome = turn(workflow, state, FailoverChain([cut, then]), "你哋幾點開門？")
    assert said(events).endswith("冇問題。聽日朝早九點開門。")  # 我哋聽日 was never said
    assert then.requests[-1][-2] == {"role": "assistant", "content": "冇問題。"}
    (recovery,) = outcome.recoveries
    assert (recovery.kept, recovery.by) == ("冇問題。", "fake")


def test_a_reply_cut_short_with_nothing_left_to_continue_it_asks_in_the_call_language(workflow):
    state = CallState("ask_confirm", "zh-HK", variables=VARIABLES)
    events, outcome = turn(
        workflow, state, FailoverChain([CutShort("冇問題", "。", "我哋")]), "你哋幾點開門？"
    )
    assert said(events).endswith("冇問題。唔好意思，可唔可以再講多次？")
    assert outcome.recoveries[0].by == "repeat-request"
    assert outcome.failures == ("cut:dropped",)


def test_a_reply_cut_short_is_marked_in_the_turn_timings(workflow):
    state = CallState("ask_confirm", "en-US", variables=VARIABLES)
    _, outcome = turn(workflow, state, FailoverChain([CutShort("Sure.", " We"), FakeProvider()]), "Hours?")
    marks = outcome.marks.as_ms()
    assert marks["firstToken"] <= marks["cutShort"] <= marks["recovered"] <= marks["lastChunk"]
