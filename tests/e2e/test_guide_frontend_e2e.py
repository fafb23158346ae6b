"""The integration guide's frontend, unchanged but for the API key, against `make dev`'s stack.

The guide's code (tests/e2e/guide_frontend.mjs) runs in Node 20 as a browser would run it: make-call
with a React Flow canvas save (a group, a sticky note and an untyped node beside the steps), then, once
the call has been played through the stack as Twilio would, the performance-metrics reads
`metrics.averageLatency`, `metrics.cacheHitRate` and `optimization.enabled`. The same reads are also
made in Python, so a machine without Node still checks the fields.

The local stack has no Twilio account, so make-call runs with `dryRun: true` and answers no `callSid`
(a placed call's is tested against a fake Twilio in tests/integration/test_make_call.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kimiyi_local import simulator
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

KEY, AUTH_TOKEN = "local-dev-key", "local-auth-token"  # the local stack's documented defaults
SCRIPT = ROOT / "tests" / "e2e" / "guide_frontend.mjs"
EDITOR_ONLY = ("group-1", "sticky-1", "randomnode_1733230000000")  # in tests/data/react_flow/v12_save.json
Frontend = Callable[[str, str, Any], dict[str, Any]]


def node_frontend(base_url: str, command: str, argument: Any) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(SCRIPT), command, *([] if command == "make-call" else [argument])],
        input=json.dumps(argument) if command == "make-call" else "",
        env={**os.environ, "KIMIYI_API_BASE": base_url, "KIMIYI_API_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, f"the guide's code failed:\n{done.stderr}"
    return json.loads(done.stdout)


def python_frontend(base_url: str, command: str, argument: Any) -> dict[str, Any]:
    """The same field reads in Python: a missing field raises here as it throws in JavaScript."""
    headers = {"x-api-key": KEY}
    if command == "make-call":
        response = httpx.post(
            f"{base_url}/api/make-call-optimized", json=argument, headers=headers, timeout=10
        )
        result = response.json()
        reads = {
            "success": result["success"],
            "callSid": result.get("callSid"),  # JavaScript reads a missing top-level field as undefined
            "expectedLatency": result["optimization"]["expectedLatency"],
            "features": result["optimization"]["features"],
        }
        answer = {"reads": reads, "trackingId": result["trackingId"], "twimlUrl": result["twimlUrl"]}
    else:
        response = httpx.get(f"{base_url}/api/performance-metrics/{argument}", headers=headers, timeout=10)
        metrics = response.json()
        reads = {
            "averageLatency": metrics["metrics"]["averageLatency"],
            "cacheHitRate": metrics["metrics"]["cacheHitRate"],
            "optimizationEnabled": metrics["optimization"]["enabled"],
        }
        answer = {"reads": reads}
    missing = [name for name, value in answer["reads"].items() if name == "callSid" and value is None]
    return {**answer, "status": response.status_code, "missing": missing}


@pytest.fixture(params=["node", "python"])
def frontend(request) -> Frontend:
    if request.param == "node":
        if shutil.which("node") is None:
            pytest.skip("node is not installed: the Python reads below check the same fields")
        return node_frontend
    return python_frontend


def canvas_body(mode: str = "stream") -> dict[str, Any]:
    """The clinic example as a React Flow editor saves it: its steps, plus a group, a note, an untyped node."""
    workflow = json.loads(simulator.DEFAULT_WORKFLOW.read_text(encoding="utf-8"))
    canvas = json.loads((ROOT / "tests" / "data" / "react_flow" / "v12_save.json").read_text())
    extras = [node for node in canvas["nodes"] if node["id"] in EDITOR_ONLY]
    call = json.loads(simulator.DEFAULT_SCRIPT.read_text(encoding="utf-8"))
    return {
        **workflow,
        "nodes": [*extras, *workflow["nodes"]],
        "viewport": canvas["viewport"],
        "to": call["to"],
        "variables": call["variables"],
        "mode": mode,
        "dryRun": True,
    }


def play_call(twiml_url: str) -> int:
    """The example call's turns, played as Twilio would; the number of turns the caller took."""
    call = json.loads(simulator.DEFAULT_SCRIPT.read_text(encoding="utf-8"))
    call_sid = "CA" + uuid.uuid4().hex
    with httpx.Client(timeout=simulator.REPLY_TIMEOUT_S) as client:
        relay = simulator.fetch_relay(client, twiml_url, call_sid, call, AUTH_TOKEN)
    played = 0
    with simulator.open_relay(relay, AUTH_TOKEN) as ws:
        ws.send(json.dumps(simulator.setup_frame(call_sid, call, relay)))
        for step in call["turns"]:
            played += 1
            if simulator.play_turn(ws, step, echo=False).ended:
                break
    return played


def test_the_guides_reads_work_on_a_call_placed_from_a_canvas_save(app_stack, frontend):
    placed = frontend(app_stack.base_url, "make-call", canvas_body())
    assert placed["status"] == 201
    reads = placed["reads"]
    assert reads["success"] is True and placed["missing"] == ["callSid"]  # a dry run dials nothing
    assert (
        reads["expectedLatency"]["turnP50Ms"] == 150 and "conversation-relay-streaming" in reads["features"]
    )

    turns = play_call(placed["twimlUrl"])
    server = simulator.fetch_metrics(app_stack.base_url, KEY, placed["trackingId"], turns)
    assert server is not None and server["summary"]["turns"] == turns  # every turn is recorded

    measured = frontend(app_stack.base_url, "metrics", placed["trackingId"])
    assert measured["status"] == 200 and measured["missing"] == []
    reads = measured["reads"]
    assert reads["averageLatency"] == server["summary"]["turnLatencyMs"]["avg"]
    assert isinstance(reads["averageLatency"], float) and reads["averageLatency"] > 0
    assert reads["cacheHitRate"] == server["summary"]["cacheHitRate"]
    assert 0 <= reads["cacheHitRate"] <= 1  # the offline call asks the scripted responder twice: 2 misses
    assert reads["optimizationEnabled"] is True


def test_the_guides_reads_on_a_classic_call_before_its_first_turn(app_stack, frontend):
    placed = frontend(app_stack.base_url, "make-call", canvas_body(mode="classic"))
    assert placed["status"] == 201 and "gather-turns" in placed["reads"]["features"]
    reads = frontend(app_stack.base_url, "metrics", placed["trackingId"])["reads"]
    assert reads == {"averageLatency": None, "cacheHitRate": None, "optimizationEnabled": False}


def test_the_editor_only_nodes_come_back_as_warnings(app_stack):
    answer = httpx.post(
        f"{app_stack.base_url}/api/make-call-optimized",
        json=canvas_body(),
        headers={"x-api-key": KEY},
        timeout=10,
    )
    assert answer.status_code == 201
    ignored = [w["path"] for w in answer.json()["warnings"] if w["message"].startswith("ignored: ")]
    assert ignored == [f"nodes[{index}] (id {node_id!r})" for index, node_id in enumerate(EDITOR_ONLY)]
