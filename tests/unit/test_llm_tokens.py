from hypothesis import given
from hypothesis import strategies as st

from kimiyi.llm.tokens import split_into_tokens


def test_words_keep_their_leading_space_and_punctuation_is_separate():
    assert split_into_tokens("Hello, world! How are you?") == [
        "Hello",
        ",",
        " world",
        "!",
        " How",
        " are",
        " you",
        "?",
    ]


def test_cjk_comes_one_or_two_characters_at_a_time():
    tokens = split_into_tokens("你好，我係客服。請問有咩可以幫到你？")
    assert "".join(tokens) == "你好，我係客服。請問有咩可以幫到你？"
    assert all(1 <= len(token) <= 2 for token in tokens)
    assert "，" in tokens and "。" in tokens


def test_mixed_latin_and_cjk_split_at_the_script_boundary():
    assert split_into_tokens(" AI助手 ok") == [" AI", "助手", " ok"]


def test_accented_and_spaced_scripts_stay_whole_words():
    assert split_into_tokens("déjà vu") == ["déjà", " vu"]
    assert split_into_tokens("สวัสดีครับ ยินดี") == ["สวัสดีครับ", " ยินดี"]


@given(st.text())
def test_joining_the_tokens_gives_back_the_text(text):
    assert "".join(split_into_tokens(text)) == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_no_token_is_empty(text):
    assert all(split_into_tokens(text))
