"""The performance-metrics service behind the handler: validation, 404s and the response shapes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kimiyi.api_errors import ApiError
from kimiyi.metrics import Aggregate, PerformanceMetrics, TurnRecord, WindowPlan

NOW = 1_795_521_600.0  # 2026-11-24T12:00:00Z


def turn(n: int, latency: float) -> TurnRecord:
    return TurnRecord("trk_known", n, int(NOW * 1000) + n, latency, None, cache_hit=n % 2 == 0, provider="x")


@dataclass
class Found:
    records: list[TurnRecord]
    errors: int = 0
    tenant: str = "acme"
    mode: str = "stream"


@dataclass
class FakeReader:
    calls: dict[str, Found] = field(default_factory=dict)
    plans: list[WindowPlan] = field(default_factory=list)
    tenants: list[str | None] = field(default_factory=list)
    aggregate: Aggregate = field(default_factory=Aggregate)

    def call_turns(self, tracking_id, tenant_id):
        found = self.calls.get(tracking_id)
        return found if found and found.tenant == tenant_id else None

    def window(self, plan, tenant_id=None):
        self.plans.append(plan)
        self.tenants.append(tenant_id)
        return self.aggregate


@pytest.fixture
def reader():
    return FakeReader(
        calls={
            "trk_known": Found([turn(1, 80.0), turn(2, 20.0)], errors=1),
            "trk_new": Found([]),
            "trk_classic": Found([], mode="classic"),
        }
    )


@pytest.fixture
def service(reader):
    return PerformanceMetrics(reader, clock=lambda: NOW + 30)


def problem(call) -> ApiError:
    with pytest.raises(ApiError) as raised:
        call()
    return raised.value


def test_a_call_gives_its_turns_and_exact_summary(service):
    body = service.call("trk_known", "acme")
    assert body["success"] is True and body["trackingId"] == "trk_known"
    assert [t["turn"] for t in body["turns"]] == [1, 2]
    assert body["summary"]["turns"] == 3 and body["summary"]["errors"] == 1
    assert body["summary"]["turnLatencyMs"]["p50"] == 20.0 and body["summary"]["cacheHitRate"] == 0.5


def test_a_known_call_without_turns_is_empty_not_missing(service):
    body = service.call("trk_new", "acme")
    assert body["turns"] == [] and body["summary"]["turns"] == 0


def test_an_unknown_call_is_404(service):
    error = problem(lambda: service.call("trk_nobody", "acme"))
    assert (error.status, error.code) == (404, "call_not_found") and "trk_nobody" in error.message


def test_another_tenants_call_is_answered_exactly_like_an_unknown_one(service):
    foreign = problem(lambda: service.call("trk_known", "globex"))
    unknown = problem(lambda: service.call("trk_nobody", "globex"))
    assert (foreign.status, foreign.code) == (unknown.status, unknown.code) == (404, "call_not_found")
    assert foreign.body() == {**unknown.body(), "message": unknown.message.replace("trk_nobody", "trk_known")}


def test_the_window_is_the_asking_tenants(service, reader):
    service.aggregate("globex", None)
    assert reader.tenants == ["globex"]


@pytest.mark.parametrize("bad", ["", "trk one", "trk/../x", "x" * 129, "trk_é"])
def test_a_malformed_tracking_id_is_400(service, bad):
    error = problem(lambda: service.call(bad, "acme"))
    assert (error.status, error.code) == (400, "invalid_tracking_id")
    assert error.body()["problems"][0]["path"] == "path.trackingId"


def test_the_window_defaults_to_an_hour_and_says_what_it_covers(service, reader):
    body = service.aggregate("acme", None)
    assert body["window"] == {"minutes": 60, "start": "2026-11-24T11:01:00Z", "end": "2026-11-24T12:00:30Z"}
    assert reader.plans[0].minutes == 60
    assert body["summary"]["turns"] == 0 and body["summary"]["turnLatencyMs"]["p95"] is None
    assert body["precision"]["relativeError"] == pytest.approx(0.0488)


def test_a_window_sums_what_the_reader_returns(service, reader):
    reader.aggregate = Aggregate.of_records([turn(1, 100.0), turn(2, 200.0)], errors=2)
    body = service.aggregate("acme", {"minutes": "15"})
    assert (
        body["window"]["minutes"] == 15 and body["summary"]["turns"] == 4 and body["summary"]["errors"] == 2
    )


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "20161", "1.5", "", "5,10"])
def test_bad_minutes_are_400_naming_the_parameter(service, bad):
    error = problem(lambda: service.aggregate("acme", {"minutes": bad}))
    assert (error.status, error.code) == (400, "invalid_window")
    assert error.body()["problems"] == [{"path": "query.minutes", "message": error.message}]
    assert "minutes" in error.message


def test_unknown_parameters_are_400_not_silently_ignored(service):
    error = problem(lambda: service.aggregate("acme", {"minute": "5"}))
    assert (error.status, error.code) == (400, "unknown_parameter") and "minute" in error.message
    assert "accepted: minutes" in error.message
    error = problem(lambda: service.call("trk_known", "acme", {"minutes": "5"}))
    assert error.status == 400 and "accepted: none" in error.message


# --- the integration guide's names: metrics.averageLatency, metrics.cacheHitRate, optimization.enabled


def test_a_call_also_answers_the_guides_metrics_as_views_of_its_summary(service):
    body = service.call("trk_known", "acme")
    metrics, summary = body["metrics"], body["summary"]
    assert metrics["averageLatency"] == summary["turnLatencyMs"]["avg"] == 50.0  # (80 + 20) / 2 ms
    assert metrics["cacheHitRate"] == summary["cacheHitRate"] == 0.5
    assert (metrics["p50Latency"], metrics["p95Latency"]) == (20.0, 80.0)
    assert (metrics["totalTurns"], metrics["errors"], metrics["failovers"]) == (3, 1, 0)
    assert metrics["averageFirstTokenTime"] is None and metrics["latencyUnit"] == "ms"
    assert body["optimization"] == {"enabled": True, "mode": "stream"}


def test_a_call_with_no_turn_yet_has_null_figures_not_zeros(service):
    metrics = service.call("trk_new", "acme")["metrics"]
    assert metrics["averageLatency"] is None and metrics["cacheHitRate"] is None
    assert metrics["totalTurns"] == 0


def test_a_classic_call_is_not_optimized(service):
    assert service.call("trk_classic", "acme")["optimization"] == {"enabled": False, "mode": "classic"}


def test_a_window_also_answers_the_guides_metrics(service, reader):
    reader.aggregate = Aggregate.of_records([turn(1, 100.0), turn(2, 200.0)], errors=1)
    body = service.aggregate("acme", {"minutes": "15"})
    assert body["metrics"]["averageLatency"] == body["summary"]["turnLatencyMs"]["avg"] == 150.0
    assert body["metrics"]["cacheHitRate"] == body["summary"]["cacheHitRate"] == 0.5
    assert body["optimization"] == {"enabled": True, "mode": "stream"}
