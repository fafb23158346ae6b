"""The ConversationRelay WebSocket: the signed handshake, each frame, and the turns it starts.

Every frame is its own Lambda invocation. Nothing here may raise out of `on_message`: API Gateway would
push a non-protocol "Internal server error" frame to Twilio (error 64107). A failure is logged and, when
a turn was under way, the caller hears the language's holding phrase instead of silence.

A turn's life (`_turn`), each step a method below:
1. claim: the turn makes itself the call's current turn (`ACTIVE`), in the claim pool while it goes on;
   the claim returns the turn it replaced.
2. state: the turn starts from the state that turn left. If it is done and saved here, the copy kept
   here is current; if it is done, the store is read; if it is still going (the caller spoke while it
   talked, or right after its last words), the turn waits for exactly that turn's save (`turnId` on
   the state item), never for a change that already happened, and no longer than SAVE_WAIT_S (reached
   only if that turn's environment died). While the claim is in flight the turn may already run on the
   state this environment saved last (the LLM request leaves at once); it is abandoned if the claim
   shows that state is not the one to start from.
3. stream: run_turn's chunks go to the caller through the sender thread.
4. finish: the interrupt (if any) cuts the reply to what was heard, the state is saved under the
   turn's id (or the turn notes it let the state be), and the turn's figures are recorded.
The threads involved are described in docs/relay-threads.md.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..adapters.calls_store import CallsStore, ConflictError, Connection, DuplicateTurn, StoredState
from ..adapters.websocket_sender import ConnectionGone, ConnectionsClient
from ..api_keys import DEFAULT_TENANT
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
from ..conversation.turn import LlmRequested, Step, opening
from ..languages import holding_phrase_for
from ..llm import FailoverChain
from ..metrics import TurnMetrics, TurnRecord
from ..observability import KeyedLog, mask_phone
from ..twilio_signature import handshake_is_valid, header
from ..workflow import Workflow, parse_workflow
from . import protocol
from .sender import StreamingSender, send

CANCEL_CHECK_S = 0.1  # how often a turn's watch asks the store whether the caller barged in or spoke again
SAVE_WAIT_S = 3.0  # the longest a turn waits for the turn it replaced to save: that turn's environment died
SAVE_POLL_S = 0.02  # how often the store is read meanwhile; a save made in this process wakes it at once
DUPLICATE_WINDOW_MS = 1500  # the same words again within this time are the same frame, not a new turn
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


class _Watch:
    """Asks the store every CANCEL_CHECK_S, on a thread of its own, whether the turn is still the call's
    and whether the caller interrupted. The turn reads the answer for free: the store's round trip is
    never on the path of the caller's words, even when the first token arrives mid-check."""

    def __init__(self, interval_s: float, check: Callable[[], bool], log: Any) -> None:
        self._interval = interval_s
        self._check = check
        self._log = log
        self._said_stop = threading.Event()
        self._stopped = threading.Event()
        threading.Thread(target=self._run, name="relay-watch", daemon=True).start()

    def __call__(self) -> bool:
        return self._said_stop.is_set()

    def close(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                if self._check():
                    self._said_stop.set()
                    return
            except Exception:  # a failed check is asked again; it must not end the turn
                self._log.exception("could not ask whether the turn was superseded")


def _tenant(session: dict) -> str:
    return session.get("tenantId") or DEFAULT_TENANT


def _remember(memory: dict, key: str, value: object) -> None:
    """Keeps at most KNOWN_CALLS entries, dropping the oldest first."""
    memory.pop(key, None)
    if len(memory) >= KNOWN_CALLS:
        memory.pop(next(iter(memory)))
    memory[key] = value


@dataclass(frozen=True)
class _Call:
    connection_id: str
    tracking_id: str
    session: dict
    workflow: Workflow


@dataclass
class _TurnLife:
    """One turn as the relay runs it: who it is, the state it started from, and how far it got."""

    call: _Call
    turn: TurnInput
    received: float  # on the relay's clock
    turn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    received_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    cancelled: Callable[[], bool] = lambda: False
    version: int = 0  # of the state it started from
    claimed: bool = False  # it is (or was) the call's current turn
    finished: bool = False  # it saved its state, or noted it let it be

    @property
    def words(self) -> str:
        return hashlib.sha256((self.turn.caller_words() or "").encode()).hexdigest()[:16]

    def begin(self, version: int, state: CallState) -> CallState:
        self.version = version
        return state


@dataclass(frozen=True)
class _Spoken:
    sender: StreamingSender | None
    outcome: TurnOutcome


class _Speculation:
    """A turn run ahead of its claim on a state this environment holds. Its steps up to its first LLM
    request (which leaves at once) are taken and kept; the rest waits until the claim confirms that
    state, else the turn is abandoned, its request with it."""

    def __init__(self, base: CallState, steps: Generator[Step | TurnOutcome, None, None]) -> None:
        self.base = base
        self._steps = steps
        self._taken: list[Step | TurnOutcome] = []
        for step in steps:
            self._taken.append(step)
            if isinstance(step, LlmRequested | TurnOutcome):
                break

    def steps(self) -> Iterator[Step | TurnOutcome]:
        yield from self._taken
        yield from self._steps

    def abandon(self) -> None:
        self._steps.close()


class _TurnsHere:
    """The turns this environment is running, per call, and a signal for every save made here.

    On Lambda an environment runs one invocation at a time, so it never holds two turns of a call at
    once; the local stack, where every invocation is a thread of one process, does. A turn does not
    speculate while another turn of its call runs here: that turn is about to change the state."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running: Counter[str] = Counter()
        self._unsaved: set[int] = set()  # threads whose turn is registered and has not saved
        self.saves = 0

    @contextmanager
    def running(self, tracking_id: str) -> Iterator[bool]:
        """Registers a turn of the call until it saves (`saved`) or ends; yields whether it is the only
        turn of the call here that has yet to save."""
        with self._changed:
            alone = not self._running[tracking_id]
            self._running[tracking_id] += 1
            self._unsaved.add(threading.get_ident())
        try:
            yield alone
        finally:
            self._leave(tracking_id)

    def saved(self, tracking_id: str) -> None:
        """The calling thread's turn has saved or let the state be: it no longer changes it."""
        self._leave(tracking_id)
        with self._changed:
            self.saves += 1
            self._changed.notify_all()

    def _leave(self, tracking_id: str) -> None:
        with self._changed:
            if threading.get_ident() not in self._unsaved:
                return
            self._unsaved.discard(threading.get_ident())
            self._running[tracking_id] -= 1
            if not self._running[tracking_id]:
                del self._running[tracking_id]

    def wait_for_save(self, seen: int, timeout_s: float) -> None:
        """Returns when a save was made here since `seen` was read, or after `timeout_s`."""
        with self._changed:
            self._changed.wait_for(lambda: self.saves != seen, timeout_s)


@lru_cache(maxsize=64)
def _parse(snapshot: str) -> Workflow:
    import json

    return parse_workflow(json.loads(snapshot))


class Relay:
    def __init__(
        self,
        *,
        store: CallsStore,
        connections: ConnectionsClient,
        chain: FailoverChain,
        auth_token: Callable[[], str],
        websocket_url: str,
        logger: KeyedLog,
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
        self._turns_here = _TurnsHere()
        self.cache = cache
        self.metrics = metrics

    # ------------------------------------------------------------------ $connect / $disconnect
    def on_connect(self, event: dict) -> dict:
        connection_id = event["requestContext"]["connectionId"]
        query = protocol.handshake_query(event)  # as it arrived: a repeated name shows
        signature = header(event.get("headers"), "X-Twilio-Signature")
        if not handshake_is_valid(self.auth_token(), self.websocket_url, query, signature):
            self.log.warning("refused a WebSocket handshake without a valid Twilio signature")
            return {"statusCode": 403}
        try:
            tracking_id = protocol.handshake_tracking_id(query)
        except protocol.ProtocolError as error:
            self.log.warning("refused a signed WebSocket handshake", extra={"problem": str(error)})
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
                self._on_setup(connection_id, message)
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

    def _on_setup(self, connection_id: str, message: protocol.Setup) -> None:
        self.store.bind_call(connection_id, message.call_sid)
        # The call and its session are read now, not on the first turn, which may then start at once
        # from the opening state.
        connection, session = self._call_of(connection_id)
        if connection and session and connection.tracking_id not in self._saved_states:
            workflow = _parse(session["workflow"])
            _remember(
                self._saved_states,
                connection.tracking_id,
                (0, opening(workflow, session.get("variables"))[1]),
            )
        self.log.info(
            "setup",
            extra={
                "callSid": message.call_sid,
                "from": mask_phone(message.from_number),
                "to": mask_phone(message.to_number),
            },
        )

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

    def _turn(self, connection_id: str, turn: TurnInput, received: float) -> TurnReport | None:
        call = self._call_for_turn(connection_id)
        if not isinstance(call, _Call):
            return call
        life = _TurnLife(call, turn, received)
        claim = self._claims.submit(
            self.store.claim_turn,
            call.tracking_id,
            life.turn_id,
            life.words,
            duplicate_window_ms=DUPLICATE_WINDOW_MS,
        )
        watch = _Watch(
            CANCEL_CHECK_S,
            lambda: claim.done() and self._superseded(call.tracking_id, life.turn_id, life.received_ms),
            self.log,
        )
        life.cancelled = watch
        with self._turns_here.running(call.tracking_id) as alone:
            early = self._speculate(life) if alone else None  # 1. claim: in flight meanwhile
            try:
                replaced = claim.result()
                life.claimed = True
                start = self._starting_state(life, replaced)  # 2. state
                if early and early.base is not start:
                    early.abandon()
                    early = None
                if start.ended:  # words after the goodbye: nothing to say, and no turn left open
                    self._let_be(life)
                    self.store.finish_turn(call.tracking_id, life.turn_id, life.version)
                    return None
                steps = early.steps() if early else self._run(life, start)
                return self._finish(life, self._speak(call.connection_id, steps))  # 3. stream, 4. finish
            except DuplicateTurn:
                self.log.warning("dropped a frame that repeats the turn just started")
                return None
            finally:
                watch.close()
                if early:
                    early.abandon()
                if life.claimed and not life.finished:  # it failed: a turn waiting for it must not wait
                    self._let_be(life)

    def _call_for_turn(self, connection_id: str) -> _Call | TurnReport | None:
        """The call a turn belongs to; a TurnReport when the call is unknown and was told so."""
        connection, session = self._call_of(connection_id)
        if connection is None:
            self.log.warning("frame on a connection that maps to no call")
            return None
        if session is None:
            self._send(connection_id, protocol.text(UNKNOWN_CALL_LINE, last=True))
            self._send(connection_id, protocol.end({"reason": "unknown-call"}))
            return TurnReport(connection.tracking_id, None, 1, None)
        return _Call(connection_id, connection.tracking_id, session, _parse(session["workflow"]))

    def _opening(self, call: _Call) -> CallState:
        return opening(call.workflow, call.session.get("variables"))[1]

    def _run(self, life: _TurnLife, state: CallState) -> Generator[Step | TurnOutcome, None, None]:
        return run_turn(
            life.call.workflow,
            state,
            life.turn,
            self.chain,
            received_at=life.received,
            clock=self.clock,
            cancelled=life.cancelled,
            cache=self.cache.for_tenant(_tenant(life.call.session)) if self.cache else None,
        )

    def _speculate(self, life: _TurnLife) -> _Speculation | None:
        """Starts the turn on the state this environment saved last for the call (its opening state
        when only the setup ran here), before the claim says whether that is the state to start from."""
        known = self._saved_states.get(life.call.tracking_id)
        if known is None or known[1].ended:
            return None
        return _Speculation(known[1], self._run(life, known[1]))

    def _starting_state(self, life: _TurnLife, replaced: dict | None) -> CallState:
        """The state the turn starts from (and its version, kept on `life`), given the turn it replaced."""
        tracking_id = life.call.tracking_id
        known = self._saved_states.get(tracking_id)
        if replaced is not None and not replaced.get("done"):
            stored = self._wait_for_save(tracking_id, replaced["turnId"])
        elif known and known[0] == (replaced.get("stateVersion") if replaced else 0):
            return life.begin(*known)  # saved here by the turn it replaced, and nobody saved since
        else:
            stored = self.store.read_state(tracking_id)
        known = self._saved_states.get(tracking_id)
        if known and known[0] == stored.version:
            return life.begin(*known)  # that save was made here: the copy kept (an early start's base)
        state = CallState.from_dict(stored.state) if stored.state else self._opening(life.call)
        return life.begin(stored.version, state)

    def _wait_for_save(self, tracking_id: str, turn_id: str) -> StoredState:
        """The state once `turn_id` has finished with it. A save made in this process wakes the wait at
        once; one made elsewhere is seen within SAVE_POLL_S."""
        deadline = self.clock() + SAVE_WAIT_S
        while True:
            seen = self._turns_here.saves
            stored = self.store.read_state(tracking_id)
            if stored.turn_id == turn_id:
                return stored
            if self.clock() >= deadline:
                self.log.warning("the turn this one replaced never saved; going on from the stored state")
                return stored
            self._turns_here.wait_for_save(seen, SAVE_POLL_S)

    def _speak(self, connection_id: str, steps: Iterator[Step | TurnOutcome]) -> _Spoken:
        sender: StreamingSender | None = None
        outcome: TurnOutcome | None = None
        for step in steps:
            if isinstance(step, TurnOutcome):
                outcome = step
            elif isinstance(step, SwitchLanguage):
                self._send(connection_id, protocol.switch_language(step.code))
            elif isinstance(step, Say | SendDigits):  # both leave through the sender, in order
                sender = sender or StreamingSender(self.connections, connection_id, language=None)
                if isinstance(step, Say):
                    sender.speak(step.text)
                else:
                    sender.send_frame(protocol.send_digits(step.digits))
        assert outcome is not None
        return _Spoken(sender, outcome)

    def _finish(self, life: _TurnLife, spoken: _Spoken) -> TurnReport:
        call, outcome, sender = life.call, spoken.outcome, spoken.sender
        # The state is saved before the reply's `last` frame goes out (the sender posts the text already
        # queued meanwhile): a caller who speaks the instant it arrives finds this turn done and saved.
        saved = self._save(life, outcome.state)
        self.store.finish_turn(call.tracking_id, life.turn_id, saved)
        if sender is not None:
            sender.abort() if outcome.interrupted else sender.finish()
        if outcome.action != "continue":
            handoff = {
                "reason": outcome.action,
                "trackingId": call.tracking_id,
                "node": outcome.state.node_id,
            }
            if outcome.transfer_to:
                handoff["transferTo"] = outcome.transfer_to
            self._send(call.connection_id, protocol.end(handoff))
        latency = (sender.first_sent_at - life.received) * 1000 if sender and sender.first_sent_at else None
        report = TurnReport(
            call.tracking_id,
            latency,
            sender.frames_sent if sender else 0,
            outcome,
            bool(sender and sender.gone),
        )
        self.log.info(
            "turn",
            extra={
                "trackingId": call.tracking_id,
                "node": outcome.state.node_id,
                "language": outcome.state.language,
                "latencyMs": None if latency is None else round(latency, 2),
                "frames": report.frames,
                "provider": outcome.provider,
                "cacheHit": outcome.cache_hit,
                "failovers": outcome.failovers,
                "recoveries": [{"fault": r.fault, "by": r.by} for r in outcome.recoveries],
                "marks": outcome.marks.as_ms(),
            },
        )
        self._record(report, life.received_ms, _tenant(life.call.session))
        return report

    # ------------------------------------------------------------------ metrics (after the caller heard it)
    def _record(self, report: TurnReport, received_ms: int, tenant_id: str) -> None:
        if self.metrics is None or report.outcome is None:
            return
        try:
            record = TurnRecord.from_report(
                report, at_ms=received_ms, scripted_provider=self.chain.scripted.name
            )
            self.metrics.turn(record, tenant_id)
        except Exception:
            self.log.exception("could not record the turn's metrics")

    def _record_failure(self, connection_id: str) -> None:
        """Counts a frame that failed and made the caller hear the holding phrase, under its call when
        the call can still be found."""
        if self.metrics is None:
            return
        try:
            connection, session = self._call_of(connection_id)
        except Exception:
            connection = session = None  # the store may be what failed; count the error all the same
        tenant_id = _tenant(session) if session else None  # unknown: the all-tenant figures only
        try:
            at_ms = int(time.time() * 1000)
            self.metrics.failed_turn(connection.tracking_id if connection else None, at_ms, tenant_id)
        except Exception:
            self.log.exception("could not record the failed turn")

    def _superseded(self, tracking_id: str, turn_id: str, received_ms: int) -> bool:
        active, interrupted_at = self.store.turn_signals(tracking_id)
        return active != turn_id or (interrupted_at is not None and interrupted_at >= received_ms)

    def _save(self, life: _TurnLife, state: CallState) -> int | None:
        """Saves the turn's state under its id; returns the new version, or None when another turn
        saved first (the turn then notes it let the state be, so nobody waits for it)."""
        tracking_id = life.call.tracking_id
        pending = self.store.take_interrupt(tracking_id)
        if pending:
            heard, at_ms = pending
            # An interrupt that arrived during this turn cut this reply; an earlier one, the reply before.
            state = apply_interrupt(state, heard, replies_back=0 if at_ms >= life.received_ms else 1)
        try:
            saved = self.store.save_state(tracking_id, state.to_dict(), life.version, life.turn_id)
        except ConflictError:
            self.log.warning("another turn saved this call's state first; this turn's state is dropped")
            self._saved_states.pop(tracking_id, None)
            self._let_be(life)
            return None
        life.finished = True
        _remember(self._saved_states, tracking_id, (saved, state))
        self._turns_here.saved(tracking_id)
        return saved

    def _let_be(self, life: _TurnLife) -> None:
        """The turn ends without saving: a turn that replaced it and waits for its save goes on."""
        life.finished = True
        try:
            self.store.release_state(life.call.tracking_id, life.turn_id)
        except Exception:
            self.log.exception("could not note that the turn let the state be")
        self._turns_here.saved(life.call.tracking_id)

    def _send(self, connection_id: str, message: dict) -> bool:
        try:
            send(self.connections, connection_id, message)
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
