"""The shared character classes, and the promise that the text code uses these and no copies."""

from __future__ import annotations

import re

import pytest

from kimiyi.charclass import is_wide, joins_without_space, unspaced_script
from tests.conftest import ROOT


@pytest.mark.parametrize("char", ["好", "係", "か", "カ", "。", "ㄅ", "ไ", "ລ", "မ", "ក", "\U00020000"])
def test_scripts_without_spaces_between_words(char):
    assert unspaced_script(char)


@pytest.mark.parametrize("char", ["a", "é", "Ж", "한", "1", " ", "ا"])
def test_scripts_that_space_their_words(char):
    assert not unspaced_script(char)


def test_what_joins_without_a_space():
    assert joins_without_space("好") and joins_without_space("。") and joins_without_space("か")
    assert joins_without_space("！")  # full-width punctuation
    assert not joins_without_space("a") and not joins_without_space(" ") and not joins_without_space(".")


def test_wide_characters():
    assert is_wide("好") and is_wide("，") and is_wide("한")
    assert not is_wide("a") and not is_wide(",")


def test_no_module_keeps_its_own_copy_of_a_script_range():
    # 0x2E80 starts the CJK block list; a copy of the range table elsewhere would drift from this one.
    copies = [
        path.relative_to(ROOT)
        for path in (ROOT / "layers" / "core" / "kimiyi").rglob("*.py")
        if path.name != "charclass.py" and re.search(r"0x2E80|\\u3400|east_asian_width", path.read_text())
    ]
    assert copies == []
