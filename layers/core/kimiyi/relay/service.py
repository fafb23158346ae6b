"""The ConversationRelay WebSocket: the signed handshake, each frame, and the turns it starts.

Every frame is its own Lambda invocation. Nothing here may raise out of `on_message`: API Gateway would
push a non-protocol "Internal server error" frame to Twilio (error 64107). A failure is logged and, when
a turn was under way, the caller hears the language's holding phrase instead of silence.
"""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..adapters.calls_store import CallsStore, ConflictError, Connection, DuplicateTurn
from ..adapters.websocket_sender import ConnectionGone, StreamingSender, post
from ..cache import TurnCache
from ..conversation import (
    CallState,
    Say,
    SendDigits,
    SwitchLanguage,
    TurnInput,
    TurnOutcome,
    apply_interrupt,
    run_turn,
)
from ..conversation.turn import opening
from ..languages import holding_phrase_for
from ..llm import FailoverChain
from ..metrics import TurnMetrics, TurnRecord
from ..observability import mask_phone
from ..twilio_signature import handshake_is_valid, header
from ..workflow import Workflow, parse_workflow
from . import protocol

CANCEL_CHECK_S = 0.1  # how often a streaming turn asks whether the caller barged in or spoke again
SUPERSEDE_WAIT_S = 3.0
DUPLICATE_WINDOW_MS = 1500  # the same words again within this time are the same frame, not a new turn  # how long a new turn waits for the one it replaced to save its state
KNOWN_CALLS = 512  # calls a warm environment remembers (connection -> call, session)
# Said when a socket belongs to no call we know (expired, or never staged), before hanging up.
UNKNOWN_CALL_LINE = "Sorry, this call can no longer continue. Goodbye."


@dataclass(frozen=True)
class TurnReport:
    """What one turn did, for logs and metrics."""

    tracking_id: str
    latency_ms: float | None  # frame received -> first text frame sent
    frames: int
    outcome: TurnOutcome | None
    gone: bool = False


class _Every:
    """Calls `check` at most once per `interval_s`, the first time one interval after creation, so
    the first words of a reply are never delayed by it."""

    def __init__(self, interval_s: float, check: Callable[[], bool], clock: Callable[[], float]) -> None:
        self._interval = interval_s
        self._check = check
        self._clock = clock
        self._next = clock() + interval_s
        self._answer = False

    def __call__(self) -> bool:
        if not self._answer and self._clock() >= self._next:
            self._answer = self._check()
            self._next = self._clock() + self._interval
        return self._answer


def _remember(memory: dict, key: str, value: object) -> None:
    """Keeps at most KNOWN_CALLS entries, dropping the oldest first."""
    memory.pop(key, None)
    if len(memory) >= KNOWN_CALLS:
        memory.pop(next(iter(memory)))
    memory[key] = value


@lru_cache(maxsize=64)
def _parse(snapshot: str) -> Workflow:
    import json

    return parse_workflow(json.loads(snapshot))


class Relay:
    def __init__(
        self,
        *,
        store: CallsStore,
        connections: Any,  # a boto3 apigatewaymanagementapi client
        chain: FailoverChain,
        auth_token: Callable[[], str],
        websocket_url: str,
        logger: Any,
        clock: Callable[[], float] = time.perf_counter,
        cache: TurnCache | None = None,
        metrics: TurnMetrics | None = None,
    ) -> None:
        self.store = store
        self.connections = connections
        self.chain = chain
        self.auth_token = auth_token
        self.websocket_url = websocket_url
        self.log = logger
        self.clock = clock
        self._known_calls: dict[str, tuple[Connection, dict]] = {}
        # The state each call's last turn here saved, with its version: when the next turn of the call
        # lands here too and the turn claim shows nobody saved since, the state read is skipped.
        self._saved_states: dict[str, tuple[int, CallState]] = {}
        self._claims = ThreadPoolExecutor(max_workers=4, thread_name_prefix="relay-claim")
        self.cache = cache
        self.metrics = metrics

    # ------------------------------------------------------------------ $connect / $disconnect
    def on_connect(self, event: dict) -> dict:
        connection_id = event["requestContext"]["connectionId"]
        query = event.get("queryStringParameters") or {}
        signature = header(event.get("headers"), "X-Twilio-Signature")
        if not handshake_is_valid(self.auth_token(), self.websocket_url, query, signature):
            self.log.warning("refused a WebSocket handshake without a valid Twilio signature")
            return {"statusCode": 403}
        tracking_id = query.get("trackingId", "")
        if not tracking_id:
            self.log.warning("refused a WebSocket handshake without a trackingId")
            return {"statusCode": 400}
        self.store.map_connection(connection_id, tracking_id)
        self.log.append_keys(trackingId=tracking_id)
        self.log.info("ConversationRelay connected")
        return {"statusCode": 200}

    def on_disconnect(self, event: dict) -> None:
        self._known_calls.pop(event["requestContext"]["connectionId"], None)
        connection = self.store.unmap_connection(event["requestContext"]["connectionId"])
        if connection:
            self._saved_states.pop(connection.tracking_id, None)
            self.log.info("ConversationRelay disconnected", extra={"trackingId": connection.tracking_id})

    # ------------------------------------------------------------------ $default
    def on_message(self, event: dict) -> TurnReport | None:
        received = self.clock()
        connection_id = event["requestContext"]["connectionId"]
        try:
            message = protocol.parse(event.get("body"))
        except protocol.ProtocolError as error:
            self.log.warning("ignored a malformed frame", extra={"problem": str(error)})
            return None
        try:
            return self._dispatch(connection_id, message, received)
        except Exception:
            self.log.exception("frame handling failed", extra={"type": type(message).__name__})
            self._say_holding_phrase(connection_id)
            self._record_failure(connection_id)
            return None

    def _dispatch(self, connection_id: str, message: protocol.Inbound, received: float) -> TurnReport | None:
        match message:
            case protocol.Setup():
                self.store.bind_call(connection_id, message.call_sid)
                self._call_of(connection_id)  # read the call and its session now, not on the first turn
                self.log.info(
                    "setup",
                    extra={
                        "callSid": message.call_sid,
                        "from": mask_phone(message.from_number),
                        "to": mask_phone(message.to_number),
                    },
                )
            case protocol.Prompt(last=True):
                return self._turn(connection_id, TurnInput(utterance=message.text), received)
            case protocol.Prompt():
                pass  # partial transcript: the final prompt follows
            case protocol.Dtmf():
                return self._turn(connection_id, TurnInput(digit=message.digit), received)
            case protocol.Interrupt():
                connection = self.store.connection(connection_id)
                if connection:
                    self.store.mark_interrupt(
                        connection.tracking_id, message.utterance_until_interrupt, int(time.time() * 1000)
                    )
            case protocol.RelayError():
                self.log.error(
                    "ConversationRelay reported an error", extra={"description": message.description}
                )
            case protocol.Info():
                self.log.debug("info", extra={"payload": message.payload})
            case protocol.Unknown():
                self.log.warning("ignored an unknown message type", extra={"messageType": message.type})
        return None

    # ------------------------------------------------------------------ turns
    def _call_of(self, connection_id: str) -> tuple[Connection | None, dict | None]:
        """The connection's call and its session. Neither changes during a call, so a warm environment
        keeps them and a turn after the first reads only the conversation state."""
        known = self._known_calls.get(connection_id)
        if known:
            return known
        connection = self.store.connection(connection_id)
        session = self.store.get_session(connection.tracking_id) if connection else None
        if connection and session:
            _remember(self._known_calls, connection_id, (connection, session))
        return connection, session

    def _state_for_turn(
        self, tracking_id: str, replaced: dict | None, guess: tuple[int, CallState]
    ) -> tuple[int, CallState | None]:
        """The state this turn starts from and its version: `guess` (what this environment saved last,
        or the opening state) when the turn claim shows it is current, else what the store holds
        (None: nothing yet)."""
        if replaced and not replaced.get("done"):
            # The caller spoke while the previous turn was still talking: it sees it is no longer the
            # call's turn, stops, and saves what was said; this turn goes on from that state.
            stored, version = self._state_after(tracking_id)
        elif replaced is None and guess[0] == 0:
            return guess  # the call's first turn: relay turns always claim first, so nothing was saved
        elif replaced and replaced.get("stateVersion") == guess[0]:
            return guess  # saved here by the previous turn, and nobody saved since
        else:
            stored, version = self.store.load_state(tracking_id)
        return version, (CallState.from_dict(stored) if stored else None)

    def _turn(self, connection_id: str, turn: TurnInput, received: float) -> TurnReport | None:
        received_ms = int(time.time() * 1000)
        connection, session = self._call_of(connection_id)
        if connection is None:
            self.log.warning("frame on a connection that maps to no call")
            return None
        if session is None:
            self._send(connection_id, protocol.text(UNKNOWN_CALL_LINE, last=True))
            self._send(connection_id, protocol.end({"reason": "unknown-call"}))
            return TurnReport(connection.tracking_id, None, 1, None)
        tracking_id = connection.tracking_id
        workflow = _parse(session["workflow"])
        turn_id = uuid.uuid4().hex
        words = hashlib.sha256((turn.caller_words() or "").encode()).hexdigest()[:16]
        claim = self._claims.submit(
            self.store.claim_turn, tracking_id, turn_id, words, duplicate_window_ms=DUPLICATE_WINDOW_MS
        )
        cancelled = _Every(
            CANCEL_CHECK_S,
            lambda: claim.done() and self._superseded(tracking_id, turn_id, received_ms),
            self.clock,
        )

        def start(state: CallState) -> Iterator[Say | SwitchLanguage | SendDigits | TurnOutcome]:
            return run_turn(
                workflow,
                state,
                turn,
                self.chain,
                received_at=received,
                clock=self.clock,
                cancelled=cancelled,
                cache=self.cache,
            )

        # While the claim is in flight, the turn already runs on the state this environment saved last
        # (the LLM request leaves at once); nothing it yields is acted on until the claim confirms that
        # state, else it is abandoned and the turn starts again from the state the claim points to.
        guess = self._saved_states.get(tracking_id) or (0, opening(workflow, session.get("variables"))[1])
        early = None if guess[1].ended else start(guess[1])
        first = next(early) if early else None
        try:
            replaced = claim.result()
            version, state = self._state_for_turn(tracking_id, replaced, guess)
        except BaseException as error:
            if early:
                early.close()
            if isinstance(error, DuplicateTurn):
                self.log.warning("dropped a frame that repeats the turn just started")
                return None
            raise
        if early and state is not guess[1]:
            early.close()
            early = None
        state = state or opening(workflow, session.get("variables"))[1]
        if state.ended:  # words after the goodbye: nothing to say, and no turn left open
            self.store.finish_turn(tracking_id, turn_id, version)
            return None
        steps = itertools.chain([first], early) if early else start(state)

        sender: StreamingSender | None = None
        outcome: TurnOutcome | None = None
        for step in steps:
            if isinstance(step, Say):
                sender = sender or StreamingSender(self.connections, connection_id, language=None)
                sender.speak(step.text)
            elif isinstance(step, SendDigits):
                sender = sender or StreamingSender(self.connections, connection_id, language=None)
                sender.send_frame(protocol.send_digits(step.digits))
            elif isinstance(step, SwitchLanguage):
                self._send(connection_id, protocol.switch_language(step.code))
            elif isinstance(step, TurnOutcome):
                outcome = step
        assert outcome is not None
        if sender is not None and outcome.interrupted:
            sender.abort()
        elif sender is not None:
            sender.finish()
        if outcome.action != "continue":
            handoff = {
                "reason": outcome.action,
                "trackingId": connection.tracking_id,
                "node": outcome.state.node_id,
            }
            if outcome.transfer_to:
                handoff["transferTo"] = outcome.transfer_to
            self._send(connection_id, protocol.end(handoff))
        saved = self._save(tracking_id, outcome.state, version, received_ms)
        self.store.finish_turn(tracking_id, turn_id, saved)
        latency = (sender.first_sent_at - received) * 1000 if sender and sender.first_sent_at else None
        report = TurnReport(
            connection.tracking_id,
            latency,
            sender.frames_sent if sender else 0,
            outcome,
            bool(sender and sender.gone),
        )
        self.log.info(
            "turn",
            extra={
                "trackingId": connection.tracking_id,
                "node": outcome.state.node_id,
                "language": outcome.state.language,
                "latencyMs": None if latency is None else round(latency, 2),
                "frames": report.frames,
                "provider": outcome.provider,
                "cacheHit": outcome.cache_hit,
                "failovers": outcome.failovers,
                "marks": outcome.marks.as_ms(),
            },
        )
        self._record(report, received_ms)
        return report

    # ------------------------------------------------------------------ metrics (after the caller heard it)
    def _record(self, report: TurnReport, received_ms: int) -> None:
        if self.metrics is None or report.outcome is None:
            return
        try:
            record = TurnRecord.from_report(
                report, at_ms=received_ms, scripted_provider=self.chain.scripted.name
            )
            self.metrics.turn(record)
        except Exception:
            self.log.exception("could not record the turn's metrics")

    def _record_failure(self, connection_id: str) -> None:
        """Counts a frame that failed and made the caller hear the holding phrase, under its call when
        the call can still be found."""
        if self.metrics is None:
            return
        try:
            known = self._known_calls.get(connection_id)
            connection = known[0] if known else self.store.connection(connection_id)
        except Exception:
            connection = None  # the store may be what failed; count the error all the same
        try:
            self.metrics.failed_turn(connection.tracking_id if connection else None, int(time.time() * 1000))
        except Exception:
            self.log.exception("could not record the failed turn")

    def _superseded(self, tracking_id: str, turn_id: str, received_ms: int) -> bool:
        active, interrupted_at = self.store.turn_signals(tracking_id)
        return active != turn_id or (interrupted_at is not None and interrupted_at >= received_ms)

    def _state_after(self, tracking_id: str) -> tuple[dict | None, int]:
        """Waits (bounded) for the replaced turn to save, and returns the state it saved."""
        deadline = self.clock() + SUPERSEDE_WAIT_S
        stored, current = self.store.load_state(tracking_id)
        before = current
        while current == before and self.clock() < deadline:
            time.sleep(0.02)
            stored, current = self.store.load_state(tracking_id)
        return stored, current

    def _save(self, tracking_id: str, state: CallState, version: int, received_ms: int) -> int | None:
        """Saves the turn's state; returns its new version, or None when another turn saved first."""
        pending = self.store.take_interrupt(tracking_id)
        if pending:
            heard, at_ms = pending
            # An interrupt that arrived during this turn cut this reply; an earlier one, the reply before.
            state = apply_interrupt(state, heard, replies_back=0 if at_ms >= received_ms else 1)
        try:
            saved = self.store.save_state(tracking_id, state.to_dict(), version)
        except ConflictError:
            self.log.warning("another turn saved this call's state first; this turn's state is dropped")
            self._saved_states.pop(tracking_id, None)
            return None
        _remember(self._saved_states, tracking_id, (saved, state))
        return saved

    def _send(self, connection_id: str, message: dict) -> bool:
        try:
            post(self.connections, connection_id, message)
            return True
        except ConnectionGone:
            return False

    def _say_holding_phrase(self, connection_id: str) -> None:
        try:
            connection = self.store.connection(connection_id)
            language = "en-US"
            if connection:
                stored, _ = self.store.load_state(connection.tracking_id)
                language = (stored or {}).get("language", language)
            self._send(connection_id, protocol.text(holding_phrase_for(language), last=True))
        except Exception:
            self.log.exception("could not send the holding phrase either")
