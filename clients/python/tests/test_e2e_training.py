"""End to end: the Go binary serves Canvas and Trainer; the example PyTorch
policy is served from this process by PolicyServer; a short CWRPO run with
`policy: {kind: remote}` trains it through ActStream and Update."""

import copy
import os
import time

import pytest

torch = pytest.importorskip("torch")

from flowsteer import TrainerClient, trainer_pb2  # noqa: E402
from flowsteer.examples.torch_policy import TorchPolicy  # noqa: E402
from flowsteer.v1 import policy_pb2  # noqa: E402

RUN_TIMEOUT = 300

CONFIG = """\
name: py-remote
seed: 1
steps: 3
batch_tasks: 2
group_size: 4
max_rounds: 10
concurrency: 8
policy: {{kind: remote, address: "{policy}"}}
canvas: {{addresses: ["{canvas}"]}}
backend: {{kind: sim}}
eval: {{tasks: 2, baselines: []}}
checkpoint: {{every: 1}}
"""


@pytest.fixture
def policy():
    p = TorchPolicy(hidden=32, seed=3).serve("127.0.0.1:0")
    yield p
    p.stop()


def test_go_trainer_trains_the_python_policy(served, policy):
    addr = served.addr
    before = copy.deepcopy(policy.net.state_dict())
    v0 = policy.version
    with TrainerClient(addr, timeout=30) as tc:
        run = tc.start_run(CONFIG.format(policy=policy.address, canvas=addr))
        assert run.id and run.status in (trainer_pb2.RUN_STATUS_PENDING, trainer_pb2.RUN_STATUS_RUNNING)
        events: list = []
        t0 = time.monotonic()
        final = tc.wait(run.id, timeout=RUN_TIMEOUT, on_event=events.append)
        elapsed = time.monotonic() - t0
        assert final.status == trainer_pb2.RUN_STATUS_SUCCEEDED, final.error
        kinds = [e.WhichOneof("event") for e in events]
        steps = [e.step for e in events if e.WhichOneof("event") == "step"]
        assert [s.step for s in steps] == [1, 2, 3], kinds
        assert kinds[-1] == "status"
        assert any(k == "eval" for k in kinds), "the run evaluates before and after"

        got = tc.get_run(run.id)
        assert got.run.step == 3 and len(got.steps) == 3 and got.run.simulated
        assert run.id in [r.id for r in tc.list_runs()]

    # The trainer sent updates, and the parameters moved.
    assert policy.updates >= 1, "no step had a group with reward variance"
    after = policy.net.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "parameters unchanged"
    assert policy.version != v0
    # The reference policy stays frozen.
    assert all(torch.equal(before[k], policy.ref.state_dict()[k]) for k in before)
    # Stats the trainer recorded are the ones the Python loss computed.
    trained = [s for s in steps if s.loss != 0 or s.kl != 0]
    assert trained and policy.last_stats is not None and policy.last_stats["tokens"] > 0

    # Checkpoints the trainer asked for load back into a fresh policy.
    run_dir = got.run.dir if os.path.isabs(got.run.dir) else os.path.join(served.runs_dir, os.path.basename(got.run.dir))
    ckpt = os.path.join(run_dir, "checkpoints", "step-000003.ckpt")
    assert os.path.exists(ckpt), os.listdir(os.path.dirname(ckpt))
    fresh = TorchPolicy(hidden=32, seed=99)
    assert fresh.version != policy.version
    assert fresh.load(ckpt) == 3
    assert fresh.version == policy.version
    print(f"remote CWRPO run: 3 steps in {elapsed:.1f}s, {policy.updates} updates")


def test_update_loss_on_a_fixed_batch_matches_cwrpo(policy):
    """The loss `update` applies is flowsteer.cwrpo's (checked against Go
    in test_cwrpo_parity) on the log-probs recomputed from the decisions'
    state; an update with only unmasked choices takes no step."""
    from flowsteer.v1 import canvas_pb2, task_pb2

    obs = canvas_pb2.Observation(task=task_pb2.Task(id="t", family=task_pb2.TASK_FAMILY_MATH), max_rounds=10, rounds_left=10)
    sp = policy_pb2.SamplingParams(seed=5)
    decs = [policy.decide(obs, sp) for _ in range(3)]
    for d in decs:
        assert len(d.token_ids) == len(d.logprobs) == len(d.mask) >= 1 and d.state
    req = policy_pb2.UpdateRequest(step=1, episodes=[
        policy_pb2.EpisodeSamples(episode_id="a", advantage=1.0, decisions=decs[:2]),
        policy_pb2.EpisodeSamples(episode_id="b", advantage=-1.0, decisions=decs[2:]),
    ])
    loss, stats = policy.loss(req)
    # Nothing has changed since acting, so every ratio is 1 and the KL to
    # the (identical) reference is 0: the loss is -mean(A) - ent_coef * H.
    assert stats["kl"] == pytest.approx(0, abs=1e-12) and stats["clip_fraction"] == 0
    assert stats["episodes"] == 2 and stats["tokens"] == sum(len(d.token_ids) for d in decs)
    # policy loss: -(mean over episode a of 1 * r) - (mean over b of -1 * r) with r = 1.
    assert stats["policy_loss"] == pytest.approx(0.0, abs=1e-12)
    masked = policy_pb2.UpdateRequest(step=1, episodes=[policy_pb2.EpisodeSamples(episode_id="c", advantage=1.0, decisions=[
        policy_pb2.Decision(action=d.action, token_ids=d.token_ids, logprobs=d.logprobs, mask=[0] * len(d.mask), state=d.state)
        for d in decs])])
    v = policy.version
    assert policy.update(masked)["tokens"] == 0 and policy.version == v
    s = policy.update(req)
    assert s["tokens"] == sum(len(d.token_ids) for d in decs) and policy.version != v
