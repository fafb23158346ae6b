"""The lean client's server-sent-events reader and chunk parser on the recorded streams
(tests/data/llm_streams), and the Retry-After reading of recorded 429 answers."""

from __future__ import annotations

import io
import json
from email.parser import BytesParser

import pytest

from kimiyi.llm import MalformedChunkError, RateLimitError
from kimiyi.llm.http_stream import parse_chunk, retry_after_s, sse_data, status_error
from tests.llm_replay import STREAMS


def events(name: str) -> list[str]:
    return list(sse_data(io.BytesIO((STREAMS / name).read_bytes())))


def reply(name: str) -> tuple[list[str], list[str]]:
    """The deltas with text and the finish reasons, up to [DONE]."""
    deltas, reasons = [], []
    for data in events(name):
        if data == "[DONE]":
            break
        content, reason = parse_chunk(json.loads(data))
        if content:
            deltas.append(content)
        if reason:
            reasons.append(reason)
    return deltas, reasons


@pytest.mark.parametrize(
    ("name", "deltas", "reasons"),
    [
        (
            "azure_usage.sse",
            ["Thanks for calling Harbour", " Dental, this is Mia.", " How can I help you today?"],
            ["stop"],
        ),
        ("azure_async_filter.sse", ["We", " open", " at", " nine", "."], ["stop"]),
        ("azure_content_filter.sse", ["Hi", "!", " How"], ["content_filter"]),
        ("openai_length.sse", ["Hi", "!", " How"], ["length"]),
        ("openai_usage.sse", ["你好", "，", "我們", "九點", "開門", "。"], ["stop"]),
        ("compatible_comments.sse", ["Sure", " thing", "!"], ["stop"]),
    ],
)
def test_recorded_streams_give_their_text_and_finish_reason(name, deltas, reasons):
    assert reply(name) == (deltas, reasons)
    assert events(name)[-1] == "[DONE]"


def test_azure_opens_with_prompt_filter_results_and_no_choices():
    first = json.loads(events("azure_usage.sse")[0])
    assert first["choices"] == [] and first["prompt_filter_results"]
    assert parse_chunk(first) == (None, None)


def test_the_usage_chunk_has_no_choices_and_no_text():
    usage = json.loads(events("openai_usage.sse")[-2])
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 31
    assert parse_chunk(usage) == (None, None)


def test_comments_and_crlf_are_not_events():
    assert not any(data.startswith(":") or data.endswith("\r") for data in events("compatible_comments.sse"))


def test_an_event_over_several_data_lines_is_joined_with_newlines():
    body = b'data: {"choices":\ndata: []}\n\n: ping\nevent: message\nid: 7\ndata: [DONE]\n\n'
    assert list(sse_data(io.BytesIO(body))) == ['{"choices":\n[]}', "[DONE]"]


def test_a_body_cut_without_a_blank_line_still_yields_its_last_event():
    assert list(sse_data(io.BytesIO(b'data: {"choices": []}'))) == ['{"choices": []}']


@pytest.mark.parametrize(
    "chunk",
    [[], {"id": "x"}, {"choices": "no"}, {"choices": ["no"]}, {"choices": [{"delta": {"content": 7}}]}],
)
def test_chunks_of_another_shape_are_malformed(chunk):
    with pytest.raises(MalformedChunkError):
        parse_chunk(chunk)


def recorded_answer(name: str) -> tuple[int, object, bytes]:
    head, _, body = (STREAMS / name).read_bytes().partition(b"\n\n")
    status_line, _, headers = head.partition(b"\n")
    return int(status_line.split()[1]), BytesParser().parsebytes(headers + b"\n\n", headersonly=True), body


@pytest.mark.parametrize(
    ("name", "retry_after", "message_start"),
    [
        ("azure_429.http", 36.5, "Requests to the ChatCompletions_Create Operation"),
        ("openai_429.http", 1.0, "Rate limit reached for gpt-4o-mini"),
    ],
)
def test_recorded_429s_are_rate_limits_with_their_retry_after(name, retry_after, message_start):
    status, headers, body = recorded_answer(name)
    error = status_error(status, headers, body)  # type: ignore[arg-type]
    assert isinstance(error, RateLimitError) and error.status_code == 429
    assert error.retry_after_s == retry_after and error.message.startswith(message_start)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250", "retry-after": "1"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"retry-after": "-1"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers, expected):
    assert retry_after_s(headers) == expected
