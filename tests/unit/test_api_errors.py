"""The control plane's one error body: whatever it echoes, it can be sent."""

from __future__ import annotations

import json

from aws_lambda_powertools.shared.json_encoder import Encoder

from kimiyi.api_errors import ApiError, FieldProblem

BAD = "caf\udce9 \ud800"  # lone surrogates: what a client's \\udce9 escape or a mis-decoded byte leaves


def test_an_error_that_echoes_text_that_is_not_unicode_can_still_be_encoded():
    error = ApiError(
        422,
        "invalid_request",
        f"unknown field {BAD}",
        [FieldProblem(f"variables.{BAD}", f"{BAD!s} is not a variable name")],
        extra={"twilio": {"message": BAD, "codes": [BAD]}},
    )
    body = error.body()
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")  # the strictest encoding a client may use
    assert json.loads(raw)["problems"][0]["path"] == "variables.caf\\udce9 \\ud800"
    assert json.loads(raw)["twilio"]["codes"] == ["caf\\udce9 \\ud800"]
    # What the functions' resolver sends (Powertools' serializer) encodes and reads back the same.
    sent = json.dumps(body, separators=(",", ":"), cls=Encoder).encode("utf-8")
    assert json.loads(sent) == json.loads(raw)


def test_ordinary_text_is_echoed_as_it_is():
    error = ApiError(422, "invalid_request", "「時間」is wrong", [FieldProblem("nodes[0] (id '問')", "壞")])
    assert error.body()["message"] == "「時間」is wrong"
    assert error.body()["problems"] == [{"path": "nodes[0] (id '問')", "message": "壞"}]
