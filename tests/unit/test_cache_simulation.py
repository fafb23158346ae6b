"""50 simulated calls of the example workflow, replayed through the cache's keys and policy.

Each caller turn goes the way `run_turn` goes (deterministic edges, then the LLM judge for plain-language
edges, then static lines, then an LLM reply at a conversation node), with a fake LLM whose replies differ
from call to call, as a real one's do. The cache is consulted where run_turn will consult it: before the
judge and before the reply. The corpus is tests/data/cache_corpus.json.

Figures (printed; run with -s to see them):
- hit rate on repeated interactions: of the turns that need the LLM and whose caller words (normalised)
  were already said at that node, in that language, by an earlier call, the share answered entirely from
  the cache. This is the target (>= 40 %);
- hit rate over all LLM turns, first-time phrases and free text included;
- LLM requests saved (judge calls and replies).
And the check that matters most: every hit is re-checked against the full context it was stored for.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from kimiyi.cache import MemoryCacheStore, ReplyOutcome, TurnCache, normalise
from kimiyi.conversation import build_messages
from kimiyi.conversation.state import with_exchange
from kimiyi.conversation.turn import TurnInput, opening
from kimiyi.languages import detect_language_switch
from kimiyi.workflow import Workflow, parse_workflow

ROOT = Path(__file__).resolve().parents[2]
CORPUS = json.loads((ROOT / "tests" / "data" / "cache_corpus.json").read_text(encoding="utf-8"))
CLINIC = parse_workflow(
    json.loads((ROOT / "examples" / "clinic-appointment.json").read_text(encoding="utf-8"))
)
SCRIPTED = "scripted"


@dataclass
class Figures:
    turns: int = 0
    llm_turns: int = 0
    llm_turn_hits: int = 0
    repeated: int = 0
    repeated_hits: int = 0
    requests_saved: int = 0
    requests_made: int = 0
    lookups: Counter = field(default_factory=Counter)
    seen: set = field(default_factory=set)

    @property
    def repeated_rate(self) -> float:
        return self.repeated_hits / self.repeated if self.repeated else 0.0

    @property
    def llm_rate(self) -> float:
        return self.llm_turn_hits / self.llm_turns if self.llm_turns else 0.0

    def summary(self, name: str) -> str:
        return (
            f"[{name}] {self.turns} caller turns, {self.llm_turns} needing the LLM; "
            f"hits on repeated interactions {self.repeated_hits}/{self.repeated} = {self.repeated_rate:.0%}; "
            f"hits over all LLM turns {self.llm_turn_hits}/{self.llm_turns} = {self.llm_rate:.0%}; "
            f"LLM requests saved {self.requests_saved} of {self.requests_saved + self.requests_made}; "
            f"lookups {dict(sorted(self.lookups.items()))}"
        )


class Truth:
    """What every stored entry was stored for, kept apart from the cache, to re-check every hit."""

    def __init__(self) -> None:
        self.by_key: dict[str, tuple] = {}

    @staticmethod
    def context(workflow: Workflow, node: str, language: str, variables: dict, conversation) -> tuple:
        lines = tuple(
            (m["role"], normalise(m["content"], language) if m["role"] == "user" else m["content"])
            for m in conversation
        )
        return (workflow.version_hash, node, language, variables.get("patientName"), lines)


def _calls(seed: int, scenario: str) -> list[tuple[str, list[str], dict]]:
    rng = random.Random(seed)
    languages = CORPUS["languages"]
    plan = []
    for number in range(CORPUS["calls"]):
        language = rng.choices(list(languages), weights=list(languages.values()))[0]
        scripts = CORPUS["scripts"][language]
        script = rng.choices(scripts, weights=[s["weight"] for s in scripts])[0]["turns"]
        variables: dict = {}
        if scenario == "perPatient":
            spec = CORPUS["scenarios"]["perPatient"]
            variables = {
                "patientName": f"{rng.choice(spec['patients'])} #{number}",
                "appointmentTime": rng.choice(spec["times"]),
            }
        plan.append((language, script, variables))
    return plan


def simulate(scenario: str, seed: int = CORPUS["seed"]) -> Figures:
    rng = random.Random(seed + 1)
    cache = TurnCache(MemoryCacheStore())
    truth = Truth()
    figures = Figures()
    for call_number, (call_language, script, variables) in enumerate(_calls(seed, scenario)):
        _, state = opening(CLINIC, variables)
        for turn_number, phrase_id in enumerate(script):
            phrase = CORPUS["phrases"][call_language][phrase_id]
            turn = (
                TurnInput(digit=phrase["digit"])
                if "digit" in phrase
                else TurnInput(rng.choice(phrase["variants"]))
            )
            caller = turn.caller_words()
            figures.turns += 1
            language = state.language
            if turn.utterance:
                language = (
                    detect_language_switch(turn.utterance, language, CLINIC.config.all_languages) or language
                )

            step = CLINIC.next_step(
                state.node_id, utterance=turn.utterance, digit=turn.digit, variables=state.variables
            )
            target, needs_llm, served = step.target, False, True
            if step.needs_llm:
                needs_llm = True
                found = cache.find_verdict(
                    CLINIC,
                    state.node_id,
                    language,
                    caller,
                    state.variables,
                    state.history,
                    step.llm_candidates,
                )
                figures.lookups[f"verdict {found.status}"] += 1
                if found.hit:
                    edge = found.verdict
                    figures.requests_saved += 1
                    assert truth.by_key[found.key] == (
                        "verdict",
                        Truth.context(
                            CLINIC,
                            state.node_id,
                            language,
                            state.variables,
                            [*state.history, {"role": "user", "content": caller}],
                        ),
                    )
                else:
                    edge, served = phrase.get("judge"), False
                    figures.requests_made += 1
                    if cache.keep_verdict(found, edge, provider="azure", scripted_name=SCRIPTED):
                        truth.by_key[found.key] = (
                            "verdict",
                            Truth.context(
                                CLINIC,
                                state.node_id,
                                language,
                                state.variables,
                                [*state.history, {"role": "user", "content": caller}],
                            ),
                        )
                target = step.choose(edge)

            node_id = target or state.node_id
            advance = CLINIC.auto_advance(node_id, state.variables) if target else None
            path = advance.path if advance else (node_id,)
            final = CLINIC.node(advance.node_id if advance else node_id)
            spoken = [line for v in path if (line := CLINIC.spoken_line(v, language, state.variables))]
            if final.type == "conversation":
                needs_llm = True
                so_far = with_exchange(state, caller, " ".join(spoken))
                messages = build_messages(CLINIC, final.id, language, state.variables, so_far)
                found = cache.find_reply(CLINIC, final.id, language, state.variables, messages)
                figures.lookups[f"reply {found.status}"] += 1
                context = ("reply", Truth.context(CLINIC, final.id, language, state.variables, messages))
                if found.hit:
                    reply = found.text
                    figures.requests_saved += 1
                    assert truth.by_key[found.key] == context, "a reply was served in another context"
                else:
                    reply, served = f"(LLM reply, call {call_number} turn {turn_number})", False
                    figures.requests_made += 1
                    if cache.keep_reply(found, ReplyOutcome(reply, "azure", complete=True)):
                        truth.by_key[found.key] = context
                spoken.append(reply)

            if needs_llm:
                figures.llm_turns += 1
                figures.llm_turn_hits += served
                signature = (language, state.node_id, normalise(caller, language))
                if signature in figures.seen:
                    figures.repeated += 1
                    figures.repeated_hits += served
                figures.seen.add(signature)
            state = replace(
                state,
                node_id=final.id,
                language=language,
                history=with_exchange(state, caller, " ".join(spoken)),
                turns=state.turns + 1,
            )
            if final.type in ("end", "transfer"):
                break
    return figures


def test_corpus_is_well_formed() -> None:
    assert CORPUS["calls"] >= 50
    for language, scripts in CORPUS["scripts"].items():
        phrases = CORPUS["phrases"][language]
        for script in scripts:
            for phrase_id in script["turns"]:
                assert phrase_id in phrases, f"{language} script uses unknown phrase {phrase_id!r}"
        for phrase_id, phrase in phrases.items():
            assert phrase.get("variants") or phrase.get("digit"), f"{language}/{phrase_id} has nothing to say"
            if "judge" in phrase:
                CLINIC.take(phrase["judge"])  # raises for an edge the workflow does not have


def test_hit_rate_on_repeated_interactions_across_50_calls() -> None:
    figures = simulate("shared")
    print("\n" + figures.summary("shared variables, 50 calls"))
    assert figures.repeated >= 20  # the corpus does repeat itself
    assert figures.repeated_rate >= 0.40
    assert figures.requests_saved > 0


def test_per_patient_calls_never_share_replies_across_patients() -> None:
    # Every call has its own patient: the clinic's prompt and opening name them, so replies cannot be
    # shared across calls at all. Any hit here would be served to the wrong patient; the Truth check
    # inside simulate() fails the test on the first one.
    figures = simulate("perPatient")
    print("\n" + figures.summary("a different patient every call, 50 calls"))
    assert figures.llm_turns > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_other_seeds_hold_the_target_too(seed: int) -> None:
    assert simulate("shared", seed).repeated_rate >= 0.40
