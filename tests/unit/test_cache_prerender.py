"""Pre-rendering the example workflow at call setup: the opening and every verbatim line, per language."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from kimiyi.cache import MemoryCacheStore, line_parts, opening_line, opening_parts, prerender, ttl_for
from kimiyi.conversation.turn import opening
from kimiyi.workflow import parse_workflow

PAYLOAD = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "clinic-appointment.json").read_text(encoding="utf-8")
)
CLINIC = parse_workflow(PAYLOAD)
CALL = {"patientName": "Jamie Lee", "appointmentTime": "9:15 AM", "balanceDue": 40}
SPEAKING = [node_id for node_id, node in CLINIC.nodes.items() if node.type != "conversation"]


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return prerender(CLINIC, CALL, ["en-US", "zh-HK"])


def test_every_verbatim_line_and_the_opening_in_both_languages(rendered: dict[str, str]) -> None:
    assert len(SPEAKING) == 10
    assert len(rendered) == 2 * (len(SPEAKING) + 1)
    for language in ("en-US", "zh-HK"):
        assert opening_parts(CLINIC, language, CALL).key in rendered
        for node_id in SPEAKING:
            key = line_parts(CLINIC, node_id, language, CALL).key
            assert rendered[key] == CLINIC.spoken_line(node_id, language, CALL)
    assert all("{{" not in text for text in rendered.values())


def test_openings(rendered: dict[str, str]) -> None:
    english = rendered[opening_parts(CLINIC, "en-US", CALL).key]
    assert english == opening(CLINIC, CALL)[0]  # the same words the turn pipeline opens with
    assert english.startswith("Hi Jamie Lee, this is Mia from Harbour Dental")
    assert english.endswith("tell me if you'd like to reschedule or cancel.")
    cantonese = rendered[opening_parts(CLINIC, "zh-HK", CALL).key]
    assert cantonese.startswith("你好，Jamie Lee！我係Harbour Dental嘅Mia")
    assert "請問你聽日9:15 AM得唔得閒過嚟？" in cantonese
    assert opening_line(CLINIC, "zh-HK", CALL) == cantonese


def test_lines_carry_the_calls_variables(rendered: dict[str, str]) -> None:
    balance = rendered[line_parts(CLINIC, "balance_reminder", "zh-HK", CALL).key]
    assert balance == "另外，你個戶口仲有40蚊未俾，到時可以喺前台找數。"
    transfer = rendered[line_parts(CLINIC, "front_desk", "en-US", CALL).key]
    assert transfer == "Please hold while I connect you to our front desk."


def test_every_declared_language_by_default() -> None:
    assert CLINIC.config.all_languages == ("en-US", "zh-HK", "zh-CN", "es-US")
    assert len(prerender(CLINIC, CALL)) == 4 * (len(SPEAKING) + 1)


def test_another_call_gets_its_own_openings_but_shares_lines_without_variables() -> None:
    mine = prerender(CLINIC, CALL, ["en-US"])
    theirs = prerender(CLINIC, {**CALL, "patientName": "Sam Wu"}, ["en-US"])
    assert opening_parts(CLINIC, "en-US", CALL).key not in theirs
    goodbye = line_parts(CLINIC, "goodbye", "en-US", CALL).key
    assert goodbye in mine and goodbye in theirs


def test_nothing_when_caching_is_off() -> None:
    payload = copy.deepcopy(PAYLOAD)
    payload["config"]["cacheResponses"] = False
    assert prerender(parse_workflow(payload), CALL, ["en-US"]) == {}


def test_stored_in_one_batch_and_read_back(rendered: dict[str, str]) -> None:
    store = MemoryCacheStore(clock=lambda: 1_000.0)
    assert store.put_many(rendered, ttl_for("line"), meta={"kind": "line"}) == len(rendered)
    greeting = store.get(opening_parts(CLINIC, "zh-HK", CALL).key)
    assert greeting is not None and greeting.text.startswith("你好，Jamie Lee")
    assert greeting.expires_at == 1_000 + 24 * 3600


def test_unknown_language_is_named() -> None:
    with pytest.raises(ValueError, match="not a BCP-47"):
        prerender(CLINIC, CALL, ["Klingon!"])
