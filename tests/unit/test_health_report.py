from kimiyi.health import Probe, health_report


def _report(tables, llm=None, twilio=None):
    return health_report(
        stage="dev",
        tables=tables,
        llm=llm or {"live": True},
        twilio=twilio or {"configured": True},
        features={},
    )


def test_all_tables_ok_is_healthy_with_no_warnings():
    status, body = _report([Probe("calls", True, 1.23456), Probe("cache", True, 2.0)])
    assert status == 200
    assert body["status"] == "healthy" and body["warnings"] == []
    assert body["dependencies"]["tables"]["calls"] == {"ok": True, "latencyMs": 1.2}


def test_each_failing_table_is_named():
    status, body = _report([Probe("calls", False, detail="timeout"), Probe("cache", True), Probe("x", False)])
    assert status == 503
    assert body["failing"] == ["table:calls", "table:x"]


def test_offline_llm_and_twilio_are_warnings_not_failures():
    status, body = _report([Probe("calls", True)], llm={"live": False}, twilio={"configured": False})
    assert status == 200
    assert len(body["warnings"]) == 2
