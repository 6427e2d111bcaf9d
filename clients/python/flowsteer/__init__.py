"""flowsteer: the Python client.

- :class:`CanvasClient` drives canvas episodes (``with client.episode(task) as ep: obs = ep.step(action)``).
- :class:`TrainerClient` starts CWRPO runs, watches their events and fetches results.
- :class:`PolicyServer` serves a policy written in Python that the Go trainer can train.
- :mod:`flowsteer.tracing` sets up OpenTelemetry (W3C traceparent over gRPC metadata).
- :mod:`flowsteer.v1` holds the generated messages and stubs.
"""

from flowsteer.canvas import CanvasClient, Episode
from flowsteer.convert import to_action, to_task
from flowsteer.errors import (
    Cancelled,
    DeadlineExceeded,
    EpisodeNotFound,
    FailedPrecondition,
    FlowsteerError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from flowsteer.policy import PolicyServer
from flowsteer.trainer import TrainerClient
from flowsteer.v1 import action_pb2, canvas_pb2, policy_pb2, reward_pb2, task_pb2, trainer_pb2, workflow_pb2

__version__ = "0.1.0"

__all__ = [
    "CanvasClient",
    "Episode",
    "TrainerClient",
    "PolicyServer",
    "to_action",
    "to_task",
    "FlowsteerError",
    "EpisodeNotFound",
    "NotFound",
    "InvalidArgument",
    "FailedPrecondition",
    "Unavailable",
    "DeadlineExceeded",
    "Cancelled",
    "PermissionDenied",
    "Unauthenticated",
    "Unimplemented",
    "action_pb2",
    "canvas_pb2",
    "policy_pb2",
    "reward_pb2",
    "task_pb2",
    "trainer_pb2",
    "workflow_pb2",
]
