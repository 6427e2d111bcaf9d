from flowsteer.v1 import action_pb2 as _action_pb2
from flowsteer.v1 import canvas_pb2 as _canvas_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActionFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_FORMAT_UNSPECIFIED: _ClassVar[ActionFormat]
    ACTION_FORMAT_TEXT: _ClassVar[ActionFormat]
    ACTION_FORMAT_STRUCTURED: _ClassVar[ActionFormat]

class LossKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOSS_KIND_UNSPECIFIED: _ClassVar[LossKind]
    LOSS_KIND_CWRPO: _ClassVar[LossKind]
    LOSS_KIND_REINFORCE: _ClassVar[LossKind]
ACTION_FORMAT_UNSPECIFIED: ActionFormat
ACTION_FORMAT_TEXT: ActionFormat
ACTION_FORMAT_STRUCTURED: ActionFormat
LOSS_KIND_UNSPECIFIED: LossKind
LOSS_KIND_CWRPO: LossKind
LOSS_KIND_REINFORCE: LossKind

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("kind", "version", "can_learn", "action_format", "model", "info")
    class InfoEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CAN_LEARN_FIELD_NUMBER: _ClassVar[int]
    ACTION_FORMAT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    kind: str
    version: str
    can_learn: bool
    action_format: ActionFormat
    model: str
    info: _containers.ScalarMap[str, str]
    def __init__(self, kind: _Optional[str] = ..., version: _Optional[str] = ..., can_learn: _Optional[bool] = ..., action_format: _Optional[_Union[ActionFormat, str]] = ..., model: _Optional[str] = ..., info: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SamplingParams(_message.Message):
    __slots__ = ("temperature", "top_p", "top_k", "max_new_tokens", "greedy", "seed")
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    GREEDY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    temperature: float
    top_p: float
    top_k: int
    max_new_tokens: int
    greedy: bool
    seed: int
    def __init__(self, temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., top_k: _Optional[int] = ..., max_new_tokens: _Optional[int] = ..., greedy: _Optional[bool] = ..., seed: _Optional[int] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("action", "reasoning", "prompt_text", "prompt_token_ids", "token_ids", "logprobs", "mask", "state", "policy_version", "model", "prompt_tokens", "completion_tokens", "repairs")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEXT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REPAIRS_FIELD_NUMBER: _ClassVar[int]
    action: _action_pb2.Action
    reasoning: str
    prompt_text: str
    prompt_token_ids: _containers.RepeatedScalarFieldContainer[int]
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    logprobs: _containers.RepeatedScalarFieldContainer[float]
    mask: _containers.RepeatedScalarFieldContainer[int]
    state: bytes
    policy_version: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    repairs: int
    def __init__(self, action: _Optional[_Union[_action_pb2.Action, _Mapping]] = ..., reasoning: _Optional[str] = ..., prompt_text: _Optional[str] = ..., prompt_token_ids: _Optional[_Iterable[int]] = ..., token_ids: _Optional[_Iterable[int]] = ..., logprobs: _Optional[_Iterable[float]] = ..., mask: _Optional[_Iterable[int]] = ..., state: _Optional[bytes] = ..., policy_version: _Optional[str] = ..., model: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., repairs: _Optional[int] = ...) -> None: ...

class ActRequest(_message.Message):
    __slots__ = ("observation", "sampling")
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    observation: _canvas_pb2.Observation
    sampling: SamplingParams
    def __init__(self, observation: _Optional[_Union[_canvas_pb2.Observation, _Mapping]] = ..., sampling: _Optional[_Union[SamplingParams, _Mapping]] = ...) -> None: ...

class ActResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class ActStreamRequest(_message.Message):
    __slots__ = ("act",)
    ACT_FIELD_NUMBER: _ClassVar[int]
    act: ActRequest
    def __init__(self, act: _Optional[_Union[ActRequest, _Mapping]] = ...) -> None: ...

class ActStreamResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class LossConfig(_message.Message):
    __slots__ = ("kind", "clip", "kl_coef", "entropy_coef", "learning_rate", "max_grad_norm")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    KL_COEF_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_COEF_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    kind: LossKind
    clip: float
    kl_coef: float
    entropy_coef: float
    learning_rate: float
    max_grad_norm: float
    def __init__(self, kind: _Optional[_Union[LossKind, str]] = ..., clip: _Optional[float] = ..., kl_coef: _Optional[float] = ..., entropy_coef: _Optional[float] = ..., learning_rate: _Optional[float] = ..., max_grad_norm: _Optional[float] = ...) -> None: ...

class EpisodeSamples(_message.Message):
    __slots__ = ("episode_id", "group_id", "reward", "advantage", "decisions", "ref_logprobs")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    ADVANTAGE_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    REF_LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    group_id: str
    reward: float
    advantage: float
    decisions: _containers.RepeatedCompositeFieldContainer[Decision]
    ref_logprobs: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, episode_id: _Optional[str] = ..., group_id: _Optional[str] = ..., reward: _Optional[float] = ..., advantage: _Optional[float] = ..., decisions: _Optional[_Iterable[_Union[Decision, _Mapping]]] = ..., ref_logprobs: _Optional[_Iterable[float]] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ("step", "loss", "episodes")
    STEP_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    step: int
    loss: LossConfig
    episodes: _containers.RepeatedCompositeFieldContainer[EpisodeSamples]
    def __init__(self, step: _Optional[int] = ..., loss: _Optional[_Union[LossConfig, _Mapping]] = ..., episodes: _Optional[_Iterable[_Union[EpisodeSamples, _Mapping]]] = ...) -> None: ...

class LossStats(_message.Message):
    __slots__ = ("loss", "policy_loss", "kl", "entropy", "clip_fraction", "grad_norm", "tokens", "episodes")
    LOSS_FIELD_NUMBER: _ClassVar[int]
    POLICY_LOSS_FIELD_NUMBER: _ClassVar[int]
    KL_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRACTION_FIELD_NUMBER: _ClassVar[int]
    GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    loss: float
    policy_loss: float
    kl: float
    entropy: float
    clip_fraction: float
    grad_norm: float
    tokens: int
    episodes: int
    def __init__(self, loss: _Optional[float] = ..., policy_loss: _Optional[float] = ..., kl: _Optional[float] = ..., entropy: _Optional[float] = ..., clip_fraction: _Optional[float] = ..., grad_norm: _Optional[float] = ..., tokens: _Optional[int] = ..., episodes: _Optional[int] = ...) -> None: ...

class UpdateResponse(_message.Message):
    __slots__ = ("stats", "policy_version")
    STATS_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    stats: LossStats
    policy_version: str
    def __init__(self, stats: _Optional[_Union[LossStats, _Mapping]] = ..., policy_version: _Optional[str] = ...) -> None: ...

class SaveCheckpointRequest(_message.Message):
    __slots__ = ("path", "step")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    path: str
    step: int
    def __init__(self, path: _Optional[str] = ..., step: _Optional[int] = ...) -> None: ...

class SaveCheckpointResponse(_message.Message):
    __slots__ = ("path", "checksum", "policy_version")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    path: str
    checksum: str
    policy_version: str
    def __init__(self, path: _Optional[str] = ..., checksum: _Optional[str] = ..., policy_version: _Optional[str] = ...) -> None: ...

class LoadCheckpointRequest(_message.Message):
    __slots__ = ("path", "checksum")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    path: str
    checksum: str
    def __init__(self, path: _Optional[str] = ..., checksum: _Optional[str] = ...) -> None: ...

class LoadCheckpointResponse(_message.Message):
    __slots__ = ("policy_version", "step")
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    policy_version: str
    step: int
    def __init__(self, policy_version: _Optional[str] = ..., step: _Optional[int] = ...) -> None: ...
