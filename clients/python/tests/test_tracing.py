"""Tracing: the Python client's spans and the Go services' spans form one
trace, carried as W3C traceparent gRPC metadata.

- The client injects `traceparent` for its CLIENT span (checked on a Python
  capture server, so it holds whatever the Go side does).
- PolicyServer extracts it: its SERVER span is the client span's child.
- Against the Go canvas started with --trace-stdout (the Go telemetry
  prints every span as JSON), the Go server spans have the Python client
  span as their remote parent and the same trace id.
"""

from concurrent import futures

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from flowsteer import CanvasClient, PolicyServer, canvas_pb2
from flowsteer.v1 import canvas_pb2_grpc, policy_pb2, policy_pb2_grpc
from flowsteer._channel import make_channel

from conftest import FULL_PLAN, MATH_TASK, Served, supports_trace_stdout


@pytest.fixture
def memory_tracing():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


class Capture(canvas_pb2_grpc.CanvasServiceServicer):
    def __init__(self):
        self.metadata = []

    def ListOperators(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        return canvas_pb2.ListOperatorsResponse(operators=[canvas_pb2.OperatorInfo(name="Plan")])


@pytest.fixture
def capture_server():
    cap = Capture()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    canvas_pb2_grpc.add_CanvasServiceServicer_to_server(cap, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield cap, f"127.0.0.1:{port}"
    server.stop(0).wait()


def test_client_injects_traceparent(memory_tracing, capture_server):
    provider, exporter = memory_tracing
    cap, addr = capture_server
    with CanvasClient(addr, tracer_provider=provider, token="s3cret") as c:
        assert [o.name for o in c.list_operators()] == ["Plan"]
    (span,) = exporter.get_finished_spans()
    assert span.name == "flowsteer.v1.CanvasService/ListOperators" and span.kind == SpanKind.CLIENT
    tp = cap.metadata[0]["traceparent"]
    version, trace_id, span_id, flags = tp.split("-")
    assert version == "00" and int(flags, 16) & 1, "sampled"
    assert trace_id == format(span.context.trace_id, "032x")
    assert span_id == format(span.context.span_id, "016x")
    assert cap.metadata[0]["authorization"] == "Bearer s3cret"


def test_no_tracing_no_header(capture_server):
    cap, addr = capture_server
    with CanvasClient(addr, trace=False) as c:
        c.list_operators()
    assert "traceparent" not in cap.metadata[0] and "authorization" not in cap.metadata[0]


class Echo(PolicyServer):
    kind = "echo"

    def act(self, observation):
        return {"kind": "finish"}


def test_policy_server_continues_the_callers_trace(memory_tracing):
    provider, exporter = memory_tracing
    p = Echo().serve("127.0.0.1:0", tracer_provider=provider)
    try:
        ch = make_channel(p.address, tracer_provider=provider)
        stub = policy_pb2_grpc.PolicyServiceStub(ch)
        d = stub.Act(policy_pb2.ActRequest(observation=canvas_pb2.Observation(turn=1))).decision
        assert d.action.structured.kind == 5
        ch.close()
    finally:
        p.stop()
    spans = {s.kind: s for s in exporter.get_finished_spans() if s.name == "flowsteer.v1.PolicyService/Act"}
    client, server = spans[SpanKind.CLIENT], spans[SpanKind.SERVER]
    assert server.context.trace_id == client.context.trace_id
    assert server.parent is not None and server.parent.span_id == client.context.span_id


def test_python_and_go_spans_share_a_trace(flowsteer_bin, tmp_path, memory_tracing):
    """A whole canvas episode driven from Python: the Go canvas's spans for
    the Interact stream are children of the Python client span."""
    if not supports_trace_stdout(flowsteer_bin):
        pytest.skip("this flowsteer binary has no --trace-stdout (Go telemetry setup not present)")
    provider, exporter = memory_tracing
    s = Served(flowsteer_bin, "canvas", tmp_path, extra=["--trace-stdout"])
    try:
        plan = list(FULL_PLAN)
        with CanvasClient(s.addr, tracer_provider=provider) as c:
            with c.episode(MATH_TASK) as ep:
                obs = ep.first
                while not obs.done:
                    if obs.state == canvas_pb2.EPISODE_STATE_AWAITING_PROMPT:
                        obs = ep.step({"kind": "set_prompt", "target": obs.awaiting.node_id, "prompt": "Solve it."})
                    else:
                        obs = ep.step(plan.pop(0))
                assert ep.reward.released
    finally:
        s.stop()  # flushes the Go exporter
    (client,) = [x for x in exporter.get_finished_spans() if x.name.endswith("/Interact")]
    trace_id = format(client.context.trace_id, "032x")
    go_spans = [x for x in s.spans() if x["SpanContext"]["TraceID"] == trace_id]
    assert go_spans, f"no Go span in trace {trace_id}"
    server = [x for x in go_spans if x["Name"] == "flowsteer.v1.CanvasService/Interact"]
    assert server and server[0]["Parent"]["SpanID"] == format(client.context.span_id, "016x")
    assert server[0]["Parent"]["Remote"] is True
    # The canvas's own spans (turns, operator runs) hang under the same trace.
    assert len(go_spans) > 1


def test_configure_tracing_exports_client_spans(capture_server):
    from flowsteer.tracing import configure_tracing

    exporter = InMemorySpanExporter()
    provider = configure_tracing("flowsteer-test", exporter=exporter, simple=True, set_global=False)
    _, addr = capture_server
    with CanvasClient(addr, tracer_provider=provider) as c:
        c.list_operators()
    (span,) = exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "flowsteer-test"
    assert span.attributes["rpc.method"] == "ListOperators" and span.attributes["rpc.grpc.status_code"] == 0
    provider.shutdown()
