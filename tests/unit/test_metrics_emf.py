"""EMF through Powertools: names, units, namespace and the single `service` dimension."""

from __future__ import annotations

import json
import warnings

import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from kimiyi.metrics import TurnMetrics, TurnRecord, emit_failed_turn, emit_turn, flush_metrics_after
from kimiyi.metrics import names as metric_names

NAMESPACE, SERVICE = "KimiyiVoice", "kimiyi-voice"


@pytest.fixture
def emf():
    """A Powertools EMF provider of its own (Metrics instances share class-level state between tests)."""
    return AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)


def blobs(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def emitted(blob: dict) -> dict[str, str]:
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    return {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}


def record(**changes) -> TurnRecord:
    fields = {
        "tracking_id": "trk_1",
        "turn": 2,
        "at_ms": 1_795_521_600_000,
        "latency_ms": 142.5,
        "first_token_ms": 118.25,
        "provider": "azure",
        "failovers": 1,
        "cache_hit": False,
    }
    return TurnRecord(**{**fields, **changes})


def test_a_turn_that_asked_an_llm_emits_every_figure_with_its_unit(emf, capsys):
    emit_turn(emf, record())
    emf.flush_metrics()
    (blob,) = blobs(capsys)
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["service"]]  # Powertools' default, and nothing else
    assert blob["service"] == SERVICE
    assert emitted(blob) == {
        "Turn": "Count",
        "TurnError": "Count",
        "Failover": "Count",
        "TurnLatency": "Milliseconds",
        "FirstTokenTime": "Milliseconds",
        "CacheHit": "Count",
        "CacheMiss": "Count",
    }
    # Powertools writes each metric's values as a list (one value per add_metric in the invocation).
    assert (blob["Turn"], blob["TurnError"], blob["Failover"]) == ([1.0], [0.0], [1.0])
    assert (blob["TurnLatency"], blob["FirstTokenTime"]) == ([142.5], [118.25])
    assert (blob["CacheHit"], blob["CacheMiss"]) == ([0.0], [1.0])
    assert blob["trackingId"] == "trk_1"  # metadata: searchable, not a dimension


def test_a_cache_hit_and_a_turn_without_llm(emf, capsys):
    emit_turn(emf, record(first_token_ms=None, provider="cache", failovers=0, cache_hit=True))
    emf.flush_metrics()
    hit = blobs(capsys)[0]
    assert (hit["CacheHit"], hit["CacheMiss"]) == ([1.0], [0.0]) and "FirstTokenTime" not in hit
    emit_turn(emf, record(first_token_ms=None, latency_ms=None, provider=None, failovers=0, cache_hit=None))
    emf.flush_metrics()
    static = blobs(capsys)[0]
    assert set(emitted(static)) == {"Turn", "TurnError", "Failover"}


def test_a_failed_turn_counts_a_turn_and_an_error(emf, capsys):
    emit_failed_turn(emf, "trk_9")
    emf.flush_metrics()
    (blob,) = blobs(capsys)
    assert (blob["Turn"], blob["TurnError"]) == ([1.0], [1.0]) and blob["trackingId"] == "trk_9"
    assert set(emitted(blob)) == {"Turn", "TurnError"}


def test_every_name_has_a_unit_and_matches_the_issue():
    names = {v for k, v in vars(metric_names).items() if k.isupper() and isinstance(v, str)}
    assert names == {
        "TurnLatency",
        "FirstTokenTime",
        "CacheHit",
        "CacheMiss",
        "Failover",
        "TurnError",
        "Turn",
    }
    assert set(metric_names.units) == names


def test_flush_after_prints_once_per_invocation_that_recorded(emf, capsys):
    @flush_metrics_after(emf)
    def handler(event, context):
        if event == "turn":
            emit_turn(emf, record())
        return "done"

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Powertools' "No application metrics" warning would raise here
        assert handler("connect", None) == "done"
        assert blobs(capsys) == []
        assert handler("turn", None) == "done"
        assert len(blobs(capsys)) == 1
        assert handler("disconnect", None) == "done"
        assert blobs(capsys) == []


def test_flush_after_flushes_when_the_handler_raises_and_drops_lone_metadata(emf, capsys):
    @flush_metrics_after(emf)
    def broken(event, context):
        emit_failed_turn(emf, "trk_1")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        broken({}, None)
    assert len(blobs(capsys)) == 1

    @flush_metrics_after(emf)
    def metadata_only(event, context):
        emf.add_metadata(key="trackingId", value="trk_2")

    metadata_only({}, None)
    emit_failed_turn(emf)
    emf.flush_metrics()
    assert "trackingId" not in blobs(capsys)[0]


class FailingStore:
    def record_turn(self, record, tenant_id):
        raise ConnectionError("DynamoDB unreachable")

    def record_failure(self, tracking_id, at_ms, tenant_id):
        raise ConnectionError("DynamoDB unreachable")


class ListStore:
    def __init__(self):
        self.turns, self.failures = [], []

    def record_turn(self, record, tenant_id):
        self.turns.append((record, tenant_id))

    def record_failure(self, tracking_id, at_ms, tenant_id):
        self.failures.append((tracking_id, at_ms, tenant_id))


class BrokenEmf:
    def add_metric(self, **_):
        raise ValueError("bad unit")

    def add_metadata(self, **_):
        pass


def test_a_failing_store_does_not_lose_the_emf_figures_and_never_raises(emf, capsys, caplog):
    metrics = TurnMetrics(store=FailingStore(), emf=emf)
    metrics.turn(record(), "acme")
    metrics.failed_turn("trk_1", 5)
    emf.flush_metrics()
    (blob,) = blobs(capsys)
    assert blob["Turn"] == [1.0, 1.0] and blob["TurnError"] == [0.0, 1.0]
    assert "could not record turn metrics" in caplog.text


def test_a_failing_emitter_does_not_stop_the_store():
    store = ListStore()
    metrics = TurnMetrics(store=store, emf=BrokenEmf())
    metrics.turn(record(), "acme")
    metrics.failed_turn(None, 7)
    assert [(r.turn, tenant) for r, tenant in store.turns] == [(2, "acme")]
    assert store.failures == [(None, 7, None)]
