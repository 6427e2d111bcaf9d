import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StageKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_KIND_UNSPECIFIED: _ClassVar[StageKind]
    STAGE_KIND_OPERATOR: _ClassVar[StageKind]
    STAGE_KIND_PARALLEL: _ClassVar[StageKind]
    STAGE_KIND_CONDITIONAL: _ClassVar[StageKind]
    STAGE_KIND_LOOP: _ClassVar[StageKind]

class NodeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATUS_UNSPECIFIED: _ClassVar[NodeStatus]
    NODE_STATUS_PENDING: _ClassVar[NodeStatus]
    NODE_STATUS_RUNNING: _ClassVar[NodeStatus]
    NODE_STATUS_OK: _ClassVar[NodeStatus]
    NODE_STATUS_FAILED: _ClassVar[NodeStatus]
    NODE_STATUS_SKIPPED: _ClassVar[NodeStatus]
STAGE_KIND_UNSPECIFIED: StageKind
STAGE_KIND_OPERATOR: StageKind
STAGE_KIND_PARALLEL: StageKind
STAGE_KIND_CONDITIONAL: StageKind
STAGE_KIND_LOOP: StageKind
NODE_STATUS_UNSPECIFIED: NodeStatus
NODE_STATUS_PENDING: NodeStatus
NODE_STATUS_RUNNING: NodeStatus
NODE_STATUS_OK: NodeStatus
NODE_STATUS_FAILED: NodeStatus
NODE_STATUS_SKIPPED: NodeStatus

class WorkflowNode(_message.Message):
    __slots__ = ("id", "operator", "prompt")
    ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    id: str
    operator: str
    prompt: str
    def __init__(self, id: _Optional[str] = ..., operator: _Optional[str] = ..., prompt: _Optional[str] = ...) -> None: ...

class Stage(_message.Message):
    __slots__ = ("id", "kind", "operator", "branches", "condition", "if_true", "if_false", "body", "count")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    BRANCHES_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    IF_TRUE_FIELD_NUMBER: _ClassVar[int]
    IF_FALSE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: StageKind
    operator: WorkflowNode
    branches: _containers.RepeatedCompositeFieldContainer[WorkflowNode]
    condition: WorkflowNode
    if_true: WorkflowNode
    if_false: WorkflowNode
    body: _containers.RepeatedCompositeFieldContainer[WorkflowNode]
    count: int
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[StageKind, str]] = ..., operator: _Optional[_Union[WorkflowNode, _Mapping]] = ..., branches: _Optional[_Iterable[_Union[WorkflowNode, _Mapping]]] = ..., condition: _Optional[_Union[WorkflowNode, _Mapping]] = ..., if_true: _Optional[_Union[WorkflowNode, _Mapping]] = ..., if_false: _Optional[_Union[WorkflowNode, _Mapping]] = ..., body: _Optional[_Iterable[_Union[WorkflowNode, _Mapping]]] = ..., count: _Optional[int] = ...) -> None: ...

class WorkflowStats(_message.Message):
    __slots__ = ("total_operators", "unique_operators", "stages", "parallel", "conditional", "loop", "operator_counts")
    class OperatorCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TOTAL_OPERATORS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_OPERATORS_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_FIELD_NUMBER: _ClassVar[int]
    CONDITIONAL_FIELD_NUMBER: _ClassVar[int]
    LOOP_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    total_operators: int
    unique_operators: int
    stages: int
    parallel: int
    conditional: int
    loop: int
    operator_counts: _containers.ScalarMap[str, int]
    def __init__(self, total_operators: _Optional[int] = ..., unique_operators: _Optional[int] = ..., stages: _Optional[int] = ..., parallel: _Optional[int] = ..., conditional: _Optional[int] = ..., loop: _Optional[int] = ..., operator_counts: _Optional[_Mapping[str, int]] = ...) -> None: ...

class Workflow(_message.Message):
    __slots__ = ("dsl", "stages", "stats")
    DSL_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    dsl: str
    stages: _containers.RepeatedCompositeFieldContainer[Stage]
    stats: WorkflowStats
    def __init__(self, dsl: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[Stage, _Mapping]]] = ..., stats: _Optional[_Union[WorkflowStats, _Mapping]] = ...) -> None: ...

class NodeResult(_message.Message):
    __slots__ = ("node_id", "operator", "status", "output_excerpt", "error", "duration", "cache_hit", "input_tokens", "output_tokens", "calls", "verdict", "iteration", "models")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_EXCERPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ITERATION_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    operator: str
    status: NodeStatus
    output_excerpt: str
    error: str
    duration: _duration_pb2.Duration
    cache_hit: bool
    input_tokens: int
    output_tokens: int
    calls: int
    verdict: bool
    iteration: int
    models: _containers.RepeatedCompositeFieldContainer[ModelUsage]
    def __init__(self, node_id: _Optional[str] = ..., operator: _Optional[str] = ..., status: _Optional[_Union[NodeStatus, str]] = ..., output_excerpt: _Optional[str] = ..., error: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cache_hit: _Optional[bool] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., calls: _Optional[int] = ..., verdict: _Optional[bool] = ..., iteration: _Optional[int] = ..., models: _Optional[_Iterable[_Union[ModelUsage, _Mapping]]] = ...) -> None: ...

class ExecutionStats(_message.Message):
    __slots__ = ("calls", "cache_hits", "input_tokens", "output_tokens", "saved_tokens", "duration", "backend", "model", "simulated", "sandbox_runs", "models", "sandbox_seconds")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SAVED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_RUNS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    calls: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    saved_tokens: int
    duration: _duration_pb2.Duration
    backend: str
    model: str
    simulated: bool
    sandbox_runs: int
    models: _containers.RepeatedCompositeFieldContainer[ModelUsage]
    sandbox_seconds: float
    def __init__(self, calls: _Optional[int] = ..., cache_hits: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., saved_tokens: _Optional[int] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backend: _Optional[str] = ..., model: _Optional[str] = ..., simulated: _Optional[bool] = ..., sandbox_runs: _Optional[int] = ..., models: _Optional[_Iterable[_Union[ModelUsage, _Mapping]]] = ..., sandbox_seconds: _Optional[float] = ...) -> None: ...

class ModelUsage(_message.Message):
    __slots__ = ("backend", "model", "calls", "cache_hits", "input_tokens", "cached_input_tokens", "output_tokens", "saved_input_tokens", "saved_output_tokens", "latency_seconds", "simulated")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SAVED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SAVED_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    calls: int
    cache_hits: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    saved_input_tokens: int
    saved_output_tokens: int
    latency_seconds: float
    simulated: bool
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., calls: _Optional[int] = ..., cache_hits: _Optional[int] = ..., input_tokens: _Optional[int] = ..., cached_input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., saved_input_tokens: _Optional[int] = ..., saved_output_tokens: _Optional[int] = ..., latency_seconds: _Optional[float] = ..., simulated: _Optional[bool] = ...) -> None: ...

class Execution(_message.Message):
    __slots__ = ("executed", "note", "nodes", "final_answer", "stats", "error")
    EXECUTED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    FINAL_ANSWER_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    executed: bool
    note: str
    nodes: _containers.RepeatedCompositeFieldContainer[NodeResult]
    final_answer: str
    stats: ExecutionStats
    error: str
    def __init__(self, executed: _Optional[bool] = ..., note: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[NodeResult, _Mapping]]] = ..., final_answer: _Optional[str] = ..., stats: _Optional[_Union[ExecutionStats, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...
