from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RewardKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REWARD_KIND_UNSPECIFIED: _ClassVar[RewardKind]
    REWARD_KIND_CWRPO: _ClassVar[RewardKind]
    REWARD_KIND_MILESTONE: _ClassVar[RewardKind]
    REWARD_KIND_CORRECTNESS: _ClassVar[RewardKind]
REWARD_KIND_UNSPECIFIED: RewardKind
REWARD_KIND_CWRPO: RewardKind
REWARD_KIND_MILESTONE: RewardKind
REWARD_KIND_CORRECTNESS: RewardKind

class RewardSpec(_message.Message):
    __slots__ = ("kind", "checker_weight", "format_weight", "size_weight", "structure_weight", "min_operators", "cap", "base", "release_threshold", "unfinished_penalty", "invalid_action_penalty", "cost")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHECKER_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SIZE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STRUCTURE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MIN_OPERATORS_FIELD_NUMBER: _ClassVar[int]
    CAP_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    UNFINISHED_PENALTY_FIELD_NUMBER: _ClassVar[int]
    INVALID_ACTION_PENALTY_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    kind: RewardKind
    checker_weight: float
    format_weight: float
    size_weight: float
    structure_weight: float
    min_operators: int
    cap: float
    base: float
    release_threshold: float
    unfinished_penalty: float
    invalid_action_penalty: float
    cost: CostSpec
    def __init__(self, kind: _Optional[_Union[RewardKind, str]] = ..., checker_weight: _Optional[float] = ..., format_weight: _Optional[float] = ..., size_weight: _Optional[float] = ..., structure_weight: _Optional[float] = ..., min_operators: _Optional[int] = ..., cap: _Optional[float] = ..., base: _Optional[float] = ..., release_threshold: _Optional[float] = ..., unfinished_penalty: _Optional[float] = ..., invalid_action_penalty: _Optional[float] = ..., cost: _Optional[_Union[CostSpec, _Mapping]] = ...) -> None: ...

class CostSpec(_message.Message):
    __slots__ = ("weight", "unit", "reference", "prices")
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    weight: float
    unit: str
    reference: float
    prices: _containers.RepeatedCompositeFieldContainer[Price]
    def __init__(self, weight: _Optional[float] = ..., unit: _Optional[str] = ..., reference: _Optional[float] = ..., prices: _Optional[_Iterable[_Union[Price, _Mapping]]] = ...) -> None: ...

class Price(_message.Message):
    __slots__ = ("backend", "model", "input", "output", "cached_input")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    input: float
    output: float
    cached_input: float
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., input: _Optional[float] = ..., output: _Optional[float] = ..., cached_input: _Optional[float] = ...) -> None: ...

class Score(_message.Message):
    __slots__ = ("value", "correct", "method", "explanation")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    value: float
    correct: bool
    method: str
    explanation: str
    def __init__(self, value: _Optional[float] = ..., correct: _Optional[bool] = ..., method: _Optional[str] = ..., explanation: _Optional[str] = ...) -> None: ...

class RewardBreakdown(_message.Message):
    __slots__ = ("kind", "reward", "base", "checker", "format", "size", "structure", "structure_total", "released", "correctness", "penalties", "score", "cost_penalty", "workflow_cost", "cost_unit")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    CHECKER_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STRUCTURE_FIELD_NUMBER: _ClassVar[int]
    STRUCTURE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    CORRECTNESS_FIELD_NUMBER: _ClassVar[int]
    PENALTIES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    COST_PENALTY_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_COST_FIELD_NUMBER: _ClassVar[int]
    COST_UNIT_FIELD_NUMBER: _ClassVar[int]
    kind: RewardKind
    reward: float
    base: float
    checker: float
    format: float
    size: float
    structure: float
    structure_total: float
    released: bool
    correctness: float
    penalties: float
    score: Score
    cost_penalty: float
    workflow_cost: float
    cost_unit: str
    def __init__(self, kind: _Optional[_Union[RewardKind, str]] = ..., reward: _Optional[float] = ..., base: _Optional[float] = ..., checker: _Optional[float] = ..., format: _Optional[float] = ..., size: _Optional[float] = ..., structure: _Optional[float] = ..., structure_total: _Optional[float] = ..., released: _Optional[bool] = ..., correctness: _Optional[float] = ..., penalties: _Optional[float] = ..., score: _Optional[_Union[Score, _Mapping]] = ..., cost_penalty: _Optional[float] = ..., workflow_cost: _Optional[float] = ..., cost_unit: _Optional[str] = ...) -> None: ...
