"""Outbound HTTP behind the guard: refused before any connection, pinned to the checked address.

Every request here goes to 127.0.0.1 (local mode) or nowhere: a refused URL must never reach the pool
opener, which the tests wrap to count connections. Names resolve through a fake resolver, so a name can
be made to point at a private or metadata address without any DNS or traffic."""

from __future__ import annotations

import ipaddress
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kimiyi.adapters.outbound_http import GuardedHttp, OutboundFailed, open_pool
from kimiyi.outbound import OutboundPolicy, OutboundRefused

LOCAL = OutboundPolicy(allow_loopback=True)
CLOUD = OutboundPolicy()


class Business(BaseHTTPRequestHandler):
    """What the business's API does is set per test in `server.behaviour`."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.seen.append(
            {"path": self.path, "host": self.headers["Host"], "auth": self.headers["Authorization"]}
        )
        kind = self.server.behaviour
        if kind == "redirect":
            self._answer(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
        elif kind == "huge-declared":
            self._answer(200, b"x" * 300_000)
        elif kind == "huge-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"4000\r\n" + b"y" * 0x4000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif kind == "silent":
            self.server.release.wait(5)
        else:
            self._answer(
                200, json.dumps({"free": ["Tue 10:00"]}).encode(), {"Content-Type": "application/json"}
            )

    do_POST = do_GET

    def _answer(self, status, body, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def business():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Business)
    server.behaviour, server.seen, server.release = "ok", [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


class Dns:
    """A fake resolver: each name answers the next of its address lists, and it counts lookups."""

    def __init__(self, **names):
        self.names = {
            name.replace("_", "."): [list(map(ipaddress.ip_address, a)) for a in answers]
            for name, answers in names.items()
        }
        self.lookups: list[str] = []

    def __call__(self, host, port):
        self.lookups.append(host)
        answers = self.names[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


class CountingOpener:
    def __init__(self):
        self.opened: list[str] = []

    def __call__(self, target, address, timeout):
        self.opened.append(str(address))
        return open_pool(target, address, timeout)


def guarded(policy, dns, opener=None):
    return GuardedHttp(policy, resolver=dns, pool_opener=opener or CountingOpener())


def test_in_local_mode_a_loopback_api_is_reached_by_name_with_its_host_header(business):
    dns, opener = Dns(booking_test=[["127.0.0.1"]]), CountingOpener()
    http = guarded(LOCAL, dns, opener)
    answer = http.request(
        "GET",
        f"http://booking.test:{business.server_port}/slots?day=tue",
        headers={"Authorization": "Bearer s"},
    )
    assert answer.status == 200 and json.loads(answer.body) == {"free": ["Tue 10:00"]}
    assert business.seen == [
        {"path": "/slots?day=tue", "host": f"booking.test:{business.server_port}", "auth": "Bearer s"}
    ]
    assert opener.opened == ["127.0.0.1"] and dns.lookups == ["booking.test"]


@pytest.mark.parametrize(
    ("url", "answers", "says"),
    [
        ("https://metadata.example/latest", ["169.254.169.254"], "link-local"),
        ("https://intranet.example/", ["10.0.0.7"], "private"),
        ("https://split.example/", ["93.184.215.14", "192.168.0.2"], "private"),
        ("https://v6.example/", ["::1"], "loopback"),
        ("https://[::1]:8443/", None, "loopback"),
        ("https://127.0.0.1/", None, "loopback"),
        ("https://169.254.169.254/latest/meta-data/iam/", None, "link-local"),
    ],
)
def test_a_refused_target_never_gets_a_connection(url, answers, says):
    dns = Dns(**({url.split("/")[2].replace(".", "_"): [answers]} if answers else {}))
    opener = CountingOpener()
    with pytest.raises(OutboundRefused, match=says):
        guarded(CLOUD, dns, opener).request("GET", url)
    assert opener.opened == []


def test_loopback_is_refused_outside_local_mode_before_connecting(business):
    opener = CountingOpener()
    with pytest.raises(OutboundRefused, match="loopback"):
        guarded(CLOUD, Dns(), opener).request("GET", f"https://127.0.0.1:{business.server_port}/")
    assert opener.opened == [] and business.seen == []


def test_a_rebinding_name_is_reached_only_at_the_address_that_was_checked(business):
    # First lookup: loopback (allowed locally); the next: the metadata service. Each request resolves once
    # and connects to what it checked, so the second is refused without a connection.
    dns, opener = Dns(rebind_test=[["127.0.0.1"], ["169.254.169.254"]]), CountingOpener()
    http = guarded(LOCAL, dns, opener)
    assert http.request("GET", f"http://rebind.test:{business.server_port}/").status == 200
    with pytest.raises(OutboundRefused, match=re.escape("169.254.169.254, a link-local")):
        http.request("GET", f"http://rebind.test:{business.server_port}/")
    assert opener.opened == ["127.0.0.1"] and dns.lookups == ["rebind.test", "rebind.test"]


def test_a_redirect_is_not_followed(business):
    business.behaviour = "redirect"
    opener = CountingOpener()
    with pytest.raises(
        OutboundFailed, match=re.escape("302 to 'http://169.254.169.254/latest/meta-data/', not followed")
    ) as failed:
        guarded(LOCAL, Dns(), opener).request("GET", f"http://127.0.0.1:{business.server_port}/")
    assert failed.value.kind == "redirect" and opener.opened == ["127.0.0.1"] and len(business.seen) == 1


@pytest.mark.parametrize("behaviour", ["huge-declared", "huge-chunked"])
def test_an_answer_over_the_cap_is_refused_whether_declared_or_streamed(business, behaviour):
    business.behaviour = behaviour
    with pytest.raises(OutboundFailed, match="cap") as failed:
        guarded(LOCAL, Dns()).request("GET", f"http://127.0.0.1:{business.server_port}/", max_bytes=64 * 1024)
    assert failed.value.kind == "too-large"


def test_an_api_that_never_answers_is_a_timeout(business):
    business.behaviour = "silent"
    with pytest.raises(OutboundFailed, match=re.escape("no answer within 0.2 s")) as failed:
        guarded(LOCAL, Dns()).request(
            "POST", f"http://127.0.0.1:{business.server_port}/", body=b"{}", timeout_s=0.2
        )
    assert failed.value.kind == "timeout"


def test_a_closed_port_is_an_error_not_a_crash():
    with ThreadingHTTPServer(("127.0.0.1", 0), Business) as probe:
        port = probe.server_port  # bound and closed: nothing listens there afterwards
    with pytest.raises(OutboundFailed) as failed:
        guarded(LOCAL, Dns()).request("GET", f"http://127.0.0.1:{port}/")
    assert failed.value.kind == "error"
