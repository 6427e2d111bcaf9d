"""A flowsteer canvas as a verl agent loop (``pip install 'flowsteer[verl]'``).

:class:`CanvasAgentLoop` is registered as ``flowsteer_canvas``;
``agent_loop.yaml`` next to this file is the ``agent_loop_config_path``
entry. See docs/integrations.md for how far it is tested.
"""

import os

from flowsteer.verl.agent_loop import VERL_INSTALLED, CanvasAgentLoop

#: The agent_loop_config_path YAML for verl.
AGENT_LOOP_CONFIG = os.path.join(os.path.dirname(__file__), "agent_loop.yaml")

__all__ = ["CanvasAgentLoop", "VERL_INSTALLED", "AGENT_LOOP_CONFIG"]
