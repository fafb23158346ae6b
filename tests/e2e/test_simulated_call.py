"""The main job end to end: the simulator plays Twilio against the local stack, as `make run` does."""

import json

import pytest

from kimiyi_local import simulator

pytestmark = pytest.mark.e2e


def test_example_call_runs_from_staging_to_hang_up(app_stack):
    workflow = json.loads(simulator.DEFAULT_WORKFLOW.read_text())
    call = json.loads(simulator.DEFAULT_SCRIPT.read_text())
    result = simulator.simulate(
        app_stack.base_url, workflow, call, api_key="local-dev-key", auth_token="local-auth-token", echo=False
    )
    assert result.tracking_id.startswith("trk_")
    assert result.greeting.startswith("Hi Anna, this is Mia from Harbour Dental")
    assert [turn.language for turn in result.turns] == [None, "zh-HK", None, None, None]
    assert result.turns[2].barged_in and result.turns[2].agent.startswith("冇問題")
    assert "取消" in result.turns[3].agent
    assert result.turns[-1].ended == {"reason": "end", "trackingId": result.tracking_id, "node": "goodbye"}
    assert all(turn.first_frame_ms is not None and turn.frames >= 1 for turn in result.turns)
    assert result.metrics["summary"]["turns"] == len(call["turns"])  # the server recorded every turn
    assert [t["node"] for t in result.metrics["turns"]][-1] == "goodbye"
    table = simulator.latency_table(result)
    assert len(table.splitlines()) == 1 + len(call["turns"])
    assert "scripted" in table.splitlines()[1]


def test_wrong_api_key_stops_the_simulation_with_the_reason(app_stack):
    workflow = json.loads(simulator.DEFAULT_WORKFLOW.read_text())
    with pytest.raises(SystemExit, match="make-call answered 403"):
        simulator.simulate(app_stack.base_url, workflow, {}, api_key="wrong", auth_token="x", echo=False)
