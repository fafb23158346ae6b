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


def test_the_main_job_prints_the_call_and_nothing_else():
    """`make run`'s command, as a process: the transcript and the figures, no JSON log or EMF line."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kimiyi_local",
            "run",
            "--llm",
            "offline",
            "--port",
            "0",
            "--env-file",
            "/nonexistent",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("Transcript") for line in lines) and "Call metrics:" in done.stdout
    stray = [line for line in lines if '"_aws"' in line or line.lstrip().startswith('{"level"')]
    assert stray == []
    assert '"_aws"' not in done.stderr
