"""TrainerClient against the Go trainer served by the test."""

import pytest

import flowsteer
from flowsteer import TrainerClient, trainer_pb2

TINY = """\
name: py-embedded
steps: {steps}
batch_tasks: 2
group_size: 2
max_rounds: 6
policy: {{kind: embedded, hidden: 8}}
backend: {{kind: sim}}
eval: {{tasks: 1, baselines: []}}
"""


def test_run_watch_and_results(addr):
    with TrainerClient(addr, timeout=30) as tc:
        run = tc.start_run(TINY.format(steps=2))
        seen = []
        final = tc.wait(run.id, timeout=180, on_event=seen.append)
        assert final.status == trainer_pb2.RUN_STATUS_SUCCEEDED, final.error
        assert [e.step.step for e in seen if e.WhichOneof("event") == "step"] == [1, 2]
        got = tc.get_run(run.id)
        assert got.run.id == run.id and [s.step for s in got.steps] == [1, 2] and got.run.simulated
        assert "py-embedded" in got.run.config_yaml
        # A second watch of an ended run replays the stored steps and ends.
        replay = list(tc.watch(run.id, timeout=60))
        assert [e.step.step for e in replay if e.WhichOneof("event") == "step"] == [1, 2]


def test_cancel(addr):
    with TrainerClient(addr, timeout=30) as tc:
        run = tc.start_run(TINY.format(steps=500).replace("py-embedded", "py-cancel"))
        tc.cancel(run.id)
        final = tc.wait(run.id, timeout=120)
        assert final.status == trainer_pb2.RUN_STATUS_CANCELLED
        assert run.id in [r.id for r in tc.list_runs()]


def test_errors(addr):
    with TrainerClient(addr, timeout=30) as tc:
        with pytest.raises(flowsteer.InvalidArgument, match="steps"):
            tc.start_run("name: bad\nsteps: 0\n")
        with pytest.raises(flowsteer.NotFound):  # NOT_FOUND: no such run
            tc.get_run("no-such-run")
