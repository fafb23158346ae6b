"""docs/openapi.json: generated from kimiyi_local.openapi's models, the routes of template.yaml, and the request
bodies the repository ships (examples/, events/) valid against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from kimiyi.make_call_request import parse_call_request
from kimiyi.test_optimization import parse_comparison_request
from kimiyi_local import openapi
from kimiyi_local.template import read_stack
from tests.events import events_for, load

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
REGENERATE = "python -m kimiyi_local.openapi docs/openapi.json"
# The Twilio-facing routes are signed with the auth token and follow Twilio's contract, not this document.
TWILIO_ROUTES = {"POST /api/twiml-optimized", "POST /api/call-status"}


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_the_committed_document_is_what_the_models_generate():
    assert COMMITTED.read_text(encoding="utf-8") == openapi.render(), (
        f"docs/openapi.json is stale: regenerate it with `{REGENERATE}` (PYTHONPATH=layers/core) and commit it"
    )


def test_the_document_is_valid_openapi_3_1(document):
    jsonschema.Draft202012Validator.check_schema(document["components"]["schemas"]["MakeCallRequest"])
    assert document["openapi"].startswith("3.1")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], f"{method.upper()} {path} documents no response"
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert f"{{{parameter['name']}}}" in path


def test_the_paths_are_the_templates_control_plane_routes_with_their_auth(document):
    routes = {route.route_key: route for route in read_stack("http://127.0.0.1:3999").http_routes}
    documented = {
        f"{method.upper()} {path}": operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert set(documented) == set(routes) - TWILIO_ROUTES
    for key, operation in documented.items():
        keyed = operation.get("security", document["security"]) != []
        assert keyed == (routes[key].authorizer is not None), f"{key}: the document and the template differ"
        if keyed:
            assert routes[key].authorizer.identity_headers == (openapi.API_KEY_HEADER,)


def _validator(document: dict, name: str) -> jsonschema.Draft202012Validator:
    # The component, resolved inside the whole document (its $refs are #/components/schemas/…).
    schema = {**document, "$ref": f"#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema)


def _event_bodies(stem: str) -> list[tuple[str, dict]]:
    bodies = []
    for path in events_for(stem, "http"):
        if path.stem.endswith("--invalid"):
            continue
        bodies.append((path.name, json.loads(load(path)["body"])))
    assert bodies, f"no sample events for {stem}"
    return bodies


def test_the_make_call_bodies_the_repository_ships_are_valid(document):
    example = json.loads((ROOT / "examples" / "clinic-appointment.json").read_text(encoding="utf-8"))
    bodies = [("examples/clinic-appointment.json", {**example, "to": "+14155550123", "dryRun": True})]
    bodies += _event_bodies("post-api-make-call-optimized")
    validator = _validator(document, "MakeCallRequest")
    for name, body in bodies:
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{name}: {errors[:3]}"
        parse_call_request(json.dumps(body).encode())  # and the service accepts it: no ApiError


def test_the_test_optimization_bodies_the_repository_ships_are_valid(document):
    validator = _validator(document, "TestOptimizationRequest")
    for name, body in _event_bodies("post-api-test-optimization"):
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{name}: {errors[:3]}"
        parse_comparison_request(json.dumps(body).encode())


def test_a_builder_save_with_ui_keys_and_loose_spellings_is_valid(document):
    # What the hand-written checks accept, the document must too: UI keys on nodes, edges and the body,
    # choices in another case, whole numbers written as floats, numeric workflow ids.
    body = {
        "to": "+1 (415) 555-0123",
        "workflowId": 42,
        "viewport": {"x": 0, "y": 0, "zoom": 1},
        "mode": "streaming",
        "nodes": [
            {
                "id": "ask",
                "type": "conversation",
                "position": {"x": 1, "y": 2},
                "positionAbsolute": {"x": 1, "y": 2},
                "selected": False,
                "width": 150,
                "data": {"isStart": True, "prompt": "Ask.", "label": "Ask", "color": "#fff"},
            },
            {"id": "bye", "type": "end", "data": {"text": {"en-US": "Bye", "zh-HK": "拜拜"}}},
        ],
        "edges": [
            {
                "id": "e1",
                "source": "ask",
                "target": "bye",
                "sourceHandle": None,
                "animated": True,
                "data": {"condition": "the caller says goodbye", "priority": 2.0},
            }
        ],
        "config": {"mode": "CLASSIC", "maxTurns": 20.0, "interruptible": True, "languages": ["zh-HK"]},
        "dryRun": True,
    }
    parse_call_request(json.dumps(body).encode())
    errors = [e.message for e in _validator(document, "MakeCallRequest").iter_errors(body)]
    assert not errors


@pytest.mark.parametrize("version", ["v11", "v12"])
def test_a_react_flow_canvas_save_with_groups_notes_and_untyped_nodes_is_valid(document, version):
    save = json.loads((ROOT / "tests" / "data" / "react_flow" / f"{version}_save.json").read_text())
    body = {**save, "to": "+14155550123", "dryRun": True}
    errors = [e.message for e in _validator(document, "MakeCallRequest").iter_errors(body)]
    assert not errors
    assert len(parse_call_request(json.dumps(body).encode()).warnings) == 3  # the three editor-only nodes


def test_the_metrics_answers_have_their_documented_shape(document):
    from kimiyi.metrics import Aggregate, PerformanceMetrics, TurnRecord
    from kimiyi.metrics.guide import guide_metrics

    records = [TurnRecord("trk_a", 1, 1_795_521_600_000, 120.5, 80.0, cache_hit=False, provider="openai")]

    class Reader:
        def call_turns(self, tracking_id, tenant_id):
            return type("Found", (), {"records": records, "errors": 0, "mode": "stream"})()

        def window(self, plan, tenant_id=None):
            return Aggregate.of_records(records)

    service = PerformanceMetrics(Reader(), clock=lambda: 1_795_521_600.0)
    call, window = service.call("trk_a", "default"), service.aggregate("default", None)
    for name, body in (("CallMetricsResponse", call), ("WindowMetricsResponse", window)):
        errors = [e.message for e in _validator(document, name).iter_errors(body)]
        assert not errors, f"{name}: {errors[:3]}"
    documented = document["components"]["schemas"]["GuideMetrics"]
    assert set(documented["required"]) == set(guide_metrics(call["summary"]))
