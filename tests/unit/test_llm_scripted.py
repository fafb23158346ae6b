import pytest

from kimiyi.llm import DEFAULT_HOLDING_PHRASE, ScriptContext, ScriptedProvider

LINES = {
    "en-US": "Our opening hours are nine to five.",
    "es-ES": "Abrimos de nueve a cinco.",
    "zh-CN": "我们的营业时间是九点到五点。",
    "yue-HK": "我哋朝九晚五開門。",
    "ja-JP": "営業時間は九時から五時です。",
}


def spoken(context: ScriptContext) -> list[str]:
    return list(ScriptedProvider().stream([], max_tokens=50, temperature=0.0, context=context))


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en-US", LINES["en-US"]),
        ("ja-JP", LINES["ja-JP"]),
        ("es-MX", LINES["es-ES"]),  # same language, another region
        ("EN-us", LINES["en-US"]),  # codes compare case-insensitively
        ("zh-HK", LINES["yue-HK"]),  # Cantonese under either code, never the Mandarin line
        ("yue-HK", LINES["yue-HK"]),
        ("zh-CN", LINES["zh-CN"]),
    ],
)
def test_speaks_the_line_in_the_callers_language(language, expected):
    deltas = spoken(ScriptContext(language=language, scripted_line=LINES))
    assert "".join(deltas) == expected
    assert len(deltas) > 1  # streams in pieces like a model


def test_cantonese_caller_gets_the_holding_phrase_rather_than_a_mandarin_line():
    lines = {"en-US": "Hello.", "zh-CN": "你好。"}
    context = ScriptContext(language="zh-HK", scripted_line=lines, holding_phrase="請稍等。")
    assert "".join(spoken(context)) == "請稍等。"


def test_a_plain_string_line_is_spoken_as_is():
    deltas = spoken(ScriptContext(language="fr-FR", scripted_line="Bonjour, je vous écoute."))
    assert deltas == ["Bonjour", ",", " je", " vous", " écoute", "."]


def test_no_line_for_the_language_gives_the_holding_phrase_from_a_lookup():
    phrases = {"de-DE": "Einen Moment, bitte.", "ko-KR": "잠시만 기다려 주세요."}
    for code, phrase in phrases.items():
        context = ScriptContext(language=code, scripted_line={"en-US": "Hi."}, holding_phrase=phrases.get)
        assert "".join(spoken(context)) == phrase


def test_english_default_holding_phrase_when_nothing_is_given():
    assert "".join(spoken(ScriptContext())) == DEFAULT_HOLDING_PHRASE
    assert "".join(spoken(ScriptContext(language="it-IT", scripted_line="   "))) == DEFAULT_HOLDING_PHRASE


def test_a_lookup_without_a_phrase_falls_back_to_english():
    context = ScriptContext(language="xx-XX", holding_phrase=lambda code: "")
    assert "".join(spoken(context)) == DEFAULT_HOLDING_PHRASE


def test_describe_names_the_responder():
    assert ScriptedProvider().describe() == {"name": "scripted", "model": "scripted", "host": "local"}
