"""Deadlines, TLS and bearer tokens, against a Python capture server (the
Go services' own TLS and auth are theirs to test)."""

import shutil
import subprocess
import time
from concurrent import futures

import grpc
import pytest

import flowsteer
from flowsteer import CanvasClient, canvas_pb2
from flowsteer.v1 import canvas_pb2_grpc


class Slow(canvas_pb2_grpc.CanvasServiceServicer):
    def __init__(self):
        self.metadata = []

    def ListOperators(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        if request.library == "slow":
            time.sleep(2)
        return canvas_pb2.ListOperatorsResponse(operators=[canvas_pb2.OperatorInfo(name="Plan")])


def start(servicer, creds=None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    canvas_pb2_grpc.add_CanvasServiceServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", creds) if creds else server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_deadline_exceeded():
    server, port = start(Slow())
    try:
        with CanvasClient(f"127.0.0.1:{port}", timeout=0.3) as c:
            t0 = time.monotonic()
            with pytest.raises(flowsteer.DeadlineExceeded):
                c.list_operators(library="slow")
            assert time.monotonic() - t0 < 1.5
            assert [o.name for o in c.list_operators(library="slow", timeout=10)] == ["Plan"]
    finally:
        server.stop(0).wait()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_tls_and_token(tmp_path):
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    creds = grpc.ssl_server_credentials([(key.read_bytes(), crt.read_bytes())])
    cap = Slow()
    server, port = start(cap, creds)
    try:
        with CanvasClient(f"127.0.0.1:{port}", root_certificates=crt.read_bytes(), token="tok", timeout=10) as c:
            assert [o.name for o in c.list_operators()] == ["Plan"]
        assert cap.metadata[-1]["authorization"] == "Bearer tok"
        # Plaintext to a TLS port fails as Unavailable.
        with CanvasClient(f"127.0.0.1:{port}", timeout=5) as c:
            with pytest.raises(flowsteer.Unavailable):
                c.list_operators()
    finally:
        server.stop(0).wait()
