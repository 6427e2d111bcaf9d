"""The Python client against `flowsteer serve --auth-token-file`: the
bearer token it sends is the one the Go server checks."""

import grpc
import pytest

import flowsteer
from flowsteer import CanvasClient

from conftest import Served

TOKEN = "py-client-token-0123456789abcdef"


@pytest.fixture(scope="module")
def guarded(flowsteer_bin, tmp_path_factory):
    work = tmp_path_factory.mktemp("auth")
    tokens = work / "tokens"
    tokens.write_text(f"# test\npython:{TOKEN}\n")
    s = Served(flowsteer_bin, "canvas", work, extra=["--auth-token-file", str(tokens)])
    yield s
    s.stop()


def test_token_accepted(guarded):
    with CanvasClient(guarded.addr, token=TOKEN, timeout=30) as c:
        assert c.list_operators()
    assert "grpc.client=token:python" in guarded.log()
    assert TOKEN not in guarded.log()


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789abcdef"])
def test_missing_or_wrong_token_is_unauthenticated(guarded, token):
    with CanvasClient(guarded.addr, token=token, timeout=30) as c:
        with pytest.raises(flowsteer.Unauthenticated):
            c.list_operators()


def test_health_needs_no_token(guarded):
    # grpc.health.v1.Health/Check with an empty request; the answer
    # b"\x08\x01" is HealthCheckResponse{status: SERVING}.
    with grpc.insecure_channel(guarded.addr) as ch:
        check = ch.unary_unary("/grpc.health.v1.Health/Check")
        assert check(b"", timeout=30) == b"\x08\x01"


@pytest.fixture(scope="module")
def mtls(flowsteer_bin, tmp_path_factory):
    """A canvas that verifies client certificates against its own CA (the
    devcerts tool writes the CA, the server's and two clients' PEM files)."""
    import subprocess

    from conftest import REPO

    work = tmp_path_factory.mktemp("mtls")
    certs = work / "certs"
    subprocess.run(
        ["go", "run", "./internal/auth/authtest/devcerts", "-out", str(certs), "-host", "127.0.0.1,localhost", "-client", "pytrainer"],
        cwd=REPO, check=True, timeout=600, capture_output=True,
    )
    s = Served(flowsteer_bin, "canvas", work, extra=[
        "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem"),
        "--tls-client-ca", str(certs / "ca.pem"),
    ])
    yield s, certs
    s.stop()


def test_client_certificate_authenticates(mtls):
    s, certs = mtls
    with CanvasClient(
        s.addr,
        root_certificates=(certs / "ca.pem").read_bytes(),
        certificate_chain=(certs / "client-pytrainer.pem").read_bytes(),
        private_key=(certs / "client-pytrainer-key.pem").read_bytes(),
        server_name="localhost",
        timeout=30,
    ) as c:
        assert c.list_operators()
    assert "grpc.client=cert:pytrainer" in s.log()


def test_tls_without_client_certificate_or_token_is_unauthenticated(mtls):
    s, certs = mtls
    with CanvasClient(s.addr, root_certificates=(certs / "ca.pem").read_bytes(), timeout=30) as c:
        with pytest.raises(flowsteer.Unauthenticated):
            c.list_operators()


@pytest.mark.parametrize(
    "addr,kw,ok",
    [
        ("10.1.2.3:50051", {}, False),
        ("canvas.example:50051", {}, False),
        ("10.1.2.3:50051", {"insecure": True}, True),
        ("10.1.2.3:50051", {"tls": True}, True),
        ("127.0.0.1:50051", {}, True),
        ("[::1]:50051", {}, True),
        ("localhost:50051", {}, True),
    ],
)
def test_token_over_plaintext_only_to_loopback(addr, kw, ok):
    if ok:
        CanvasClient(addr, token=TOKEN, **kw).close()
    else:
        with pytest.raises(ValueError, match="plaintext"):
            CanvasClient(addr, token=TOKEN, **kw)


def test_half_a_client_certificate_is_refused():
    with pytest.raises(ValueError, match="both certificate_chain and private_key"):
        CanvasClient("127.0.0.1:1", certificate_chain=b"x")
