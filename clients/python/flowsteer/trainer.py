"""TrainerClient: start CWRPO runs, watch their events, fetch results."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flowsteer import _rpc
from flowsteer.errors import FlowsteerError
from flowsteer.v1 import trainer_pb2, trainer_pb2_grpc

#: Run statuses after which a run changes no more.
TERMINAL = frozenset(
    {
        trainer_pb2.RUN_STATUS_SUCCEEDED,
        trainer_pb2.RUN_STATUS_FAILED,
        trainer_pb2.RUN_STATUS_CANCELLED,
        trainer_pb2.RUN_STATUS_BUDGET_REACHED,
    }
)


def _yaml(config: str | Mapping[str, Any]) -> str:
    if isinstance(config, str):
        return config
    # JSON is YAML: no YAML library needed for a dict config.
    import json

    return json.dumps(config)


class TrainerClient(_rpc.BaseClient):
    """A client of ``TrainerService``; options as for :class:`CanvasClient`."""

    def __init__(self, addr: str | None = None, **kw: Any):
        super().__init__(addr, **kw)
        self._stub = trainer_pb2_grpc.TrainerServiceStub(self.channel)

    def start_run(
        self, config_yaml: str | Mapping[str, Any], *, run_dir: str = "", resume: bool = False, timeout: Any = ...
    ) -> trainer_pb2.Run:
        """Start a run from its YAML config (or a dict of it); returns the
        run, already stored and running in the trainer's process."""
        req = trainer_pb2.StartRunRequest(config_yaml=_yaml(config_yaml), run_dir=run_dir, resume=resume)
        return _rpc.call(self._stub.StartRun, req, self._t(timeout)).run

    def watch(
        self, run_id: str, *, from_start: bool = True, episodes: bool = False, timeout: float | None = None
    ) -> Iterator[trainer_pb2.RunEvent]:
        """Iterate a run's events (status, step metrics, evaluations, logs,
        and with ``episodes`` each episode) until it ends. ``timeout``
        bounds the whole watch."""
        req = trainer_pb2.WatchRunRequest(run_id=run_id, from_start=from_start, episodes=episodes)
        for resp in _rpc.mapped(self._stub.WatchRun(req, timeout=timeout)):
            yield resp.event

    def wait(self, run_id: str, *, timeout: float | None = None, on_event=None) -> trainer_pb2.Run:
        """Watch until the run reaches a terminal status and return it."""
        for ev in self.watch(run_id, timeout=timeout):
            if on_event is not None:
                on_event(ev)
            if ev.WhichOneof("event") == "status" and ev.status.status in TERMINAL:
                return ev.status
        run = self.get_run(run_id).run
        if run.status not in TERMINAL:
            raise FlowsteerError(f"run {run_id}: the watch ended while the run is {trainer_pb2.RunStatus.Name(run.status)}")
        return run

    def get_run(self, run_id: str, *, timeout: Any = ...) -> trainer_pb2.GetRunResponse:
        """The run and its stored step metrics (``.run``, ``.steps``)."""
        return _rpc.call(self._stub.GetRun, trainer_pb2.GetRunRequest(run_id=run_id), self._t(timeout))

    def list_runs(self, *, timeout: Any = ...) -> list[trainer_pb2.Run]:
        return list(_rpc.call(self._stub.ListRuns, trainer_pb2.ListRunsRequest(), self._t(timeout)).runs)

    def cancel(self, run_id: str, *, timeout: Any = ...) -> trainer_pb2.Run:
        return _rpc.call(self._stub.CancelRun, trainer_pb2.CancelRunRequest(run_id=run_id), self._t(timeout)).run

    def evaluate(self, request: trainer_pb2.EvaluateRequest, *, timeout: float | None = None) -> Iterator[trainer_pb2.EvaluateResponse]:
        """Stream an evaluation: progress, episodes, then the report."""
        return _rpc.mapped(self._stub.Evaluate(request, timeout=timeout))
