"""The outbound rules: which URLs and addresses a workflow's webhooks and actions may reach."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimiyi.outbound import (
    OutboundPolicy,
    OutboundRefused,
    check_addresses,
    check_target_addresses,
    parse_target,
    refusal,
)

CLOUD = OutboundPolicy()
LOCAL = OutboundPolicy(allow_loopback=True)


def test_an_https_url_is_split_into_what_to_resolve_and_what_to_send():
    target = parse_target("https://API.Example.com./v1/slots?day=tue", CLOUD)
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "api.example.com",
        443,
        "/v1/slots?day=tue",
    )
    assert parse_target("https://api.example.com:8443", CLOUD).path == "/"
    assert parse_target("https://[2606:4700::1111]/x", CLOUD).origin == "https://[2606:4700::1111]:443"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://api.example.com/hook", "must be https"),
        ("ftp://api.example.com/", "must be an https URL, not ftp"),
        ("/relative/path", "not a relative one"),
        ("https://user:secret@api.example.com/", "user name or password"),
        ("https:///no-host", "has no host"),
        ("https://api.example.com:99999/", "not a valid URL"),
        ("https://api.example.com:0/", "port 0"),
        ("https://api.example.com/a b", "spaces or control characters"),
        ("https://api.example.com/\r\nX-Injected: 1", "spaces or control characters"),
        ("https://" + "a" * 2100 + ".com/", "the limit is 2048"),
        ("", "expected an absolute https URL"),
        (None, "expected an absolute https URL"),
        (42, "expected an absolute https URL"),
    ],
)
def test_a_url_outside_the_rules_is_refused_saying_which_rule(url, says):
    with pytest.raises(OutboundRefused, match=says):
        parse_target(url, CLOUD)


def test_the_credentials_refusal_never_repeats_the_password():
    with pytest.raises(OutboundRefused) as refused:
        parse_target("https://user:hunter2@api.example.com/", CLOUD)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",  # EC2 instance metadata
        "https://169.254.170.2/v2/credentials",  # ECS task credentials
        "https://[fd00:ec2::254]/latest/meta-data/",  # EC2 metadata over IPv6
        "https://10.0.0.5/",
        "https://172.16.3.4/",
        "https://192.168.1.1/",
        "https://100.64.0.1/",  # shared address space (carrier NAT)
        "https://0.0.0.0/",
        "https://[::ffff:10.0.0.1]/",  # IPv4-mapped
        "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "https://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
        "https://[fe80::1%25eth0]/",
        "https://224.0.0.251/",
    ],
)
def test_private_link_local_and_metadata_literals_are_refused_even_in_local_mode(url):
    for policy in (CLOUD, LOCAL):
        with pytest.raises(OutboundRefused, match="address"):
            parse_target(url, policy)


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:9000/", "http://127.0.0.1:9000/", "https://[::1]/", "http://localhost:8080/x"]
)
def test_loopback_is_refused_in_the_cloud_and_allowed_in_local_mode(url):
    with pytest.raises(OutboundRefused, match=r"loopback|must be https"):
        parse_target(url, CLOUD)
    assert parse_target(url, LOCAL).host in ("127.0.0.1", "::1", "localhost")


def test_plain_http_is_loopback_only_even_in_local_mode():
    with pytest.raises(OutboundRefused, match="must be https"):
        parse_target("http://93.184.215.14/", LOCAL)
    named = parse_target("http://api.example.com/", LOCAL)  # a name: judged once it is resolved
    with pytest.raises(OutboundRefused, match="must be https"):
        check_target_addresses(named, [ipaddress.ip_address("93.184.215.14")], LOCAL)
    assert str(check_target_addresses(named, [ipaddress.ip_address("127.0.0.1")], LOCAL)) == "127.0.0.1"


def test_a_name_is_refused_when_any_of_its_addresses_is():
    public, private = ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.1.2.3")
    assert check_addresses("api.example.com", [public], CLOUD) == [public]
    with pytest.raises(OutboundRefused, match=re.escape("api.example.com resolves to 10.1.2.3, a private")):
        check_addresses("api.example.com", [public, private], CLOUD)
    with pytest.raises(OutboundRefused, match="resolves to no address"):
        check_addresses("api.example.com", [], CLOUD)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("169.254.169.254", False),
    ],
)
def test_each_address_is_judged_on_its_own(address, allowed):
    assert (refusal(ipaddress.ip_address(address), CLOUD) is None) is allowed


@settings(max_examples=300, derandomize=True)
@given(st.one_of(st.text(), st.from_regex(r"https?://[\w.\-:\[\]%@]{0,40}(/\S{0,20})?", fullmatch=True)))
def test_any_string_is_either_a_target_or_a_refusal_saying_why(url):
    for policy in (CLOUD, LOCAL):
        try:
            target = parse_target(url, policy)
        except OutboundRefused as refused:
            assert str(refused)
        else:
            assert target.scheme in ("https", "http") and target.host and 0 < target.port < 65536
