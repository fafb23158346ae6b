"""The turn pipeline through the real openai client against the local LLM server on loopback."""

from __future__ import annotations

import json

import pytest

from kimiyi.conversation import Say, TurnInput, TurnOutcome, run_turn
from kimiyi.conversation.turn import opening
from kimiyi.llm import CompatibleProvider, FailoverChain, ProviderTimeouts
from kimiyi.workflow import parse_workflow
from kimiyi_local.llm_server import LocalLLMServer
from tests.unit.test_turn_pipeline import EXAMPLE, VARIABLES

TIMEOUTS = ProviderTimeouts(connect_s=2, read_s=5)


@pytest.fixture(scope="module")
def workflow():
    return parse_workflow(json.loads(EXAMPLE.read_text()))


@pytest.fixture(scope="module")
def primary():
    with LocalLLMServer(first_token_ms=20, token_ms=1, max_hang_s=10) as server:
        yield server


@pytest.fixture(scope="module")
def secondary():
    with LocalLLMServer(
        first_token_ms=20, token_ms=1, reply="Sorry about that. Which day suits you?"
    ) as server:
        yield server


def provider(server, name):
    return CompatibleProvider(server.openai_base_url, "local-fake", "k", timeouts=TIMEOUTS, name=name)


def play(workflow, chain, utterance):
    _, state = opening(workflow, VARIABLES)
    events = list(run_turn(workflow, state, TurnInput(utterance), chain))
    return [e.text for e in events if isinstance(e, Say)], events[-1]


def test_local_server_routes_the_edge_and_streams_the_reply(workflow, primary):
    primary.configure(mode="ok")
    chain = FailoverChain([provider(primary, "local")], first_token_timeout_s=2)
    chunks, outcome = play(workflow, chain, "I want to move the appointment please")
    assert isinstance(outcome, TurnOutcome)
    assert outcome.judged_edge == "ask-llm-reschedule"  # the fake router picked the matching statement
    assert outcome.provider == "local"
    assert "".join(chunks) == "You said: I want to move the appointment please. How else can I help?"
    assert len(chunks) >= 2  # streamed in clauses, not as one block


def test_hanging_primary_fails_over_to_the_secondary(workflow, primary, secondary):
    primary.configure(mode="hang_after_headers")
    chain = FailoverChain(
        [provider(primary, "primary"), provider(secondary, "secondary")], first_token_timeout_s=1.0
    )
    chunks, outcome = play(workflow, chain, "which doctor will I see?")
    primary.configure(mode="ok")
    assert outcome.provider == "secondary"
    assert "primary:timeout" in outcome.failures
    assert "".join(chunks).endswith("Which day suits you?")
