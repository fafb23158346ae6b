"""The lean client's TLS path, end to end on loopback: a throwaway CA and a certificate for localhost made
at test time, a recorded stream served over TLS on 127.0.0.1, and providers pointed at https://localhost.

Trusting the test CA goes through the one seam http_stream has for it: tls_context() is replaced by a
context that verifying_context() builds (the same settings as production, with the test CA as the bundle).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kimiyi.llm import APIConnectionError, CompatibleProvider, OpenAIProvider, ProviderTimeouts, http_stream
from tests.llm_replay import ReplayServer

MESSAGES = [{"role": "user", "content": "Hello?"}]
REPLY = "你好，我們九點開門。"
DELTAS = ["你好", "，", "我們", "九點", "開門", "。"]
TIMEOUTS = ProviderTimeouts(connect_s=5, read_s=10)  # hang guards only: every wait below ends on an event
GUARD_S = 10


@dataclass(frozen=True)
class Issued:
    ca: Path  # the CA's certificate, the bundle the client trusts
    localhost: tuple[Path, Path]  # (certificate chain, key) for localhost and 127.0.0.1
    elsewhere: tuple[Path, Path]  # the same CA's certificate for another hostname
    self_signed: tuple[Path, Path]  # a certificate for localhost from no CA the client trusts


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    names: tuple[x509.GeneralName, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_certificate, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_certificate.subject if issuer_certificate else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ).add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Kimiyi test CA", ca_key, None, ca=True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(stem: str, names: tuple[x509.GeneralName, ...], signed_by_ca: bool = True) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(stem, key, (ca, ca_key) if signed_by_ca else None, names=names)
        chain, key_file = folder / f"{stem}.pem", folder / f"{stem}.key"
        chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_pem_key(key))
        return chain, key_file

    local = (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    return Issued(
        ca=folder / "ca.pem",
        localhost=leaf("localhost", local),
        elsewhere=leaf("elsewhere", (x509.DNSName("api.elsewhere.test"),)),
        self_signed=leaf("self-signed", local, signed_by_ca=False),
    )


def server_context(chain_and_key: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*chain_and_key)
    return context


@pytest.fixture
def trusting_test_ca(issued: Issued, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """The client trusts the test CA (and only it) for this test."""
    context = http_stream.verifying_context(str(issued.ca))
    monkeypatch.setattr(http_stream, "tls_context", lambda: context)
    return context


@pytest.fixture
def tls_server(issued: Issued) -> Iterator[ReplayServer]:
    with ReplayServer("openai_usage.sse", tls=server_context(issued.localhost)) as server:
        yield server


def compatible(base_url: str) -> CompatibleProvider:
    return CompatibleProvider(f"{base_url}/v1", "gpt-4o-mini", timeouts=TIMEOUTS)


def ask(provider: OpenAIProvider) -> list[str]:
    return list(provider.stream(MESSAGES, max_tokens=50, temperature=0))


def test_the_test_ca_context_verifies_as_production_does(trusting_test_ca):
    assert trusting_test_ca.verify_mode == ssl.CERT_REQUIRED and trusting_test_ca.check_hostname
    assert http_stream.tls_context() is trusting_test_ca


def test_a_recorded_stream_arrives_whole_over_tls(trusting_test_ca, tls_server):
    provider = compatible(tls_server.base_url)
    assert tls_server.base_url.startswith("https://localhost:")
    assert ask(provider) == DELTAS
    assert (tls_server.requests, tls_server.connections, provider.endpoint.connections_made) == (1, 1, 1)
    [(connection, _)] = provider.endpoint._idle  # drained to its end and back in the pool
    assert isinstance(connection.sock, ssl.SSLSocket) and connection.sock.version() is not None


def test_later_requests_reuse_the_tls_connection(trusting_test_ca, tls_server):
    provider = OpenAIProvider("sk-test", base_url=f"{tls_server.base_url}/v1", timeouts=TIMEOUTS)
    for _ in range(3):
        assert "".join(ask(provider)) == REPLY
    assert tls_server.requests == 3
    assert provider.endpoint.connections_made == 1 and tls_server.connections == 1  # one handshake


def test_the_ip_address_in_the_certificate_is_verified_too(trusting_test_ca, tls_server):
    port = tls_server.base_url.rsplit(":", 1)[1]
    assert "".join(ask(compatible(f"https://127.0.0.1:{port}"))) == REPLY


@pytest.mark.parametrize("certificate", ["elsewhere", "self_signed"])
def test_a_certificate_that_does_not_verify_is_refused(trusting_test_ca, issued, certificate):
    """Another hostname's certificate from the trusted CA, and localhost's from an untrusted one."""
    with ReplayServer("openai_usage.sse", tls=server_context(getattr(issued, certificate))) as server:
        provider = compatible(server.base_url)
        with pytest.raises(APIConnectionError) as refused:
            ask(provider)
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
        assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
        assert server.handshake_failed.wait(GUARD_S)  # the client broke the handshake off
        assert server.requests == 0 and provider.endpoint.connections_made == 0


def test_production_trust_does_not_include_the_test_ca(tls_server):
    """Without the seam the certifi bundle is the trust store: the test CA's certificate is refused."""
    with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        ask(compatible(tls_server.base_url))
    assert tls_server.requests == 0


def test_a_refused_handshake_leaves_no_socket_open(trusting_test_ca, issued):
    """The failed request's socket is closed when it fails, not left to the garbage collector (the error,
    through its cause's traceback, would otherwise keep it open as long as anyone keeps the error)."""
    with ReplayServer("openai_usage.sse", tls=server_context(issued.elsewhere)) as server:
        provider = compatible(server.base_url)
        with pytest.raises(APIConnectionError) as refused:
            ask(provider)
        assert server.handshake_failed.wait(GUARD_S)
        assert _open_sockets_in(refused.value) == []


def _open_sockets_in(error: BaseException) -> list[socket.socket]:
    """Sockets still open among the locals of the frames the error (and its causes) went through."""
    found: list[socket.socket] = []
    seen: BaseException | None = error
    while seen is not None:
        trace = seen.__traceback__
        while trace is not None:
            for value in trace.tb_frame.f_locals.values():
                if isinstance(value, socket.socket) and value.fileno() != -1:
                    found.append(value)
            trace = trace.tb_next
        seen = seen.__cause__ or seen.__context__
    return found


def test_closing_mid_stream_ends_the_request_at_once(trusting_test_ca, issued):
    """Three events arrive, then the server holds the response open as between tokens; close() from
    another thread wakes the reader blocked in the TLS read, which ends quietly, and the server sees the
    connection go."""
    with ReplayServer("openai_usage.sse", tls=server_context(issued.localhost), hold_after=3) as server:
        provider = compatible(server.base_url)
        deltas = provider.stream(MESSAGES, max_tokens=50, temperature=0)
        received: list[str] = []
        two_in = threading.Event()
        outcome: list[object] = []

        def read() -> None:
            try:
                for delta in deltas:
                    received.append(delta)
                    if len(received) == 2:
                        two_in.set()
                outcome.append("ended")
            except Exception as error:
                outcome.append(error)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert two_in.wait(GUARD_S)  # the role chunk and two deltas came; no more will
        deltas.close()
        reader.join(GUARD_S)
        assert not reader.is_alive(), "close() did not wake the reader in the TLS read"
        assert outcome == ["ended"] and received == DELTAS[:2]
        assert server.client_left.wait(GUARD_S)
        assert provider.endpoint._idle == []  # a closed request's connection is not reused


def test_closing_during_the_handshake_ends_the_request(trusting_test_ca):
    """A server that takes the connection and the ClientHello and never answers: close() wakes the reader
    waiting in the TLS handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    hello, left = threading.Event(), threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            if connection.recv(4096):
                hello.set()
            while connection.recv(4096):
                pass
            left.set()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        provider = compatible(f"https://localhost:{listener.getsockname()[1]}")
        deltas = provider.stream(MESSAGES, max_tokens=50, temperature=0)
        outcome: list[object] = []
        reader = threading.Thread(target=lambda: outcome.append(_drain(deltas)), daemon=True)
        reader.start()
        assert hello.wait(GUARD_S)  # the ClientHello is out: the reader waits for the server's answer
        deltas.close()
        reader.join(GUARD_S)
        assert not reader.is_alive(), "close() did not wake the reader in the handshake"
        assert outcome == [[]] and provider.endpoint.connections_made == 0
        assert left.wait(GUARD_S)
    finally:
        listener.close()
        server.join(GUARD_S)


def _drain(deltas) -> object:
    try:
        return list(deltas)
    except Exception as error:
        return error


def test_after_close_next_gives_nothing_more_even_what_was_buffered(trusting_test_ca, issued):
    """Five events arrive together (one TLS read takes them all); close() after the first delta: the
    rest, already read and decrypted, is not handed out."""
    with ReplayServer("openai_usage.sse", tls=server_context(issued.localhost), hold_after=5) as server:
        deltas = compatible(server.base_url).stream(MESSAGES, max_tokens=50, temperature=0)
        assert next(deltas) == DELTAS[0]
        deltas.close()
        assert list(deltas) == []
        assert server.client_left.wait(GUARD_S)


def test_a_request_closed_before_it_starts_opens_nothing(trusting_test_ca, tls_server):
    deltas = compatible(tls_server.base_url).stream(MESSAGES, max_tokens=50, temperature=0)
    deltas.close()
    assert list(deltas) == []
    assert tls_server.connections == 0
