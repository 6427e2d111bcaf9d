"""A flowsteer canvas as an OpenEnv environment (``pip install 'flowsteer[openenv]'``).

- :func:`make_app` / ``python -m flowsteer.openenv --canvas ADDR``: the
  OpenEnv server (``/ws`` reset, step, state, close; ``/schema``; ``/health``).
- :class:`FlowsteerEnv`: the typed ``EnvClient``; :class:`CanvasAction`,
  :class:`CanvasObservation`, :class:`CanvasState`: the models.

See docs/integrations.md.
"""

from flowsteer.openenv.client import FlowsteerEnv
from flowsteer.openenv.models import CanvasAction, CanvasObservation, CanvasState
from flowsteer.openenv.server import CanvasEnv, builtin_tasks, make_app, observation_model

__all__ = ["FlowsteerEnv", "CanvasAction", "CanvasObservation", "CanvasState", "CanvasEnv", "make_app",
           "observation_model", "builtin_tasks"]
