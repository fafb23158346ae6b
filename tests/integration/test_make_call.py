"""POST /api/make-call-optimized through the real handler, under moto, with the
template's environment, and Twilio answered by the fake HTTP layer under the real twilio client."""

from __future__ import annotations

import base64
import copy
import json
import sys
from dataclasses import dataclass

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from kimiyi.api_keys import key_id
from tests.conftest import EVENTS
from tests.events import load
from tests.fakes.twilio_http import FakeTwilioHttp

FROM = "+12125550100"
TO = "+12125550123"
LOCAL_BASE = "http://127.0.0.1:3000"  # the template's PublicBaseUrl as the integration stack resolves it


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: str

    @property
    def body(self) -> dict:
        return json.loads(self.raw)


@pytest.fixture
def twilio() -> FakeTwilioHttp:
    return FakeTwilioHttp()


@pytest.fixture
def make_call(aws, function_env, monkeypatch, twilio, lambda_context):
    handler = function_env("MakeCallFunction")
    monkeypatch.setattr(sys.modules["make_call_handler"], "twilio_http", twilio)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", twilio.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", twilio.auth_token)
    monkeypatch.setenv("TWILIO_FROM_NUMBER", FROM)
    monkeypatch.setenv("ALLOWED_COUNTRY_CODES", "1,852,!1876")

    def call(
        body=None,
        *,
        event="post-api-make-call-optimized",
        headers=None,
        raw=None,
        key="local-dev-key",
        tenant="default",
    ):
        sample = copy.deepcopy(load(EVENTS / "http" / f"{event}.json"))
        if body is not None:
            sample["body"] = json.dumps(body, ensure_ascii=False)
        if raw is not None:
            sample["body"], sample["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        sample["headers"].pop("idempotency-key", None)
        sample["headers"].update(headers or {})
        sample["requestContext"]["authorizer"]["lambda"] = {"tenantId": tenant, "keyId": key_id(key)}
        response = handler(sample, lambda_context)
        headers = {name.lower(): value for name, value in response["headers"].items()}  # case-insensitive
        return Answer(response["statusCode"], headers, response["body"])

    return call


def sample_body(name: str = "post-api-make-call-optimized") -> dict:
    return json.loads(load(EVENTS / "http" / f"{name}.json")["body"])


def calls_table():
    return boto3.resource("dynamodb").Table("CallsTable")


def session_items() -> list[dict]:
    return [item for item in calls_table().scan()["Items"] if item["sk"] == "SESSION"]


def session_item(tracking_id: str) -> dict:
    items = calls_table().query(KeyConditionExpression=Key("pk").eq(f"CALL#{tracking_id}"))["Items"]
    [item] = [i for i in items if i["sk"] == "SESSION"]
    return item


# ---------------------------------------------------------------- placing a call
def test_the_sample_event_places_a_call(make_call, twilio):
    answer = make_call()
    assert answer.status == 201, answer.raw
    body = answer.body
    assert body["success"] is True and body["callSid"].startswith("CA")
    assert set(body["optimization"]) == {"expectedLatency", "features"}
    assert body["optimization"]["expectedLatency"]["turnP50Ms"] == 150
    assert "answering-machine-detection" in body["optimization"]["features"]
    assert answer.headers["content-type"] == "application/json"
    assert len(twilio.calls_created) == 1


def test_what_twilio_is_asked_to_do(make_call, twilio):
    body = make_call().body
    tracking_id = body["trackingId"]
    [sent] = twilio.calls_created
    assert sent.data["To"] == TO and sent.data["From"] == FROM
    assert sent.data["Url"] == f"{LOCAL_BASE}/api/twiml-optimized?trackingId={tracking_id}"
    assert sent.data["Method"] == "POST"
    assert sent.data["StatusCallback"] == f"{LOCAL_BASE}/api/call-status?trackingId={tracking_id}"
    assert sent.data["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert sent.data["StatusCallbackMethod"] == "POST"
    assert sent.data["Timeout"] == 30  # config.ringTimeoutSeconds in the sample
    assert sent.data["MachineDetection"] == "Enable"
    assert sent.data["TimeLimit"] == 600
    assert "Record" not in sent.data


def test_recording_is_requested_when_the_config_says_so(make_call, twilio):
    body = sample_body()
    body["config"] = {**body["config"], "recordCall": True, "machineDetection": "off"}
    assert make_call(body).status == 201
    sent = twilio.calls_created[0].data
    assert sent["Record"] == "true" and "MachineDetection" not in sent


def test_the_session_is_stored_with_a_ttl_and_the_call_sid(make_call):
    body = make_call().body
    item = session_item(body["trackingId"])
    assert item["callSid"] == body["callSid"] and item["dialStatus"] == "queued"
    assert int(item["expiresAt"]) > int(item["dialedAt"])
    session = json.loads(item["session"])
    assert session["to"] == TO and session["workflowId"] == "wf_clinic_reminder"
    assert session["variables"] == {
        "clinicName": "Harbour Dental",
        "patientName": "Anna",
        "appointmentTime": "3 pm",
    }
    assert session["greeting"].startswith("Hi Anna, this is Harbour Dental.")
    assert session["mode"] == "stream"


def test_from_defaults_to_the_configured_number(make_call, twilio):
    body = sample_body()
    del body["from"]
    assert make_call(body).status == 201
    assert twilio.calls_created[0].data["From"] == FROM


def test_the_api_domain_is_the_base_url_without_public_base_url(make_call, twilio, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    body = make_call().body
    assert twilio.calls_created[0].data["Url"] == (
        f"https://abcd1234ef.execute-api.us-east-1.amazonaws.com/api/twiml-optimized?trackingId={body['trackingId']}"
    )


# ---------------------------------------------------------------- dry run
def test_a_dry_run_stages_without_dialing(make_call, twilio):
    answer = make_call(event="post-api-make-call-optimized--dry-run")
    assert answer.status == 201, answer.raw
    body = answer.body
    assert body["dryRun"] is True and "callSid" not in body
    assert body["twimlUrl"] == f"{LOCAL_BASE}/api/twiml-optimized?trackingId={body['trackingId']}"
    assert twilio.requests == []
    assert "callSid" not in session_item(body["trackingId"])


def test_a_dry_run_works_without_twilio_credentials_and_a_real_call_does_not(make_call, monkeypatch):
    monkeypatch.delenv("TWILIO_ACCOUNT_SID")
    assert make_call(event="post-api-make-call-optimized--dry-run").status == 201
    answer = make_call()
    assert answer.status == 503
    assert (
        answer.body["error"] == "twilio_not_configured"
        and "Twilio is not configured" in answer.body["message"]
    )
    assert len(session_items()) == 1  # only the dry run's


def test_classic_mode_is_stored_for_the_twiml_webhook(make_call):
    body = make_call(event="post-api-make-call-optimized--classic").body
    assert body["mode"] == "classic"
    assert json.loads(session_item(body["trackingId"])["session"])["mode"] == "classic"
    assert body["optimization"]["features"][0] == "gather-turns"


# ---------------------------------------------------------------- validation
def problems_of(answer: Answer) -> dict[str, str]:
    body = answer.body
    assert body["success"] is False and isinstance(body["message"], str)
    return {p["path"]: p["message"] for p in body["problems"]}


def test_a_bad_number_is_422_naming_the_field(make_call, twilio):
    answer = make_call({**sample_body(), "to": "212-555-0123"})
    assert answer.status == 422
    assert answer.body["error"] == "invalid_request"
    assert "must start with +" in problems_of(answer)["to"]
    assert answer.body["message"].startswith("invalid request: to: ")
    assert twilio.requests == [] and session_items() == []


def test_missing_nodes_and_workflow_faults_are_named_by_path(make_call):
    body = sample_body()
    del body["nodes"]
    assert "nodes" in problems_of(make_call(body))
    body = sample_body()
    body["edges"][1]["data"]["condition"] = {"type": "intent", "intent": "maybe"}
    body["config"]["temprature"] = 0.2
    found = problems_of(make_call(body))
    assert any(path.startswith("edges[1] (id 'e2').data.condition") for path in found)
    assert "did you mean 'temperature'" in found["config.temprature"]


def test_wrong_types_and_unknown_modes_are_named(make_call):
    answer = make_call({**sample_body(), "dryRun": "true", "mode": "turbo", "variables": [1]})
    assert answer.status == 422
    found = problems_of(answer)
    assert set(found) >= {"dryRun", "mode", "variables"}
    assert "'turbo'" in found["mode"]


def test_an_oversize_body_is_413(make_call, twilio):
    answer = make_call({**sample_body(), "globalPrompt": "x" * 300_000})
    assert answer.status == 413 and answer.body["error"] == "body_too_large"
    assert answer.body["problems"] == []
    assert twilio.requests == []


def test_malformed_json_is_400(make_call):
    answer = make_call(raw=b'{"to": "+12125550123",')
    assert answer.status == 400 and answer.body["error"] == "invalid_json"
    assert "line 1" in answer.body["message"]


# ---------------------------------------------------------------- allow-list
def test_a_country_outside_the_allow_list_is_403_and_nothing_happens(make_call, twilio):
    answer = make_call({**sample_body(), "to": "+442071838750"})
    assert answer.status == 403 and answer.body["error"] == "destination_not_allowed"
    assert "ALLOWED_COUNTRY_CODES" in answer.body["message"]
    assert twilio.requests == [] and session_items() == []


def test_a_blocked_prefix_inside_an_allowed_code_is_refused(make_call, twilio):
    answer = make_call({**sample_body(), "to": "+18765550123"})
    assert answer.status == 403 and "+1876 is blocked" in answer.body["message"]
    assert make_call({**sample_body(), "to": "+85221234567"}).status == 201


def test_the_allow_list_applies_to_dry_runs_too(make_call):
    answer = make_call({**sample_body(), "to": "+442071838750", "dryRun": True})
    assert answer.status == 403


# ---------------------------------------------------------------- Twilio failures: nothing half-written
def test_an_invalid_number_is_400_with_twilios_code(make_call, twilio):
    twilio.answer_invalid_number(21211)
    answer = make_call()
    assert answer.status == 400
    body = answer.body
    assert body["error"] == "invalid_number"
    assert body["twilio"]["code"] == 21211 and TO in body["twilio"]["message"]
    assert body["twilio"]["moreInfo"] == "https://www.twilio.com/docs/errors/21211"
    assert problems_of(answer)["to"] == body["twilio"]["message"]
    assert session_items() == []


def test_a_rate_limit_is_429_with_retry_after(make_call, twilio):
    twilio.answer_rate_limited(retry_after="4")
    answer = make_call()
    assert answer.status == 429 and answer.headers["retry-after"] == "4"
    assert answer.body["error"] == "rate_limited" and answer.body["twilio"]["code"] == 20429
    assert session_items() == []


@pytest.mark.parametrize("failure", ["fail_connection", "answer_server_error"])
def test_an_unreachable_or_failing_twilio_is_502(make_call, twilio, failure):
    getattr(twilio, failure)()
    answer = make_call()
    assert answer.status == 502 and answer.body["error"] == "twilio_unavailable"
    assert session_items() == []


def test_phone_numbers_are_masked_in_logs(make_call, twilio, caplog):
    make_call()
    twilio.answer_invalid_number()
    make_call()
    logged = {record.getMessage(): vars(record) for record in caplog.records}
    assert logged["call placed"]["to"] == "+1212•••0123" and logged["call placed"]["from"] == "+1212•••0100"
    assert logged["dial failed"]["twilioCode"] == 21211
    assert logged["dial failed"]["detail"] == "The 'To' number +1212•••0123 is not a valid phone number."
    everything = " ".join(str(value) for record in caplog.records for value in vars(record).values())
    assert TO not in everything and FROM not in everything and "local-dev-key" not in everything


# ---------------------------------------------------------------- idempotency
def test_a_retried_request_dials_once_and_gets_the_same_answer(make_call, twilio):
    headers = {"idempotency-key": "order-7731"}
    first = make_call(headers=headers)
    second = make_call(headers=headers)
    assert first.status == second.status == 201
    assert second.raw == first.raw
    assert (
        second.headers.get("idempotency-replayed") == "true" and "idempotency-replayed" not in first.headers
    )
    assert len(twilio.calls_created) == 1
    assert len(session_items()) == 1


def test_the_same_key_with_a_different_body_is_refused(make_call, twilio):
    headers = {"idempotency-key": "order-7732"}
    assert make_call(headers=headers).status == 201
    answer = make_call({**sample_body(), "to": "+12125550199"}, headers=headers)
    assert answer.status == 422 and answer.body["error"] == "idempotency_key_reused"
    assert problems_of(answer) == {"headers.Idempotency-Key": "was used before with a different request body"}
    assert len(twilio.calls_created) == 1


def test_different_keys_and_different_tenants_are_different_requests(make_call, twilio):
    make_call(headers={"idempotency-key": "a-1"})
    make_call(headers={"idempotency-key": "a-2"})
    make_call(headers={"idempotency-key": "a-1"}, key="acme-key", tenant="acme")
    make_call()  # no key: no idempotency
    assert len(twilio.calls_created) == 4


def test_an_idempotency_key_holds_across_a_tenants_rotated_api_keys(make_call, twilio):
    first = make_call(headers={"idempotency-key": "order-1"}, key="old-key")
    again = make_call(headers={"idempotency-key": "order-1"}, key="new-key")
    assert (
        again.headers.get("idempotency-replayed") == "true"
        and again.body["trackingId"] == first.body["trackingId"]
    )
    assert len(twilio.calls_created) == 1


def test_the_staged_session_is_the_tenants(make_call):
    answer = make_call(event="post-api-make-call-optimized--dry-run", tenant="acme")
    (item,) = session_items()
    assert item["tenantId"] == "acme" and json.loads(item["session"])["tenantId"] == "acme"
    assert answer.status == 201


def test_a_request_that_did_not_pass_the_authorizer_is_401_and_stages_nothing(
    make_call, aws, function_env, lambda_context
):
    handler = function_env("MakeCallFunction")
    sample = copy.deepcopy(load(EVENTS / "http" / "post-api-make-call-optimized--dry-run.json"))
    del sample["requestContext"]["authorizer"]
    response = handler(sample, lambda_context)
    assert response["statusCode"] == 401 and json.loads(response["body"])["error"] == "unauthorized"
    assert session_items() == []


def test_a_failed_dial_is_not_remembered_so_the_retry_dials(make_call, twilio):
    headers = {"idempotency-key": "order-7733"}
    twilio.fail_connection()
    assert make_call(headers=headers).status == 502
    retry = make_call(headers=headers)
    assert retry.status == 201 and "idempotency-replayed" not in retry.headers
    assert len(twilio.calls_created) == 2


def test_a_dry_run_is_replayed_too(make_call):
    headers = {"idempotency-key": "dry-1"}
    first = make_call(event="post-api-make-call-optimized--dry-run", headers=headers)
    again = make_call(event="post-api-make-call-optimized--dry-run", headers=headers)
    assert again.raw == first.raw and len(session_items()) == 1


def test_an_unusable_idempotency_key_is_named(make_call, twilio):
    answer = make_call(headers={"idempotency-key": "x" * 300})
    assert answer.status == 422 and "headers.Idempotency-Key" in problems_of(answer)
    assert twilio.requests == []


def test_the_idempotency_record_lives_in_the_template_table(make_call):
    make_call(headers={"idempotency-key": "order-7734"})
    [record] = boto3.resource("dynamodb").Table("IdempotencyTable").scan()["Items"]
    assert record["id"].startswith("make-call#") and record["status"] == "COMPLETED"
    assert "order-7734" not in record["id"]  # hashed
    assert int(record["expiration"]) > 0


def test_an_unreachable_idempotency_table_dials_nothing(make_call, twilio):
    boto3.client("dynamodb").delete_table(TableName="IdempotencyTable")
    answer = make_call(headers={"idempotency-key": "order-7735"})
    assert answer.status == 503 and answer.body["error"] == "idempotency_unavailable"
    assert answer.headers["retry-after"] == "1"
    assert twilio.requests == [] and session_items() == []


# ---------------------------------------------------------------- the HTTP surface
def test_other_methods_and_paths_get_the_same_error_shape(make_call, function_env, lambda_context):
    handler = function_env("MakeCallFunction")
    event = copy.deepcopy(load(EVENTS / "http" / "post-api-make-call-optimized.json"))
    event["requestContext"]["http"]["method"] = "GET"
    response = handler(event, lambda_context)
    assert response["statusCode"] == 405
    assert json.loads(response["body"])["error"] == "method_not_allowed"
