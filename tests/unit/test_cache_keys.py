"""The zero-wrong-context proof: a key changes whenever anything an answer depends on changes, and only
then. Contexts that differ in exactly one part (workflow, version, node, language, a used variable's
value, the conversation, the caller's words) never share a key, so a stored answer is never served to
them; contexts equal up to normalisation share one."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kimiyi.cache import (
    KeyParts,
    MemoryCacheStore,
    ReplyOutcome,
    TurnCache,
    conversation_digest,
    line_parts,
    opening_parts,
    reply_parts,
    verdict_parts,
)
from kimiyi.conversation import build_messages
from kimiyi.conversation.turn import opening
from kimiyi.workflow import Workflow, parse_workflow

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLINIC_PAYLOAD = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "clinic-appointment.json").read_text(encoding="utf-8")
)


def _variant(change) -> Workflow:
    payload = copy.deepcopy(CLINIC_PAYLOAD)
    change(payload)
    return parse_workflow(payload)


CLINIC = parse_workflow(CLINIC_PAYLOAD)
# Another business's workflow that happens to reuse the clinic's node ids and wording but its own prompt.
OTHER_WORKFLOW = _variant(lambda p: p.update(globalPrompt=p["globalPrompt"].replace("Mia", "Sam")))
# The same workflow, next version: one setting changed.
NEXT_VERSION = _variant(lambda p: p["config"].update(temperature=0.5))
# The same content under another id: content-addressed, so it is the same version (and may share).
RENAMED = _variant(lambda p: p.update(workflowId="another-id"))

CONVERSATION_NODES = ("ask_confirm", "reschedule")
LANGUAGES = ("en-US", "zh-HK", "zh-CN", "es-US")
CALLER = {
    "en-US": ["who is this?", "Can you repeat that?", "yes", "what is this about?"],
    "zh-HK": ["你係邊個呀？", "講多次", "係", "咩事"],
    "zh-CN": ["你是谁？", "再说一遍", "是", "什么事"],
    "es-US": ["¿Quién habla?", "¿Me puede repetir?", "sí", "¿De qué se trata?"],
}
VALUE = st.one_of(st.text(min_size=1, max_size=12), st.integers(-5, 500), st.booleans())
VARIABLES = st.fixed_dictionaries(
    {
        "patientName": st.sampled_from(["Alex Chan", "Jamie Lee", "陳大文"]),
        "appointmentTime": st.sampled_from(["10:30 AM", "9:15 AM", "下午三點"]),
        "clinicName": st.just("Harbour Dental"),
        "balanceDue": st.integers(0, 300),
    }
)


def _messages(workflow: Workflow, node: str, language: str, variables: dict, said: str) -> list[dict]:
    greeting, _ = opening(workflow, variables)
    history = [{"role": "assistant", "content": greeting}, {"role": "user", "content": said}]
    return build_messages(workflow, node, language, variables, history)


def _reply_key(workflow=CLINIC, node="ask_confirm", language="en-US", variables=None, said="who is this?"):
    variables = dict(variables or {})
    return reply_parts(
        workflow, node, language, variables, _messages(workflow, node, language, variables, said)
    ).key


# --- the parts ------------------------------------------------------------------------------------------

PARTS = st.builds(
    KeyParts,
    kind=st.sampled_from(["opening", "line", "reply", "verdict"]),
    workflow_version=st.text(alphabet="0123456789abcdef", min_size=1, max_size=8),
    node_id=st.text(min_size=1, max_size=8),
    language=st.sampled_from(["en-US", "zh-HK", "zh-CN", "yue-HK", "ja-JP"]),
    utterance=st.text(max_size=10),
    variables=st.lists(
        st.tuples(st.text(min_size=1, max_size=4), st.none() | st.text(max_size=4)), max_size=3
    ).map(lambda pairs: tuple(sorted(dict(pairs).items()))),
    context=st.text(alphabet="0123456789abcdef", max_size=8),
)
OTHER = {
    "kind": st.sampled_from(["opening", "line", "reply", "verdict"]),
    "workflow_version": st.text(alphabet="0123456789abcdef", min_size=1, max_size=8),
    "node_id": st.text(min_size=1, max_size=8),
    "language": st.sampled_from(["en-US", "zh-HK", "zh-CN", "yue-HK", "ja-JP", "es-US"]),
    "utterance": st.text(max_size=10),
    "variables": st.lists(
        st.tuples(st.text(min_size=1, max_size=4), st.none() | st.text(max_size=4)), max_size=3
    ).map(lambda pairs: tuple(sorted(dict(pairs).items()))),
    "context": st.text(alphabet="0123456789abcdef", max_size=8),
}


@SETTINGS
@given(parts=PARTS, field=st.sampled_from(sorted(OTHER)), data=st.data())
def test_parts_differing_in_exactly_one_component_never_share_a_key(
    parts: KeyParts, field: str, data
) -> None:
    value = data.draw(OTHER[field])
    assume(value != getattr(parts, field))
    changed = replace(parts, **{field: value})
    assert changed.key != parts.key


@SETTINGS
@given(parts=PARTS)
def test_equal_parts_give_the_same_key_which_holds_no_raw_text(parts: KeyParts) -> None:
    copy_ = replace(parts)
    assert copy_.key == parts.key
    assert re.fullmatch(r"(opening|line|reply|verdict)#[0-9a-f]{64}", parts.key)


def test_bad_parts_are_named() -> None:
    with pytest.raises(ValueError, match="unknown cache entry kind 'answer'"):
        KeyParts("answer", "v", "n", "en-US")
    with pytest.raises(ValueError, match="node_id must be a non-empty string"):
        KeyParts("reply", "v", "", "en-US")


# --- the builders on real workflows ---------------------------------------------------------------------


def test_different_workflows_and_versions_never_share_a_reply_key() -> None:
    keys = {_reply_key(workflow) for workflow in (CLINIC, OTHER_WORKFLOW, NEXT_VERSION)}
    assert len(keys) == 3
    assert len({CLINIC.version_hash, OTHER_WORKFLOW.version_hash, NEXT_VERSION.version_hash}) == 3


def test_the_same_content_under_another_id_is_the_same_version() -> None:
    assert RENAMED.version_hash == CLINIC.version_hash
    assert _reply_key(RENAMED) == _reply_key(CLINIC)


@SETTINGS
@given(
    node=st.sampled_from(CONVERSATION_NODES),
    language=st.sampled_from(LANGUAGES),
    variables=VARIABLES,
    phrase=st.integers(0, 3),
    mutation=st.sampled_from(
        ["workflow", "version", "node", "language", "variable", "conversation", "caller"]
    ),
    data=st.data(),
)
def test_reply_contexts_differing_in_one_component_never_share_a_key(
    node, language, variables, phrase, mutation, data
) -> None:
    said = CALLER[language][phrase]
    base = dict(workflow=CLINIC, node=node, language=language, variables=variables, said=said)
    other = dict(base)
    if mutation == "workflow":
        other["workflow"] = OTHER_WORKFLOW
    elif mutation == "version":
        other["workflow"] = NEXT_VERSION
    elif mutation == "node":
        other["node"] = next(n for n in CONVERSATION_NODES if n != node)
    elif mutation == "language":
        other["language"] = data.draw(st.sampled_from([code for code in LANGUAGES if code != language]))
    elif mutation == "variable":
        name = data.draw(st.sampled_from(sorted(CLINIC.variables_used(node))))
        value = data.draw(VALUE)
        assume(str(value) != str(variables.get(name)))
        other["variables"] = {**variables, name: value}
    elif mutation == "conversation":
        other["said"] = said  # same words, but an earlier line differs
        messages = _messages(CLINIC, node, language, variables, said)
        messages[1] = {"role": "assistant", "content": messages[1]["content"] + " Sorry?"}
        changed = reply_parts(CLINIC, node, language, variables, messages).key
        assert changed != _reply_key(**base)
        return
    else:
        other["said"] = CALLER[language][(phrase + 1) % 4]

    store = MemoryCacheStore()
    cache = TurnCache(store)
    first = _lookup(cache, **base)
    assert first.status == "miss"
    cache.keep_reply(first, ReplyOutcome("A reply for the first context.", "azure", complete=True))
    second = _lookup(cache, **other)
    assert second.key != first.key
    assert not second.hit  # never served across the changed component
    assert _lookup(cache, **base).hit  # while the first context itself hits


def _lookup(cache: TurnCache, workflow, node, language, variables, said):
    return cache.find_reply(
        workflow, node, language, variables, _messages(workflow, node, language, variables, said)
    )


@pytest.mark.parametrize(
    ("language", "a", "b"),
    [
        ("en-US", "Who is this?", "um, WHO IS THIS"),
        ("en-US", "Can you repeat that?", "ｃａｎ ｙｏｕ ｒｅｐｅａｔ ｔｈａｔ？"),
        ("zh-HK", "你係邊個呀？", "嗯，你 係 邊 個"),
        ("zh-CN", "你是誰？", "你是谁"),
        ("es-US", "¿Quién habla?", "Eh... ¡QUIÉN HABLA!"),
    ],
)
def test_contexts_equal_up_to_normalisation_share_a_key(language: str, a: str, b: str) -> None:
    assert _reply_key(language=language, said=a) == _reply_key(language=language, said=b)


def test_cantonese_and_mandarin_never_share_even_when_the_text_normalises_alike() -> None:
    assert _reply_key(language="zh-HK", said="係") != _reply_key(language="zh-CN", said="系")


def test_a_variable_the_node_does_not_use_does_not_split_the_key() -> None:
    # balanceDue is not in ask_confirm's texts nor in the opening it follows here
    assert "balanceDue" not in CLINIC.variables_used("ask_confirm")
    assert _reply_key(variables={"balanceDue": 0}) == _reply_key(variables={"balanceDue": 120})
    assert _reply_key(variables={"patientName": "A"}) != _reply_key(variables={"patientName": "B"})


def test_values_that_render_alike_share_and_a_missing_value_differs_from_an_empty_one() -> None:
    assert _reply_key(variables={"clinicAddress": 3}) == _reply_key(variables={"clinicAddress": 3.0})
    assert _reply_key(variables={"clinicAddress": ""}) != _reply_key(variables={})


def test_verdict_keys_separate_node_language_history_and_candidates() -> None:
    history = [{"role": "assistant", "content": "Can you make it?"}]
    candidates = CLINIC.next_step("ask_confirm", utterance="who is this").llm_candidates
    base = verdict_parts(CLINIC, "ask_confirm", "en-US", "Who is this?", {}, history, candidates)
    assert (
        base.key == verdict_parts(CLINIC, "ask_confirm", "en-US", "who is this", {}, history, candidates).key
    )
    others = [
        verdict_parts(CLINIC, "reschedule", "en-US", "Who is this?", {}, history, candidates),
        verdict_parts(CLINIC, "ask_confirm", "zh-HK", "Who is this?", {}, history, candidates),
        verdict_parts(CLINIC, "ask_confirm", "en-US", "Who is this?", {}, [], candidates),
        verdict_parts(CLINIC, "ask_confirm", "en-US", "Who is this?", {}, history, candidates[:1]),
        verdict_parts(NEXT_VERSION, "ask_confirm", "en-US", "Who is this?", {}, history, candidates),
        verdict_parts(
            CLINIC, "ask_confirm", "en-US", "Who is this?", {"patientName": "Jo"}, history, candidates
        ),
    ]
    assert len({base.key, *(parts.key for parts in others)}) == len(others) + 1


def test_line_and_opening_keys() -> None:
    # a line depends only on the variables its own text uses
    assert line_parts(CLINIC, "see_you", "en-US", {"patientName": "A"}).key == (
        line_parts(CLINIC, "see_you", "en-US", {"patientName": "B"}).key
    )
    assert line_parts(CLINIC, "confirmed", "en-US", {"appointmentTime": "9"}).key != (
        line_parts(CLINIC, "confirmed", "en-US", {"appointmentTime": "10"}).key
    )
    assert line_parts(CLINIC, "see_you", "en-US", {}).key != line_parts(CLINIC, "see_you", "zh-HK", {}).key
    # the opening depends on every variable (the start path may branch on any of them)
    assert opening_parts(CLINIC, "en-US", {"balanceDue": 1}).key != opening_parts(CLINIC, "en-US", {}).key


def test_conversation_digest_normalises_only_caller_lines() -> None:
    a = [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Who is this?"}]
    b = [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "who is this"}]
    c = [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "who is this"}]
    assert conversation_digest(a, "en-US") == conversation_digest(b, "en-US")
    assert conversation_digest(b, "en-US") != conversation_digest(c, "en-US")


def test_malformed_input_is_named() -> None:
    with pytest.raises(ValueError, match="not a BCP-47 language tag"):
        reply_parts(CLINIC, "ask_confirm", "Cantonese!", {}, [{"role": "user", "content": "hi"}])
    with pytest.raises(KeyError, match="no node 'nowhere'"):
        reply_parts(CLINIC, "nowhere", "en-US", {}, [{"role": "user", "content": "hi"}])
    with pytest.raises(ValueError, match="no caller"):
        reply_parts(CLINIC, "ask_confirm", "en-US", {}, [{"role": "system", "content": "x"}])
    with pytest.raises(ValueError, match=r"messages\[0\] must be a mapping"):
        conversation_digest(["hello"], "en-US")  # type: ignore[list-item]
