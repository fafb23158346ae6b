"""Classic mode: the conversation as <Gather> turns, each one webhook carrying SpeechResult or Digits.

A turn runs through the same pipeline as the relay (`run_turn`), collects what it says into one <Say>, and
answers the next <Gather>, a <Hangup/> after an end node, or a <Dial> at a transfer node.

Turn numbers. Each <Gather> posts to `…?trackingId=…&turn=N`, where N = the state's `turns` + 1: the turn
that request will make. A re-prompt after silence keeps N and adds `silence=1`.

Retries. Twilio may post the same turn twice. The TwiML answered to each turn is stored
(CALL#<trackingId> / TWIML#<N>[-silence<k>]) and a repeat gets it back without running anything. The state
is written first (conditional on its version) and the TwiML second; if an attempt died between the two,
the state already shows turn N done (`turns` >= N) and the answer is rebuilt from it instead of running
the turn again. A duplicate running alongside loses the conditional write and answers the winner's TwiML.

Silence. Twilio posts an empty result (actionOnEmptyResult): the first time, the node's line is said again;
the second time in a row, a goodbye and <Hangup/>. Silence does not advance or save the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .adapters.call_records import CallRecords
from .adapters.calls_store import CallsStore, ConflictError
from .charclass import is_wide
from .conversation import CallState, Say, TurnInput, TurnOutcome, run_turn
from .conversation.turn import opening
from .inputs import whole_number
from .languages import UnknownLanguageError, get_language
from .llm import FailoverChain
from .observability import Log
from .twiml import UNKNOWN_CALL_LINE, gather, say_and_dial, say_and_hangup, workflow_of
from .webhooks import BadRequest, TwilioRequest
from .workflow import Workflow

WEBHOOK_PATH = "/api/twiml-optimized"
REPROMPTS = 1  # silences answered with the node's line again before saying goodbye
# Said before hanging up on a caller who said nothing twice; keyed by language code, then family.
NO_ANSWER_GOODBYE = {
    "en": "Sorry, I didn't hear anything. Goodbye.",
    "yue": "唔好意思，我聽唔到你講嘢。拜拜。",
    "zh": "抱歉，我没有听到您的声音。再见。",
    "zh-TW": "抱歉，我沒有聽到您的聲音。再見。",
    "es": "Lo siento, no le he oído. Adiós.",
    "fr": "Désolé, je ne vous entends pas. Au revoir.",
    "de": "Entschuldigung, ich habe nichts gehört. Auf Wiederhören.",
    "pt": "Desculpe, não ouvi nada. Até logo.",
    "ja": "申し訳ありません、お声が聞こえませんでした。失礼いたします。",
    "ko": "죄송합니다. 말씀이 들리지 않습니다. 안녕히 계세요.",
}


def no_answer_goodbye(code: str) -> str:
    try:
        language = get_language(code)
    except UnknownLanguageError:
        return NO_ANSWER_GOODBYE["en"]
    return (
        NO_ANSWER_GOODBYE.get(language.code)
        or NO_ANSWER_GOODBYE.get(language.family)
        or NO_ANSWER_GOODBYE["en"]
    )


def reprompt_line(workflow: Workflow, state: CallState) -> str:
    """What to say again: the node's own line (a menu's prompt, a conversation node's scripted line),
    else the last thing said."""
    line = workflow.spoken_line(state.node_id, state.language, state.variables) or workflow.scripted_line(
        state.node_id, state.language, state.variables
    )
    if line:
        return line
    said = [m["content"] for m in state.history if m["role"] == "assistant"]
    return said[-1] if said else ""


def join_spoken(chunks: list[str]) -> str:
    """The turn's chunks as one <Say> text. run_turn drops the whitespace-only chunk between two lines
    ("…a call." + "Thank you…"): put a space back where a clause mark meets a letter of a spaced script
    (CJK text needs none)."""
    text = ""
    for chunk in chunks:
        if text and chunk and text[-1] in ".!?…,;:" and chunk[0].isalnum() and not is_wide(chunk[0]):
            text += " "
        text += chunk
    return text.strip()


MAX_QUERY_NUMBER = 999_999  # turn and silence counters in the URLs we hand Twilio


def _whole_number(query: Mapping[str, str], name: str) -> int:
    raw = query.get(name, "0") or "0"
    value = whole_number(raw, high=MAX_QUERY_NUMBER)
    if value is None:
        raise BadRequest(
            f"the query parameter {name} must be a whole number (ASCII digits), not {raw[:32]!r}"
        )
    return value


class ClassicCall:
    def __init__(
        self,
        *,
        store: CallsStore,
        records: CallRecords,
        chain: Callable[[], FailoverChain],  # called on the first turn that needs it
        logger: Log,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        duplicate_wait_s: float = 3.0,
    ) -> None:
        self.store = store
        self.records = records
        self.chain = chain
        self.log = logger
        self.clock = clock
        self.sleep = sleep
        self.duplicate_wait_s = duplicate_wait_s

    def answer(self, request: TwilioRequest, tracking_id: str, session: Mapping[str, Any]) -> str:
        received = self.clock()
        turn = _whole_number(request.query, "turn")
        silence = _whole_number(request.query, "silence")
        speech = request.form.get("SpeechResult", "").strip()
        digits = request.form.get("Digits", "").strip()
        workflow = workflow_of(session["workflow"])
        if turn == 0 and not speech and not digits:
            return self._first(request, tracking_id, workflow, session)
        call_sid = request.required("CallSid")
        key = f"{turn}-silence{silence}" if silence else str(turn)
        earlier = self.records.rendered(tracking_id, key)
        if earlier is not None:
            if earlier[0] != call_sid:
                self.log.warning("a turn of this trackingId was answered to another call")
                return say_and_hangup(UNKNOWN_CALL_LINE, workflow.config.language)
            self.log.info("a retried turn is answered from the record", extra={"turn": key})
            return earlier[1]
        twiml = self._turn(request, tracking_id, workflow, session, turn, silence, speech, digits, received)
        return self.records.keep_rendered(tracking_id, key, call_sid, twiml)

    # ------------------------------------------------------------------ the call's first webhook
    def _first(
        self, request: TwilioRequest, tracking_id: str, workflow: Workflow, session: Mapping[str, Any]
    ) -> str:
        """The greeting; or, when the conversation has begun (the relay failed over to classic mode), the
        current node's line again."""
        stored, _ = self.store.load_state(tracking_id)
        if stored:
            state = CallState.from_dict(stored)
            return self._render(request, tracking_id, workflow, state, reprompt_line(workflow, state))
        _, state = opening(workflow, session.get("variables"))
        greeting = session.get("greeting", "")
        return self._render(request, tracking_id, workflow, state, greeting, greeting=True)

    # ------------------------------------------------------------------ one caller turn
    def _turn(
        self,
        request: TwilioRequest,
        tracking_id: str,
        workflow: Workflow,
        session: Mapping[str, Any],
        turn: int,
        silence: int,
        speech: str,
        digits: str,
        received: float,
    ) -> str:
        stored, version = self.store.load_state(tracking_id)
        state = CallState.from_dict(stored) if stored else opening(workflow, session.get("variables"))[1]
        if state.ended:
            return say_and_hangup("", state.language)
        if not speech and not digits:
            if silence >= REPROMPTS:
                return say_and_hangup(no_answer_goodbye(state.language), state.language)
            line = reprompt_line(workflow, state)
            return self._render(request, tracking_id, workflow, state, line, silence=silence + 1)
        if state.turns >= turn:  # this turn was applied; its TwiML was never stored
            return self._replay(request, tracking_id, workflow, state)

        outcome: TurnOutcome | None = None
        spoken: list[str] = []
        user_turn = TurnInput(utterance=speech or None, digit=digits or None)
        for step in run_turn(
            workflow, state, user_turn, self.chain(), received_at=received, clock=self.clock
        ):
            if isinstance(step, Say):
                spoken.append(step.text)
            elif isinstance(step, TurnOutcome):
                outcome = step
        assert outcome is not None
        twiml = self._render(request, tracking_id, workflow, outcome.state, join_spoken(spoken))
        try:
            self.store.save_state(tracking_id, outcome.state.to_dict(), version)
        except ConflictError:
            self.log.warning("a duplicate of this turn saved first; answering what it answered")
            return self._duplicate(request, tracking_id, workflow, str(turn)) or twiml
        self.log.info(
            "classic turn",
            extra={
                "node": outcome.state.node_id,
                "language": outcome.state.language,
                "action": outcome.action,
                "latencyMs": round((self.clock() - received) * 1000, 2),
                "provider": outcome.provider,
                "failovers": outcome.failovers,
                "marks": outcome.marks.as_ms(),
            },
        )
        return twiml

    def _duplicate(
        self, request: TwilioRequest, tracking_id: str, workflow: Workflow, key: str
    ) -> str | None:
        deadline = self.clock() + self.duplicate_wait_s
        while True:
            earlier = self.records.rendered(tracking_id, key)
            if earlier is not None:
                return earlier[1]
            if self.clock() >= deadline:
                break
            self.sleep(0.05)
        stored, _ = self.store.load_state(tracking_id)
        return self._replay(request, tracking_id, workflow, CallState.from_dict(stored)) if stored else None

    def _replay(self, request: TwilioRequest, tracking_id: str, workflow: Workflow, state: CallState) -> str:
        said = [m["content"] for m in state.history if m["role"] == "assistant"]
        return self._render(request, tracking_id, workflow, state, said[-1] if said else "")

    # ------------------------------------------------------------------ TwiML for where the call now is
    def _render(
        self,
        request: TwilioRequest,
        tracking_id: str,
        workflow: Workflow,
        state: CallState,
        text: str,
        *,
        silence: int = 0,
        greeting: bool = False,
    ) -> str:
        node = workflow.node(state.node_id)
        if node.type == "end":
            return say_and_hangup(text, state.language)
        if node.type == "transfer" and node.phone_number:
            return say_and_dial(text, node.phone_number, state.language)
        if node.type == "transfer":
            return say_and_hangup(text, state.language)
        query: dict[str, str | int] = {"trackingId": tracking_id, "turn": state.turns + 1}
        if silence:
            query["silence"] = silence
        config = workflow.config
        interruptible = config.welcome_greeting_interruptible if greeting else config.interruptible
        return gather(
            text=text,
            language=state.language,
            action_url=request.url_for(WEBHOOK_PATH, **query),
            hints=config.hints,
            dtmf=config.dtmf_detection,
            num_digits=max((len(o.digit) for o in node.options), default=None)
            if node.type == "menu"
            else None,
            barge_in=interruptible != "none",
        )
