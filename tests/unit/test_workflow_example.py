"""The shipped example, examples/clinic-appointment.json, is valid and behaves like a clinic call."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kimiyi.workflow import Workflow, parse_workflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLINIC = EXAMPLES / "clinic-appointment.json"


@pytest.fixture(scope="module")
def clinic() -> Workflow:
    return parse_workflow(json.loads(CLINIC.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_example_is_a_valid_workflow_without_warnings(path: Path) -> None:
    workflow = parse_workflow(json.loads(path.read_text(encoding="utf-8")))
    assert workflow.warnings == ()
    assert workflow.missing_variables() == []


def test_config_declares_the_switchable_languages(clinic: Workflow) -> None:
    assert clinic.config.language == "en-US"
    assert clinic.config.all_languages == ("en-US", "zh-HK", "zh-CN", "es-US")


def test_greeting_is_static_and_renders_the_patient_variables(clinic: Workflow) -> None:
    advance = clinic.auto_advance(clinic.start_node)
    assert advance.path == ("greeting", "ask_confirm")
    line = clinic.spoken_line("greeting", "en-US", {"patientName": "Jamie Lee", "appointmentTime": "9:15 AM"})
    assert line == (
        "Hi Jamie Lee, this is Mia from Harbour Dental, calling to confirm your appointment tomorrow at 9:15 AM."
    )
    assert "{{" not in clinic.render_prompt("ask_confirm")


def test_every_static_line_exists_in_english_and_cantonese(clinic: Workflow) -> None:
    for node in clinic.nodes.values():
        for localized in (node.text, node.scripted_line):
            if localized is None:
                continue
            assert set(localized.languages) == {"en-US", "zh-HK"}, node.id
            cantonese = localized.text_for("zh-HK", "en-US")
            assert re.search(r"[\u4e00-\u9fff]", cantonese), node.id
            # colloquial written Cantonese in Traditional characters, not Simplified Mandarin
            assert not re.search("[们这说时间对确认预约]", cantonese), node.id


def test_a_caller_switching_to_cantonese_hears_cantonese(clinic: Workflow) -> None:
    assert (
        clinic.spoken_line("confirmed", "zh-HK")
        == "好，幫你確認咗聽日10:30 AM嘅預約喇。麻煩你早十分鐘到，記得帶埋保險卡。"
    )
    assert clinic.scripted_line("ask_confirm", "zh-HK").startswith("請問你聽日10:30 AM得唔得閒過嚟？")
    # Mandarin and Spanish callers get the English line (the pipeline may translate it)
    assert clinic.nodes["confirmed"].text.resolve("zh-CN", "en-US")[1] == "en-US"


@pytest.mark.parametrize(
    ("utterance", "target"),
    [
        ("Yes, I'll be there", "confirmed"),
        ("係呀，我會嚟", "confirmed"),
        ("好呀", "confirmed"),
        ("I need to cancel", "cancel_check"),
        ("我想取消", "cancel_check"),
        ("Okay, but can I reschedule?", "reschedule"),
        ("可唔可以改期呀？", "reschedule"),
        ("No, I can't", "options_menu"),
        ("唔得呀", "options_menu"),
        ("Can I speak to the front desk?", "front_desk"),
        ("我想同真人講", "front_desk"),
        ("Sorry, what?", "ask_confirm"),
        ("拜拜", "goodbye"),
    ],
)
def test_ask_confirm_routes_common_answers_without_an_llm(
    clinic: Workflow, utterance: str, target: str
) -> None:
    step = clinic.next_step("ask_confirm", utterance=utterance)
    assert step.target == target, step
    assert not step.needs_llm


def test_ambiguous_answers_go_to_the_llm(clinic: Workflow) -> None:
    step = clinic.next_step("ask_confirm", utterance="Hmm, I might be stuck at work")
    assert [edge.target for edge in step.llm_candidates] == ["confirmed", "reschedule", "cancel_check"]
    assert step.fallback is None  # no else edge: the conversation node keeps talking


@pytest.mark.parametrize(
    ("digit", "target"),
    [("1", "reschedule"), ("2", "cancel_check"), ("0", "front_desk"), ("9", "front_desk")],
)
def test_the_menu_takes_key_presses(clinic: Workflow, digit: str, target: str) -> None:
    assert clinic.next_step("options_menu", digit=digit).target == target


def test_the_menu_has_three_options_and_a_transfer_to_an_e164_number(clinic: Workflow) -> None:
    assert [option.digit for option in clinic.nodes["options_menu"].options] == ["1", "2", "0"]
    assert clinic.nodes["front_desk"].phone_number == "+12125550147"


def test_confirming_mentions_a_balance_only_when_one_is_due(clinic: Workflow) -> None:
    assert clinic.auto_advance("confirmed").path == ("confirmed", "see_you")
    owing = clinic.auto_advance("confirmed", {"balanceDue": "45"})
    assert (owing.path, owing.reason) == (("confirmed", "balance_reminder", "see_you"), "ends")
    assert clinic.spoken_line("balance_reminder", "en-US", {"balanceDue": 45}).startswith(
        "Also, there is an outstanding balance of 45 dollars"
    )


def test_cancelling_asks_first(clinic: Workflow) -> None:
    assert clinic.next_step("cancel_check", utterance="yes please").target == "cancelled"
    assert clinic.next_step("cancel_check", utterance="唔係").target == "ask_confirm"
    assert clinic.auto_advance("cancelled").path == ("cancelled", "goodbye")
    assert clinic.next_step("cancel_check", utterance="the weather is nice").target == "front_desk"


def test_the_example_round_trips_through_to_dict(clinic: Workflow) -> None:
    again = parse_workflow(clinic.to_dict())
    assert again.version_hash == clinic.version_hash
    assert again.config.variables == clinic.config.variables
    assert again == clinic and hash(again) == hash(clinic)
