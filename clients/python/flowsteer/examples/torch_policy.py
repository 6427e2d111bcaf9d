"""An example learning Flow-Director in PyTorch, trained by the Go trainer.

A small MLP reads the structured observation (task family, workflow
statistics, operator counts, the last action's validity and kind, the turn)
and builds each action as a sequence of categorical choices, like the
embedded Go policy: the kind of edit, then the operator, or the parallel
width and branches, or the checker and repair of a conditional, or a loop
body. Each decision records the choice indices as ``token_ids``, their
log-probs, a mask of ones, and a ``state`` (the features and the legal set of
every choice) from which :meth:`TorchPolicy.update` recomputes the log-probs
and applies the CWRPO loss (:mod:`flowsteer.cwrpo`, float64) with Adam.

Serve it and train it::

    python -m flowsteer.examples.torch_policy --addr 127.0.0.1:50052
    # trainer config: policy: {kind: remote, address: 127.0.0.1:50052}
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import threading

import torch
from torch import nn

from flowsteer.cwrpo import EpisodeTokens, LossParams, cwrpo_loss
from flowsteer.errors import FailedPrecondition, InvalidArgument
from flowsteer.policy import PolicyServer
from flowsteer.torch_rng import act_generator
from flowsteer.v1 import action_pb2, canvas_pb2, policy_pb2, task_pb2

# The choices of each head, in index order (the embedded Go policy's tables).
KINDS = ["add_operator", "add_parallel", "add_conditional", "add_loop", "delete_last", "finish"]
OPERATORS = ["Plan", "Decompose", "Custom", "AnswerGenerate", "Programmer", "Test",
             "Review", "Verify", "Revise", "ScEnsemble", "Aggregate", "Format"]
WIDTHS = [2, 3]
BRANCH_OPERATORS = ["Custom", "AnswerGenerate", "Programmer"]
CHECKERS = ["Review", "Verify", "Test"]
REPAIRS = ["Revise", "Programmer", "Custom", "AnswerGenerate"]
LOOP_BODIES = [["Review", "Revise"], ["Verify", "Revise"], ["Test", "Programmer"]]
LOOP_COUNT = 2
HEADS = {"kind": len(KINDS), "operator": len(OPERATORS), "width": len(WIDTHS), "branch": len(BRANCH_OPERATORS),
         "checker": len(CHECKERS), "repair": len(REPAIRS), "loop_body": len(LOOP_BODIES)}
HEAD_NAMES = list(HEADS)

N_FEATURES = 5 + 1 + 2 + 6 + len(OPERATORS) + 2 + 6

PROMPTS = {
    "Plan": "List the given facts and the steps that lead to the answer.",
    "Decompose": "Split the problem into smaller sub-problems and solve each.",
    "Programmer": "Write Python that computes the answer and prints it.",
    "Test": "Run the public tests against the solution and report failures.",
    "Review": "Check the solution for errors and say whether it is correct.",
    "Verify": "Independently verify the final answer.",
    "Revise": "Fix the solution using the feedback.",
    "Format": "Give only the final answer, in the expected format.",
}
DEFAULT_PROMPT = "Solve the problem step by step and state the final answer."


def features(obs: canvas_pb2.Observation) -> list[float]:
    """The observation as N_FEATURES numbers."""
    fam = [0.0] * 5
    fam[min(max(int(obs.task.family), 0), 4)] = 1.0
    t = obs.task
    public = 1.0 if (t.public_tests.code or len(t.public_tests.cases)) else 0.0
    mr = max(obs.max_rounds, 1)
    st = obs.workflow.stats
    stats = [st.total_operators / 10, st.unique_operators / 10, st.stages / 10,
             min(st.parallel, 3) / 3, min(st.conditional, 3) / 3, min(st.loop, 3) / 3]
    counts = [min(st.operator_counts.get(op, 0), 3) / 3 for op in OPERATORS]
    kind = [0.0] * 6
    kind[min(max(int(obs.last_action_kind), 0), 5)] = 1.0
    return fam + [public, obs.turn / mr, obs.rounds_left / mr] + stats + counts + [
        1.0 if obs.valid else 0.0, 1.0 if obs.turn == 0 else 0.0] + kind


def legality(obs: canvas_pb2.Observation) -> dict[str, int]:
    """Bit masks of the legal choices of each head."""
    t = obs.task
    if len(obs.operators):
        enabled = {o.name for o in obs.operators if o.enabled}
    else:
        enabled = set(OPERATORS)
        if t.family == task_pb2.TASK_FAMILY_MULTIPLE_CHOICE:
            enabled.discard("Programmer")
    if t.family != task_pb2.TASK_FAMILY_CODE or not (t.public_tests.code or len(t.public_tests.cases)):
        enabled.discard("Test")

    def bits(names):
        return sum(1 << i for i, n in enumerate(names) if n in enabled)

    m = {"operator": bits(OPERATORS), "branch": bits(BRANCH_OPERATORS), "checker": bits(CHECKERS),
         "repair": bits(REPAIRS), "width": 0b11,
         "loop_body": sum(1 << i for i, body in enumerate(LOOP_BODIES) if all(n in enabled for n in body))}
    nonempty = len(obs.workflow.stages) > 0
    ok = [m["operator"] != 0, m["branch"] != 0, m["checker"] != 0 and m["repair"] != 0, m["loop_body"] != 0, nonempty, nonempty]
    m["kind"] = sum(1 << i for i, v in enumerate(ok) if v)
    return m


class Net(nn.Module):
    def __init__(self, hidden: int = 64):
        super().__init__()
        self.trunk = nn.Linear(N_FEATURES, hidden)
        self.heads = nn.ModuleDict({h: nn.Linear(hidden, n) for h, n in HEADS.items()})

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.trunk(x))

    def log_probs(self, h: torch.Tensor, head: str, legal: int, temperature: float = 1.0) -> torch.Tensor:
        """Log-probs of the head's choices; illegal ones are -inf."""
        z = self.heads[head](h) / temperature
        n = HEADS[head]
        mask = torch.tensor([bool(legal >> i & 1) for i in range(n)])
        return torch.log_softmax(z.masked_fill(~mask, float("-inf")), dim=-1)


def entropy_of(lp: torch.Tensor) -> torch.Tensor:
    """Entropy over the legal (finite) entries; the illegal ones take no
    part, so no 0 * -inf reaches the gradient."""
    lp = lp[torch.isfinite(lp)]
    return -(lp.exp() * lp).sum()


class TorchPolicy(PolicyServer):
    """The example learner. ``hidden`` units, Adam with the trainer's
    learning rate (``loss.learning_rate``) and gradient clip."""

    kind = "torch-mlp"
    action_format = "structured"
    model = "flowsteer.examples.torch_policy"

    def __init__(self, hidden: int = 64, seed: int = 1, learning_rate: float = 3e-3, threads: int | None = 1):
        super().__init__()
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.net = Net(hidden).double()
        self.ref = copy.deepcopy(self.net).requires_grad_(False)  # frozen reference: the initial policy
        self.opt = torch.optim.Adam(self.net.parameters(), lr=learning_rate)
        self.learning_rate = learning_rate
        self.hidden_units = hidden
        self.step = 0
        self.updates = 0
        self._lock = threading.RLock()
        self._rng = torch.Generator().manual_seed(seed)
        self._version = self._hash()
        #: The last update's statistics (for tests and logs).
        self.last_stats: dict | None = None

    # ---- acting ----

    def _hash(self) -> str:
        h = hashlib.sha256()
        for t in self.net.state_dict().values():
            h.update(repr(t.detach().flatten().tolist()).encode())
        return "torch-mlp@" + h.hexdigest()[:12]

    @property
    def version(self) -> str:
        return self._version

    def info(self) -> dict[str, str]:
        return {"hidden": str(self.hidden_units), "torch": torch.__version__}

    def _generator(self, obs, sampling) -> torch.Generator:
        seed = None
        if sampling is not None and sampling.HasField("seed"):
            h = hashlib.sha256(f"{sampling.seed}/{obs.turn}/{obs.task.id}".encode()).digest()
            seed = int.from_bytes(h[:8], "little")
        return act_generator(seed, self._rng, self._lock)

    def act(self, observation, sampling=None):
        obs = observation
        if obs.done or obs.state == canvas_pb2.EPISODE_STATE_DONE:
            raise FailedPrecondition("the episode has ended; there is nothing to act on")
        if obs.state == canvas_pb2.EPISODE_STATE_AWAITING_PROMPT:
            prompt = PROMPTS.get(obs.awaiting.operator, DEFAULT_PROMPT)
            return policy_pb2.Decision(
                action=action_pb2.Action(text=prompt, structured=action_pb2.StructuredAction(
                    kind=action_pb2.ACTION_KIND_SET_PROMPT, target=obs.awaiting.node_id, prompt=prompt)),
                reasoning=f"prompt for {obs.awaiting.node_id}")
        greedy = bool(sampling is not None and sampling.greedy)
        temp = sampling.temperature if sampling is not None and sampling.HasField("temperature") and sampling.temperature > 0 else 1.0
        gen = None if greedy else self._generator(obs, sampling)
        leg = legality(obs)
        if leg["kind"] == 0:
            raise InvalidArgument("no legal action: the operator library offers none of the operators this policy knows")
        x = features(obs)
        choices: list[list[int]] = []
        logps: list[float] = []
        with self._lock, torch.no_grad():
            h = self.net.hidden(torch.tensor(x, dtype=torch.float64))

            def pick(head: str, legal: int) -> int:
                if greedy:
                    lp = self.net.log_probs(h, head, legal)
                    c = int(torch.argmax(lp))
                else:
                    lp = self.net.log_probs(h, head, legal, temp)
                    c = int(torch.multinomial(lp.exp(), 1, generator=gen))
                choices.append([HEAD_NAMES.index(head), legal, c])
                logps.append(float(lp[c]))
                return c

            sa, text = self._build(obs, leg, pick)
            version = self._version
        n = len(choices)
        return policy_pb2.Decision(
            action=action_pb2.Action(text=text, structured=sa),
            token_ids=[c[2] for c in choices],
            logprobs=logps,
            mask=[1] * n,
            state=json.dumps({"x": x, "c": choices}, separators=(",", ":")).encode(),
            policy_version=version,
            model=self.kind,
            completion_tokens=n,
        )

    @staticmethod
    def _build(obs, leg, pick):
        A = action_pb2
        k = pick("kind", leg["kind"])
        if k == 0:
            op = OPERATORS[pick("operator", leg["operator"])]
            return A.StructuredAction(kind=A.ACTION_KIND_ADD, operator=op), f"add {op}"
        if k == 1:
            w = WIDTHS[pick("width", leg["width"])]
            ops = [BRANCH_OPERATORS[pick("branch", leg["branch"])] for _ in range(w)]
            return (A.StructuredAction(kind=A.ACTION_KIND_ADD, structure=A.STRUCTURE_KIND_PARALLEL, operators=ops),
                    f"add parallel [{', '.join(ops)}]")
        if k == 2:
            c = CHECKERS[pick("checker", leg["checker"])]
            r = REPAIRS[pick("repair", leg["repair"])]
            return (A.StructuredAction(kind=A.ACTION_KIND_ADD, structure=A.STRUCTURE_KIND_CONDITIONAL,
                                       condition=c, if_true=r, if_false="done"), f"add conditional {c} ? {r} : done")
        if k == 3:
            body = LOOP_BODIES[pick("loop_body", leg["loop_body"])]
            return (A.StructuredAction(kind=A.ACTION_KIND_ADD, structure=A.STRUCTURE_KIND_LOOP, operators=body,
                                       count=LOOP_COUNT), f"add loop ({' -> '.join(body)}) * {LOOP_COUNT}")
        if k == 4:
            target = obs.workflow.stages[-1].id
            return A.StructuredAction(kind=A.ACTION_KIND_DELETE, target=target), f"delete {target}"
        return A.StructuredAction(kind=A.ACTION_KIND_FINISH), "finish"

    # ---- learning ----

    def episode_tokens(self, request: policy_pb2.UpdateRequest, with_grad: bool = True) -> list[EpisodeTokens]:
        """Recompute every recorded choice's log-prob and entropy under the
        current network (and the reference), checked against the decisions."""
        out = []
        for ei, e in enumerate(request.episodes):
            new, ent, old, ref, mask = [], [], [], [], []
            for di, d in enumerate(e.decisions):
                where = f"episode {ei} ({e.episode_id}) decision {di}"
                if not d.state:
                    if len(d.token_ids):
                        raise InvalidArgument(f"{where}: {len(d.token_ids)} choices but no state")
                    continue
                try:
                    st = json.loads(d.state)
                    x, choices = st["x"], st["c"]
                except (ValueError, KeyError, TypeError) as err:
                    raise InvalidArgument(f"{where}: state is not this policy's: {err}") from None
                if len(x) != N_FEATURES or len(choices) != len(d.token_ids) or len(d.logprobs) != len(choices):
                    raise InvalidArgument(f"{where}: {len(d.token_ids)} token ids and {len(d.logprobs)} log-probs for {len(choices)} choices")
                if len(d.mask) not in (0, len(choices)):
                    raise InvalidArgument(f"{where}: mask has {len(d.mask)} entries for {len(choices)} choices")
                xt = torch.tensor(x, dtype=torch.float64)
                with torch.set_grad_enabled(with_grad):
                    h = self.net.hidden(xt)
                with torch.no_grad():
                    hr = self.ref.hidden(xt)
                for j, (hi, legal, chosen) in enumerate(choices):
                    if d.token_ids[j] != chosen:
                        raise InvalidArgument(f"{where}: token id {j} is {d.token_ids[j]} but the state says {chosen}")
                    head = HEAD_NAMES[hi]
                    with torch.set_grad_enabled(with_grad):
                        lp = self.net.log_probs(h, head, legal)
                        new.append(lp[chosen])
                        ent.append(entropy_of(lp))
                    with torch.no_grad():
                        ref.append(self.ref.log_probs(hr, head, legal)[chosen])
                    old.append(d.logprobs[j])
                    mask.append(len(d.mask) == 0 or d.mask[j] != 0)
            if len(e.ref_logprobs):
                if len(e.ref_logprobs) != len(new):
                    raise InvalidArgument(f"episode {ei}: {len(e.ref_logprobs)} ref_logprobs for {len(new)} choices")
                ref_t = torch.tensor(list(e.ref_logprobs), dtype=torch.float64)
            else:
                ref_t = torch.stack(ref) if ref else torch.zeros(0, dtype=torch.float64)
            f64 = lambda v: torch.stack(v) if v else torch.zeros(0, dtype=torch.float64)  # noqa: E731
            out.append(EpisodeTokens(new=f64(new), old=torch.tensor(old, dtype=torch.float64), ref=ref_t,
                                     entropy=f64(ent), mask=torch.tensor(mask, dtype=torch.bool), advantage=e.advantage))
        return out

    def loss(self, request: policy_pb2.UpdateRequest):
        """The loss of a batch under the current parameters (no step)."""
        p = LossParams.from_proto(request.loss if request.HasField("loss") else None)
        with self._lock:
            return cwrpo_loss(self.episode_tokens(request), p)

    def update(self, request: policy_pb2.UpdateRequest):
        p = LossParams.from_proto(request.loss if request.HasField("loss") else None)
        lr = request.loss.learning_rate if request.loss.HasField("learning_rate") else self.learning_rate
        max_norm = request.loss.max_grad_norm if request.loss.HasField("max_grad_norm") else 1.0
        if not lr > 0 or not max_norm > 0:
            raise InvalidArgument("loss.learning_rate and loss.max_grad_norm must be > 0")
        with self._lock:
            loss, stats = cwrpo_loss(self.episode_tokens(request), p)
            self.opt.zero_grad(set_to_none=True)
            if stats["tokens"] == 0:
                self.last_stats = stats
                return stats  # nothing this policy sampled: no step
            loss.backward()
            norm = float(torch.nn.utils.clip_grad_norm_(self.net.parameters(), max_norm))
            if norm != norm or norm == float("inf"):
                self.opt.zero_grad(set_to_none=True)
                raise FailedPrecondition(f"gradient norm is {norm}; parameters left unchanged")
            for g in self.opt.param_groups:
                g["lr"] = lr
            self.opt.step()
            self.step = max(self.step, int(request.step))
            self.updates += 1
            self._version = self._hash()
            stats["grad_norm"] = norm
            self.last_stats = stats
            return stats

    # ---- checkpoints ----

    def save(self, path: str, step: int) -> None:
        with self._lock:
            torch.save({"format": "flowsteer-torch-mlp-v1", "hidden": self.hidden_units, "step": int(step),
                        "net": self.net.state_dict(), "ref": self.ref.state_dict(), "opt": self.opt.state_dict()}, path)

    def load(self, path: str) -> int:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if ck.get("format") != "flowsteer-torch-mlp-v1" or ck.get("hidden") != self.hidden_units:
            raise InvalidArgument(f"{path}: not a checkpoint of this policy (hidden {self.hidden_units})")
        with self._lock:
            self.net.load_state_dict(ck["net"])
            self.ref.load_state_dict(ck["ref"])
            self.opt.load_state_dict(ck["opt"])
            self.step = int(ck["step"])
            self._version = self._hash()
            return self.step


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Serve the example PyTorch Flow-Director over PolicyService.")
    ap.add_argument("--addr", default="127.0.0.1:50052")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--checkpoint", help="checkpoint to load first")
    a = ap.parse_args(argv)
    p = TorchPolicy(hidden=a.hidden, seed=a.seed)
    if a.checkpoint:
        p.load(a.checkpoint)
    p.serve(a.addr)
    print(f"torch policy serving on {p.address}", flush=True)
    try:
        p.wait()
    except KeyboardInterrupt:
        p.stop()


if __name__ == "__main__":
    main()
