"""A faithful minimal stand-in of the verl interfaces CanvasAgentLoop uses,
for machines where verl cannot be installed (see docs/integrations.md).

Written against verl 0.9.1 (``verl.experimental.agent_loop.agent_loop``):
``AgentLoopBase.__init__(trainer_config, server_manager, tokenizer,
processor, dataset_cls, data_config, **kwargs)`` setting ``config``,
``rollout_config`` (``config.actor_rollout_ref.rollout``), ``server_manager``
and ``tokenizer``; ``async run(sampling_params, **kwargs) ->
AgentLoopOutput``; ``register(name)``; ``AgentLoopOutput`` and
``AgentLoopMetrics`` with the same fields and defaults; and
``server_manager.generate(request_id, *, prompt_ids, sampling_params) ->
TokenOutput(token_ids, log_probs)`` (``verl.workers.rollout.replica``).
Only what CanvasAgentLoop touches is here; nothing else of verl is imitated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Optional

from pydantic import BaseModel

VERL_VERSION = "0.9.1"

_agent_loop_registry: dict[str, dict] = {}


def register(agent_name: str):
    def decorator(subclass):
        _agent_loop_registry[agent_name] = {"_target_": f"{subclass.__module__}.{subclass.__qualname__}"}
        return subclass

    return decorator


class AgentLoopMetrics(BaseModel):
    generate_sequences: float = 0.0
    tool_calls: float = 0.0
    compute_score: float = 0.0
    num_preempted: int = -1


class AgentLoopOutput(BaseModel):
    prompt_ids: list[int]
    response_ids: list[int]
    response_mask: list[int]
    response_logprobs: Optional[list[float]] = None
    routed_experts: Optional[Any] = None
    multi_modal_data: Optional[dict[str, Any]] = None
    reward_score: Optional[float] = None
    num_turns: int = 0
    metrics: AgentLoopMetrics
    extra_fields: dict[str, Any] = {}


class TokenOutput(BaseModel):
    token_ids: list[int]
    log_probs: Optional[list[float]] = None
    routed_experts: Optional[Any] = None
    stop_reason: Optional[str] = None
    num_preempted: Optional[int] = None
    extra_fields: dict[str, Any] = {}


class AgentLoopBase(ABC):
    def __init__(self, trainer_config, server_manager, tokenizer, processor, dataset_cls, data_config, **kwargs):
        self.config = trainer_config.config
        self.rollout_config = self.config.actor_rollout_ref.rollout
        self.server_manager = server_manager
        self.tokenizer = tokenizer
        self.processor = processor
        self.dataset_cls = dataset_cls
        self.data_config = data_config.config

    @abstractmethod
    async def run(self, sampling_params: dict[str, Any], **kwargs) -> AgentLoopOutput:
        raise NotImplementedError
