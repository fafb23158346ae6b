"""config: defaults, limits, normalisation and the rule on unknown keys."""

from __future__ import annotations

from typing import Any

import pytest

from kimiyi.workflow import PROVIDERS, WorkflowConfig, WorkflowError, parse_workflow


def with_config(config: Any) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "hi", "type": "static", "data": {"text": "Hi"}},
            {"id": "bye", "type": "end", "data": {}},
        ],
        "edges": [{"id": "e", "source": "hi", "target": "bye"}],
        "config": config,
    }


def config_of(config: Any) -> WorkflowConfig:
    return parse_workflow(with_config(config)).config


@pytest.mark.parametrize("empty", [None, {}])
def test_defaults(empty: Any) -> None:
    config = config_of(empty)
    assert config == WorkflowConfig()
    assert (config.language, config.languages, config.voice) == ("en-US", (), None)
    assert (config.temperature, config.max_tokens, config.first_token_timeout_ms) == (0.4, 150, 1500)
    assert config.provider_order == PROVIDERS == ("azure", "openai", "compatible", "scripted")
    assert (config.max_turns, config.max_call_seconds, config.ring_timeout_seconds) == (50, 600, 60)
    assert (config.interruptible, config.welcome_greeting_interruptible) == ("any", "any")
    assert (config.mode, config.machine_detection) == ("streaming", "off")
    assert config.dtmf_detection and config.cache_responses and not config.record_call
    assert config.variables == {}


def test_every_documented_field_is_accepted() -> None:
    config = config_of(
        {
            "language": "zh-hk",
            "languages": ["en-us", "cmn-CN", "yue-HK"],
            "voice": "yue-HK-Chirp3-HD-Aoede",
            "ttsProvider": "google",
            "transcriptionProvider": "Deepgram",
            "speechModel": "nova-3-general",
            "hints": ["Harbour Dental", "改期"],
            "model": "gpt-4o-mini",
            "temperature": 0,
            "maxTokens": 1024,
            "providerOrder": ["openai", "azure"],
            "firstTokenTimeoutMs": 800,
            "maxTurns": 500,
            "maxCallSeconds": 14_400,
            "ringTimeoutSeconds": 5,
            "interruptible": False,
            "interruptSensitivity": "HIGH",
            "welcomeGreetingInterruptible": "dtmf",
            "dtmfDetection": False,
            "mode": "classic",
            "cacheResponses": False,
            "recordCall": True,
            "machineDetection": "DetectMessageEnd",
            "variables": {"name": "Ann"},
        }
    )
    assert config.language == "zh-HK"
    assert config.languages == ("en-US", "cmn-CN", "yue-HK")
    assert config.tts_provider == "Google"
    assert config.temperature == 0.0 and isinstance(config.temperature, float)
    assert config.provider_order == ("openai", "azure", "scripted")  # scripted is always the floor
    assert config.interruptible == "none"
    assert config.interrupt_sensitivity == "high"
    assert config.hints == ("Harbour Dental", "改期")
    assert config.mode == "classic" and config.record_call and not config.cache_responses


def test_all_languages_puts_the_main_one_first_without_repeats() -> None:
    assert config_of({"language": "zh-HK", "languages": ["en-US", "zh-HK"]}).all_languages == (
        "zh-HK",
        "en-US",
    )


def test_interruptible_true_means_any() -> None:
    assert config_of({"interruptible": True}).interruptible == "any"


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ({"maxTurns": "10"}, "config.maxTurns", "expected a number, got a string"),
        ({"maxCallSeconds": 10}, "config.maxCallSeconds", "between 30 and 14400"),
        ({"ringTimeoutSeconds": 601}, "config.ringTimeoutSeconds", "between 5 and 600"),
        ({"temperature": True}, "config.temperature", "expected a number, got a boolean"),
        ({"temperature": float("nan")}, "config.temperature", "expected a number"),
        ({"providerOrder": []}, "config.providerOrder", "at least one"),
        ({"languages": "zh-HK"}, "config.languages", "expected an array, got a string"),
        ({"languages": ["zh-HK", "zh-hk"]}, "config.languages[1]", "'zh-HK' is listed twice"),
        ({"languages": [f"en-A{chr(65 + i)}" for i in range(11)]}, "config.languages", "the limit is 10"),
        ({"voice": "v" * 101}, "config.voice", "the limit is 100"),
        ({"voice": 3}, "config.voice", "expected a string, got a number"),
        ({"ttsProvider": "Azure"}, "config.ttsProvider", "must be one of 'Google', 'Amazon', 'ElevenLabs'"),
        ({"mode": "gather"}, "config.mode", "must be one of 'streaming', 'classic'"),
        ({"machineDetection": True}, "config.machineDetection", "got a boolean"),
        ({"recordCall": "yes"}, "config.recordCall", "expected true or false"),
        ({"hints": ["a,b"]}, "config.hints[0]", "no comma"),
        ({"variables": "name=Ann"}, "config.variables", "expected an object"),
        ({"maxtokens": 100}, "config.maxtokens", "did you mean 'maxTokens'?"),
        ({"zzz": 1}, "config.zzz", "known keys: language, languages"),
        # A tag the language table cannot resolve has no voice, no STT model and no holding phrase: the
        # call could not be answered, so the workflow is refused at setup, not mid-call.
        ({"language": "xx-YY"}, "config.language", "'xx-YY' is not a language of the language table"),
        ({"language": "tlh"}, "config.language", "docs/languages.md"),
        ({"languages": ["zh-HK", "qaa"]}, "config.languages[1]", "'qaa' is not a language of the language"),
    ],
)
def test_config_faults(config: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(with_config(config))
    assert [p.path for p in caught.value.problems] == [path], caught.value
    assert message in caught.value.problems[0].message


def test_config_variables_are_not_part_of_the_version_hash_but_settings_are() -> None:
    base = parse_workflow(with_config({"variables": {"name": "Ann"}}))
    other_patient = parse_workflow(with_config({"variables": {"name": "Bo"}}))
    warmer = parse_workflow(with_config({"temperature": 0.9}))
    assert base.version_hash == other_patient.version_hash
    assert base.version_hash != warmer.version_hash
    explicit_defaults = parse_workflow(with_config(WorkflowConfig().to_json()))
    assert explicit_defaults.version_hash == base.version_hash
