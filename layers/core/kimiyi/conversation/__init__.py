"""The turn pipeline every call path shares: call state in, speakable chunks and the new state out."""

from .prompts import build_messages, judge_messages, parse_judgement
from .state import CallState, apply_interrupt, new_call_state
from .turn import Say, SendDigits, SwitchLanguage, TurnInput, TurnMarks, TurnOutcome, run_turn

__all__ = [
    "CallState",
    "Say",
    "SendDigits",
    "SwitchLanguage",
    "TurnInput",
    "TurnMarks",
    "TurnOutcome",
    "apply_interrupt",
    "build_messages",
    "judge_messages",
    "new_call_state",
    "parse_judgement",
    "run_turn",
]
