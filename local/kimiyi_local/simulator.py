"""The call simulator: plays Twilio against a deployment of the API (the local stack by default).

It stages a call (make-call with dryRun), fetches the TwiML with a signed request as Twilio's voice
webhook would, opens the ConversationRelay WebSocket with a signed handshake, sends `setup`, then the
caller's turns (from a script file, or typed), prints the agent's words as they stream with each turn's
latency, can barge in mid-reply, and ends with a transcript and a latency table.

    python -m kimiyi_local.simulator --script examples/calls/clinic-appointment.json
    python -m kimiyi_local.simulator --interactive
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from twilio.request_validator import RequestValidator
from websockets.sync.client import ClientConnection, connect

from .template import PROJECT_ROOT

DEFAULT_WORKFLOW = PROJECT_ROOT / "examples" / "clinic-appointment.json"
DEFAULT_SCRIPT = PROJECT_ROOT / "examples" / "calls" / "clinic-appointment.json"
REPLY_TIMEOUT_S = 30
ACCOUNT_SID = "AC" + "0" * 32  # a well-formed, made-up Twilio account


@dataclass
class TurnResult:
    caller: str
    agent: str = ""
    first_frame_ms: float | None = None  # caller's words sent -> first text frame received
    last_frame_ms: float | None = None
    frames: int = 0
    language: str | None = None
    barged_in: bool = False
    ended: dict | None = None


@dataclass
class CallResult:
    tracking_id: str
    greeting: str
    turns: list[TurnResult] = field(default_factory=list)
    metrics: dict | None = None  # the server's own figures: GET /api/performance-metrics/{trackingId}


def _signed_post(client: httpx.Client, url: str, form: dict[str, str], auth_token: str) -> httpx.Response:
    signature = RequestValidator(auth_token).compute_signature(url, form)
    return client.post(url, data=form, headers={"X-Twilio-Signature": signature})


def stage_call(client: httpx.Client, base_url: str, api_key: str, workflow: dict, call: dict) -> dict:
    body = {
        **workflow,
        "to": call.get("to", "+12125550123"),
        "variables": call.get("variables", {}),
        "mode": "stream",
        "dryRun": True,
    }
    if call.get("from"):
        body["from"] = call["from"]
    response = client.post(f"{base_url}/api/make-call-optimized", json=body, headers={"x-api-key": api_key})
    if response.status_code >= 300:
        raise SystemExit(f"make-call answered {response.status_code}: {response.text}")
    return response.json()


def fetch_relay(
    client: httpx.Client, twiml_url: str, call_sid: str, call: dict, auth_token: str
) -> ET.Element:
    form = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": call.get("from", "+12125550100"),
        "To": call.get("to", "+12125550123"),
        "ApiVersion": "2010-04-01",
    }
    response = _signed_post(client, twiml_url, form, auth_token)
    if response.status_code != 200:
        raise SystemExit(f"the TwiML webhook answered {response.status_code}: {response.text}")
    relay = ET.fromstring(response.text).find("./Connect/ConversationRelay")
    if relay is None:
        raise SystemExit(f"the TwiML has no <Connect><ConversationRelay>:\n{response.text}")
    return relay


def open_relay(relay: ET.Element, auth_token: str) -> ClientConnection:
    url = relay.attrib["url"]
    signature = RequestValidator(auth_token).compute_signature(url, {})
    return connect(url, additional_headers={"X-Twilio-Signature": signature}, open_timeout=10, max_size=None)


def setup_frame(call_sid: str, call: dict, relay: ET.Element) -> dict:
    """The `setup` message ConversationRelay sends first, with the TwiML's <Parameter>s."""
    return {
        "type": "setup",
        "sessionId": "VX" + uuid.uuid4().hex,
        "accountSid": ACCOUNT_SID,
        "callSid": call_sid,
        "from": call.get("from", "+12125550100"),
        "to": call.get("to", "+12125550123"),
        "direction": "outbound-api",
        "callType": "PSTN",
        "callStatus": "IN-PROGRESS",
        "customParameters": {p.attrib["name"]: p.attrib["value"] for p in relay.findall("Parameter")},
    }


def _frames(ws: ClientConnection) -> Iterator[dict]:
    while True:
        yield json.loads(ws.recv(timeout=REPLY_TIMEOUT_S))


def play_turn(ws: ClientConnection, step: dict, echo: bool = True) -> TurnResult:
    caller = step.get("say") or f"(presses {step['dtmf']})"
    result = TurnResult(caller=caller)
    message: dict[str, str | bool]
    if "dtmf" in step:
        message = {"type": "dtmf", "digit": str(step["dtmf"])}
    else:
        message = {
            "type": "prompt",
            "voicePrompt": step["say"],
            "lang": step.get("lang", "en-US"),
            "last": True,
        }
    if echo:
        print(f"\n  caller: {caller}\n  agent:  ", end="", flush=True)
    sent = time.perf_counter()
    ws.send(json.dumps(message, ensure_ascii=False))
    for frame in _frames(ws):
        elapsed = (time.perf_counter() - sent) * 1000
        if frame.get("type") == "language":
            result.language = frame.get("ttsLanguage")
            if echo:
                print(f"[language -> {result.language}] ", end="", flush=True)
        elif frame.get("type") == "text":
            result.frames += 1
            result.first_frame_ms = result.first_frame_ms or elapsed
            result.last_frame_ms = elapsed
            result.agent += frame.get("token", "")
            if echo:
                print(frame.get("token", ""), end="", flush=True)
            if step.get("bargeIn") and not result.barged_in:
                ws.send(
                    json.dumps(
                        {
                            "type": "interrupt",
                            "utteranceUntilInterrupt": result.agent.strip(),
                            "durationUntilInterruptMs": 400,
                        }
                    )
                )
                result.barged_in = True
                if echo:
                    print(" [caller barges in]", end="", flush=True)
            if frame.get("last") and step.get("waitForEnd") is not True:
                break
        elif frame.get("type") == "end":
            result.ended = json.loads(frame.get("handoffData") or "{}")
            break
        elif frame.get("message") == "Internal server error":
            raise SystemExit(f"API Gateway reported a handler failure: {frame}")
    if result.ended is None:
        result.ended = _end_if_sent(ws)
    if echo and result.ended:
        print(f"\n  [call ended: {result.ended}]", end="")
    return result


def _end_if_sent(ws: ClientConnection) -> dict | None:
    """An `end` frame follows the last text of an end or transfer node; wait for it briefly."""
    try:
        frame = json.loads(ws.recv(timeout=0.5))
    except TimeoutError:
        return None
    return json.loads(frame.get("handoffData") or "{}") if frame.get("type") == "end" else None


def typed_turns() -> Iterator[dict]:
    print("Type what the caller says (a digit alone is a key press; empty line ends).")
    while True:
        try:
            line = input("\ncaller> ").strip()
        except EOFError:
            return
        if not line:
            return
        yield {"dtmf": line} if line in list("0123456789*#") else {"say": line}


def simulate(
    base_url: str,
    workflow: dict,
    call: dict,
    *,
    api_key: str,
    auth_token: str,
    turns: Iterator[dict] | None = None,
    echo: bool = True,
) -> CallResult:
    with httpx.Client(timeout=REPLY_TIMEOUT_S) as client:
        staged = stage_call(client, base_url, api_key, workflow, call)
        call_sid = "CA" + uuid.uuid4().hex
        relay = fetch_relay(client, staged["twimlUrl"], call_sid, call, auth_token)
    result = CallResult(staged["trackingId"], relay.attrib.get("welcomeGreeting", ""))
    if echo:
        print(f"call {result.tracking_id} ({relay.attrib.get('language')}, {relay.attrib.get('voice')})")
        print(f"  agent:  {result.greeting}")
    with open_relay(relay, auth_token) as ws:
        setup = setup_frame(call_sid, call, relay)
        ws.send(json.dumps(setup))
        for step in turns if turns is not None else iter(call.get("turns", [])):
            turn = play_turn(ws, step, echo)
            result.turns.append(turn)
            if turn.ended:
                break
    result.metrics = fetch_metrics(base_url, api_key, result.tracking_id, len(result.turns))
    return result


def fetch_metrics(
    base_url: str, api_key: str, tracking_id: str, turns: int, wait_s: float = 5
) -> dict | None:
    """The call's metrics as the server recorded them (each turn is recorded just after it has spoken)."""
    deadline = time.monotonic() + wait_s
    with httpx.Client(timeout=10) as client:
        while True:
            response = client.get(
                f"{base_url}/api/performance-metrics/{tracking_id}", headers={"x-api-key": api_key}
            )
            body = response.json() if response.status_code == 200 else None
            if (body and len(body.get("turns", [])) >= turns) or time.monotonic() > deadline:
                return body
            time.sleep(0.1)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def latency_table(result: CallResult) -> str:
    """Per turn: what the caller's side saw, and what the server measured (its metrics)."""
    server = {t["turn"]: t for t in (result.metrics or {}).get("turns", []) if isinstance(t.get("turn"), int)}
    rows = [
        f"{'turn':>4}  {'client first':>12}  {'client last':>11}  {'server first':>12}  "
        f"{'provider':>9}  {'cache':>5}  {'frames':>6}  caller"
    ]
    for number, turn in enumerate(result.turns, start=1):
        measured = server.get(number, {})
        cache = {True: "hit", False: "miss"}.get(measured.get("cacheHit"), "-")
        rows.append(
            f"{number:>4}  {_ms(turn.first_frame_ms):>12}  {_ms(turn.last_frame_ms):>11}  "
            f"{_ms(measured.get('latencyMs')):>12}  {measured.get('provider') or '-':>9}  {cache:>5}  "
            f"{turn.frames:>6}  {turn.caller[:36]}"
        )
    return "\n".join(rows)


def print_summary(result: CallResult) -> None:
    print("\n\nTranscript")
    print(f"  agent:  {result.greeting}")
    for turn in result.turns:
        print(f"  caller: {turn.caller}")
        print(f"  agent:  {turn.agent.strip()}{'  [interrupted]' if turn.barged_in else ''}")
    print("\nLatency (ms). client: caller's words sent -> agent's text received over the WebSocket;")
    print("server: frame received -> first text frame posted, from GET /api/performance-metrics/{trackingId}")
    print(latency_table(result))
    summary = (result.metrics or {}).get("summary")
    if summary:
        latency = summary.get("turnLatencyMs") or {}
        print(
            f"\nCall metrics: {summary.get('turns')} turns, server turn latency p50 {_ms(latency.get('p50'))} ms, "
            f"p95 {_ms(latency.get('p95'))} ms; cache hit rate {summary.get('cacheHitRate')}; "
            f"failovers {summary.get('failovers')}; errors {summary.get('errors')}"
        )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="kimiyi_local.simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:3000")
    parser.add_argument("--workflow", type=Path, default=DEFAULT_WORKFLOW)
    parser.add_argument("--script", type=Path, default=DEFAULT_SCRIPT)
    parser.add_argument("--interactive", action="store_true", help="type the caller's words")
    parser.add_argument("--api-key", default="local-dev-key")
    parser.add_argument("--auth-token", default="local-auth-token", help="Twilio auth token used to sign")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    workflow = json.loads(args.workflow.read_text(encoding="utf-8"))
    call = json.loads(args.script.read_text(encoding="utf-8"))
    turns = typed_turns() if args.interactive else None
    result = simulate(
        args.base_url, workflow, call, api_key=args.api_key, auth_token=args.auth_token, turns=turns
    )
    print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
