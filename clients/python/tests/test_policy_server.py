"""PolicyServer: the PolicyService contract served from Python."""

import grpc
import pytest

import flowsteer
from flowsteer import PolicyServer, canvas_pb2
from flowsteer._channel import make_channel
from flowsteer.v1 import action_pb2, policy_pb2, policy_pb2_grpc


class Fixed(PolicyServer):
    """Acts from a fixed list; does not learn."""

    kind = "fixed-test"

    def act(self, observation, sampling):
        if observation.turn < 0:
            raise ValueError("turn must be >= 0")
        if observation.turn == 99:
            raise RuntimeError("boom")
        return {"kind": "add", "operator": "Plan"} if observation.turn == 0 else "<action>finish</action>"


class Counter(PolicyServer):
    """A toy learner: its one parameter counts updates."""

    kind = "counter"

    def __init__(self):
        super().__init__()
        self.n = 0

    def act(self, observation):
        return policy_pb2.Decision(action=action_pb2.Action(text="<action>finish</action>"), token_ids=[0], logprobs=[-0.5], mask=[1], state=b"s")

    def update(self, request):
        self.n += 1
        return {"loss": 0.25, "tokens": sum(len(d.token_ids) for e in request.episodes for d in e.decisions), "episodes": len(request.episodes)}

    @property
    def version(self):
        return f"counter@{self.n}"

    def save(self, path, step):
        with open(path, "w") as f:
            f.write(f"{self.n} {step}")

    def load(self, path):
        n, step = open(path).read().split()
        self.n = int(n)
        return int(step)


def stub_for(p):
    ch = make_channel(p.address)
    return ch, policy_pb2_grpc.PolicyServiceStub(ch)


def test_describe_act_and_stream():
    with Fixed().serve("127.0.0.1:0") as p:
        ch, stub = stub_for(p)
        d = stub.Describe(policy_pb2.DescribeRequest())
        assert d.kind == "fixed-test" and not d.can_learn and d.action_format == policy_pb2.ACTION_FORMAT_STRUCTURED
        a = stub.Act(policy_pb2.ActRequest(observation=canvas_pb2.Observation(turn=0))).decision
        assert a.action.structured.operator == "Plan"

        def reqs():
            for t in (0, 1):
                yield policy_pb2.ActStreamRequest(act=policy_pb2.ActRequest(observation=canvas_pb2.Observation(turn=t)))

        out = [r.decision for r in stub.ActStream(reqs())]
        assert out[0].action.structured.kind == action_pb2.ACTION_KIND_ADD and out[1].action.text == "<action>finish</action>"
        with pytest.raises(grpc.RpcError) as e:
            stub.Update(policy_pb2.UpdateRequest(episodes=[policy_pb2.EpisodeSamples()]))
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.RpcError) as e:
            stub.Act(policy_pb2.ActRequest(observation=canvas_pb2.Observation(turn=-1)))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "turn" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            stub.Act(policy_pb2.ActRequest(observation=canvas_pb2.Observation(turn=99)))
        assert e.value.code() == grpc.StatusCode.INTERNAL and "boom" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            stub.Act(policy_pb2.ActRequest())
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        ch.close()


def test_learner_update_and_checkpoints(tmp_path):
    with Counter().serve("127.0.0.1:0") as p:
        ch, stub = stub_for(p)
        assert stub.Describe(policy_pb2.DescribeRequest()).can_learn
        dec = stub.Act(policy_pb2.ActRequest(observation=canvas_pb2.Observation())).decision
        assert list(dec.token_ids) == [0] and dec.policy_version == "counter@0"
        r = stub.Update(policy_pb2.UpdateRequest(step=1, episodes=[policy_pb2.EpisodeSamples(decisions=[dec], advantage=1)]))
        assert r.stats.loss == 0.25 and r.stats.tokens == 1 and r.stats.episodes == 1 and r.policy_version == "counter@1"
        path = str(tmp_path / "c.ckpt")
        s = stub.SaveCheckpoint(policy_pb2.SaveCheckpointRequest(path=path, step=7))
        assert len(s.checksum) == 64 and s.policy_version == "counter@1"
        p.n = 5
        loaded = stub.LoadCheckpoint(policy_pb2.LoadCheckpointRequest(path=path, checksum=s.checksum))
        assert loaded.step == 7 and loaded.policy_version == "counter@1"
        with pytest.raises(grpc.RpcError) as e:
            stub.LoadCheckpoint(policy_pb2.LoadCheckpointRequest(path=path, checksum="0" * 64))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as e:
            stub.LoadCheckpoint(policy_pb2.LoadCheckpointRequest(path=str(tmp_path / "missing")))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        ch.close()


def test_decision_conversion():
    from flowsteer.policy import to_decision

    assert to_decision("<action>finish</action>").action.text == "<action>finish</action>"
    assert to_decision({"kind": "finish"}).action.structured.kind == action_pb2.ACTION_KIND_FINISH
    d = to_decision({"action": {"kind": "add", "operator": "Plan"}, "token_ids": [1, 2], "logprobs": [-0.1, -0.2], "mask": [1, 1], "state": b"xy"})
    assert d.action.structured.operator == "Plan" and list(d.token_ids) == [1, 2] and d.state == b"xy"
    with pytest.raises(TypeError):
        to_decision(42)


def test_remote_policy_served_errors_are_typed():
    """A client-side error from a served policy maps to the typed exception."""
    err = flowsteer.errors.from_rpc_error(_FakeErr(grpc.StatusCode.FAILED_PRECONDITION, "ended"))
    assert isinstance(err, flowsteer.FailedPrecondition) and err.message == "ended"
    assert isinstance(flowsteer.errors.from_rpc_error(_FakeErr(grpc.StatusCode.DATA_LOSS, "x")), flowsteer.FlowsteerError)


class _FakeErr(grpc.RpcError):
    def __init__(self, code, details):
        self._c, self._d = code, details

    def code(self):
        return self._c

    def details(self):
        return self._d


def test_health_is_served_and_turns_not_serving_on_stop():
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from flowsteer.policy import POLICY_SERVICE

    p = Fixed().serve("127.0.0.1:0")
    ch = make_channel(p.address)
    try:
        h = health_pb2_grpc.HealthStub(ch)
        for service in ("", POLICY_SERVICE):
            r = h.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert r.status == health_pb2.HealthCheckResponse.SERVING, service
        with pytest.raises(grpc.RpcError) as e:
            h.Check(health_pb2.HealthCheckRequest(service="flowsteer.v1.NoSuchService"), timeout=5)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        watch = h.Watch(health_pb2.HealthCheckRequest(service=POLICY_SERVICE), timeout=10)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        p.stop(grace=1)
        # A balanced client hears NOT_SERVING before the server goes away.
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        p.stop()
        ch.close()
