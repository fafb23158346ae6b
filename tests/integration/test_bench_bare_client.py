"""The bench's bare-client baseline counts what the pipeline counts: content deltas up to the first clause."""

from __future__ import annotations

import httpx
import pytest

from bench.pipeline_overhead import BenchError, bare_client_ms
from kimiyi_local.llm_server import LocalLLMServer

MESSAGES = [{"role": "user", "content": "What are your opening hours on Saturday?"}]


@pytest.fixture(scope="module")
def server():
    with LocalLLMServer(reply="Sure, I can help.", first_token_ms=0, token_ms=0) as llm:
        yield llm


def test_it_times_the_request_to_the_delta_asked_for_and_reads_the_stream_to_the_end(server):
    server.reset_stats()
    with httpx.Client(headers={"Authorization": "Bearer k"}) as client:
        assert bare_client_ms(client, server.openai_base_url, MESSAGES, 2) >= 0
        assert (
            bare_client_ms(client, server.openai_base_url, MESSAGES, 5) >= 0
        )  # "Sure" "," " I" " can" " help"
    assert server.request_count == 2


def test_a_stream_shorter_than_the_clause_is_an_error_not_a_figure(server):
    with (
        httpx.Client(headers={"Authorization": "Bearer k"}) as client,
        pytest.raises(BenchError, match="after 6 deltas"),
    ):
        bare_client_ms(client, server.openai_base_url, MESSAGES, 7)
