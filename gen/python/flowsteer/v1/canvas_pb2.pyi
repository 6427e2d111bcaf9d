import datetime

from flowsteer.v1 import action_pb2 as _action_pb2
from flowsteer.v1 import reward_pb2 as _reward_pb2
from flowsteer.v1 import task_pb2 as _task_pb2
from flowsteer.v1 import workflow_pb2 as _workflow_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OperatorRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATOR_ROLE_UNSPECIFIED: _ClassVar[OperatorRole]
    OPERATOR_ROLE_SOLVER: _ClassVar[OperatorRole]
    OPERATOR_ROLE_CHECKER: _ClassVar[OperatorRole]
    OPERATOR_ROLE_COMBINER: _ClassVar[OperatorRole]

class ObservationMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OBSERVATION_MODE_UNSPECIFIED: _ClassVar[ObservationMode]
    OBSERVATION_MODE_FULL: _ClassVar[ObservationMode]
    OBSERVATION_MODE_INCREMENTAL: _ClassVar[ObservationMode]

class EpisodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EPISODE_STATE_UNSPECIFIED: _ClassVar[EpisodeState]
    EPISODE_STATE_BUILDING: _ClassVar[EpisodeState]
    EPISODE_STATE_AWAITING_PROMPT: _ClassVar[EpisodeState]
    EPISODE_STATE_DONE: _ClassVar[EpisodeState]

class EndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    END_REASON_UNSPECIFIED: _ClassVar[EndReason]
    END_REASON_FINISHED: _ClassVar[EndReason]
    END_REASON_MAX_ROUNDS: _ClassVar[EndReason]
    END_REASON_CLOSED: _ClassVar[EndReason]

class PromptKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROMPT_KIND_UNSPECIFIED: _ClassVar[PromptKind]
    PROMPT_KIND_ACTION: _ClassVar[PromptKind]
    PROMPT_KIND_NODE_PROMPT: _ClassVar[PromptKind]
    PROMPT_KIND_REPAIR: _ClassVar[PromptKind]
OPERATOR_ROLE_UNSPECIFIED: OperatorRole
OPERATOR_ROLE_SOLVER: OperatorRole
OPERATOR_ROLE_CHECKER: OperatorRole
OPERATOR_ROLE_COMBINER: OperatorRole
OBSERVATION_MODE_UNSPECIFIED: ObservationMode
OBSERVATION_MODE_FULL: ObservationMode
OBSERVATION_MODE_INCREMENTAL: ObservationMode
EPISODE_STATE_UNSPECIFIED: EpisodeState
EPISODE_STATE_BUILDING: EpisodeState
EPISODE_STATE_AWAITING_PROMPT: EpisodeState
EPISODE_STATE_DONE: EpisodeState
END_REASON_UNSPECIFIED: EndReason
END_REASON_FINISHED: EndReason
END_REASON_MAX_ROUNDS: EndReason
END_REASON_CLOSED: EndReason
PROMPT_KIND_UNSPECIFIED: PromptKind
PROMPT_KIND_ACTION: PromptKind
PROMPT_KIND_NODE_PROMPT: PromptKind
PROMPT_KIND_REPAIR: PromptKind

class OperatorInfo(_message.Message):
    __slots__ = ("name", "group", "description", "when_to_use", "inputs", "outputs", "roles", "library", "enabled")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    WHEN_TO_USE_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    LIBRARY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    name: str
    group: str
    description: str
    when_to_use: str
    inputs: _containers.RepeatedScalarFieldContainer[str]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    roles: _containers.RepeatedScalarFieldContainer[OperatorRole]
    library: str
    enabled: bool
    def __init__(self, name: _Optional[str] = ..., group: _Optional[str] = ..., description: _Optional[str] = ..., when_to_use: _Optional[str] = ..., inputs: _Optional[_Iterable[str]] = ..., outputs: _Optional[_Iterable[str]] = ..., roles: _Optional[_Iterable[_Union[OperatorRole, str]]] = ..., library: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class ListOperatorsRequest(_message.Message):
    __slots__ = ("library", "family")
    LIBRARY_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    library: str
    family: _task_pb2.TaskFamily
    def __init__(self, library: _Optional[str] = ..., family: _Optional[_Union[_task_pb2.TaskFamily, str]] = ...) -> None: ...

class ListOperatorsResponse(_message.Message):
    __slots__ = ("operators",)
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    operators: _containers.RepeatedCompositeFieldContainer[OperatorInfo]
    def __init__(self, operators: _Optional[_Iterable[_Union[OperatorInfo, _Mapping]]] = ...) -> None: ...

class FinishRules(_message.Message):
    __slots__ = ("require_nonempty", "min_operators", "require_structure", "require_solver", "require_checker", "require_test_for_code", "require_programmer_or_test_for_code", "require_format_when_verbose")
    REQUIRE_NONEMPTY_FIELD_NUMBER: _ClassVar[int]
    MIN_OPERATORS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_STRUCTURE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_SOLVER_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_CHECKER_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_TEST_FOR_CODE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_PROGRAMMER_OR_TEST_FOR_CODE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_FORMAT_WHEN_VERBOSE_FIELD_NUMBER: _ClassVar[int]
    require_nonempty: bool
    min_operators: int
    require_structure: bool
    require_solver: bool
    require_checker: bool
    require_test_for_code: bool
    require_programmer_or_test_for_code: bool
    require_format_when_verbose: bool
    def __init__(self, require_nonempty: _Optional[bool] = ..., min_operators: _Optional[int] = ..., require_structure: _Optional[bool] = ..., require_solver: _Optional[bool] = ..., require_checker: _Optional[bool] = ..., require_test_for_code: _Optional[bool] = ..., require_programmer_or_test_for_code: _Optional[bool] = ..., require_format_when_verbose: _Optional[bool] = ...) -> None: ...

class EpisodeConfig(_message.Message):
    __slots__ = ("max_rounds", "two_step", "lenient", "execute_each_step", "hints", "finish", "reward", "library", "backend", "render_prompt", "observation")
    MAX_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    TWO_STEP_FIELD_NUMBER: _ClassVar[int]
    LENIENT_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_EACH_STEP_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    LIBRARY_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    RENDER_PROMPT_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    max_rounds: int
    two_step: bool
    lenient: bool
    execute_each_step: bool
    hints: bool
    finish: FinishRules
    reward: _reward_pb2.RewardSpec
    library: str
    backend: str
    render_prompt: bool
    observation: ObservationMode
    def __init__(self, max_rounds: _Optional[int] = ..., two_step: _Optional[bool] = ..., lenient: _Optional[bool] = ..., execute_each_step: _Optional[bool] = ..., hints: _Optional[bool] = ..., finish: _Optional[_Union[FinishRules, _Mapping]] = ..., reward: _Optional[_Union[_reward_pb2.RewardSpec, _Mapping]] = ..., library: _Optional[str] = ..., backend: _Optional[str] = ..., render_prompt: _Optional[bool] = ..., observation: _Optional[_Union[ObservationMode, str]] = ...) -> None: ...

class RenderedPrompt(_message.Message):
    __slots__ = ("kind", "system", "user", "max_new_tokens", "append")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    APPEND_FIELD_NUMBER: _ClassVar[int]
    kind: PromptKind
    system: str
    user: str
    max_new_tokens: int
    append: bool
    def __init__(self, kind: _Optional[_Union[PromptKind, str]] = ..., system: _Optional[str] = ..., user: _Optional[str] = ..., max_new_tokens: _Optional[int] = ..., append: _Optional[bool] = ...) -> None: ...

class AwaitingPrompt(_message.Message):
    __slots__ = ("node_id", "operator", "operator_description", "context", "remaining")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    operator: str
    operator_description: str
    context: str
    remaining: int
    def __init__(self, node_id: _Optional[str] = ..., operator: _Optional[str] = ..., operator_description: _Optional[str] = ..., context: _Optional[str] = ..., remaining: _Optional[int] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("turn", "action", "valid", "error")
    TURN_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    turn: int
    action: str
    valid: bool
    error: str
    def __init__(self, turn: _Optional[int] = ..., action: _Optional[str] = ..., valid: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class Observation(_message.Message):
    __slots__ = ("episode_id", "task", "workflow", "execution", "feedback", "valid", "turn", "max_rounds", "rounds_left", "state", "awaiting", "history", "hint", "prompt", "operators", "done", "end_reason", "reward", "last_action", "last_action_kind", "finish_answer", "episode_usage")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    MAX_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_LEFT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AWAITING_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTION_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTION_KIND_FIELD_NUMBER: _ClassVar[int]
    FINISH_ANSWER_FIELD_NUMBER: _ClassVar[int]
    EPISODE_USAGE_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    task: _task_pb2.Task
    workflow: _workflow_pb2.Workflow
    execution: _workflow_pb2.Execution
    feedback: str
    valid: bool
    turn: int
    max_rounds: int
    rounds_left: int
    state: EpisodeState
    awaiting: AwaitingPrompt
    history: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    hint: str
    prompt: RenderedPrompt
    operators: _containers.RepeatedCompositeFieldContainer[OperatorInfo]
    done: bool
    end_reason: EndReason
    reward: _reward_pb2.RewardBreakdown
    last_action: str
    last_action_kind: _action_pb2.ActionKind
    finish_answer: str
    episode_usage: _workflow_pb2.ExecutionStats
    def __init__(self, episode_id: _Optional[str] = ..., task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ..., workflow: _Optional[_Union[_workflow_pb2.Workflow, _Mapping]] = ..., execution: _Optional[_Union[_workflow_pb2.Execution, _Mapping]] = ..., feedback: _Optional[str] = ..., valid: _Optional[bool] = ..., turn: _Optional[int] = ..., max_rounds: _Optional[int] = ..., rounds_left: _Optional[int] = ..., state: _Optional[_Union[EpisodeState, str]] = ..., awaiting: _Optional[_Union[AwaitingPrompt, _Mapping]] = ..., history: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ..., hint: _Optional[str] = ..., prompt: _Optional[_Union[RenderedPrompt, _Mapping]] = ..., operators: _Optional[_Iterable[_Union[OperatorInfo, _Mapping]]] = ..., done: _Optional[bool] = ..., end_reason: _Optional[_Union[EndReason, str]] = ..., reward: _Optional[_Union[_reward_pb2.RewardBreakdown, _Mapping]] = ..., last_action: _Optional[str] = ..., last_action_kind: _Optional[_Union[_action_pb2.ActionKind, str]] = ..., finish_answer: _Optional[str] = ..., episode_usage: _Optional[_Union[_workflow_pb2.ExecutionStats, _Mapping]] = ...) -> None: ...

class CreateEpisodeRequest(_message.Message):
    __slots__ = ("task", "config")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    config: EpisodeConfig
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ..., config: _Optional[_Union[EpisodeConfig, _Mapping]] = ...) -> None: ...

class CreateEpisodeResponse(_message.Message):
    __slots__ = ("observation",)
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    observation: Observation
    def __init__(self, observation: _Optional[_Union[Observation, _Mapping]] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("episode_id", "action")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    action: _action_pb2.Action
    def __init__(self, episode_id: _Optional[str] = ..., action: _Optional[_Union[_action_pb2.Action, _Mapping]] = ...) -> None: ...

class StepResponse(_message.Message):
    __slots__ = ("observation",)
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    observation: Observation
    def __init__(self, observation: _Optional[_Union[Observation, _Mapping]] = ...) -> None: ...

class ResumeEpisode(_message.Message):
    __slots__ = ("episode_id",)
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    def __init__(self, episode_id: _Optional[str] = ...) -> None: ...

class InteractRequest(_message.Message):
    __slots__ = ("open", "resume", "action", "trace_context")
    class TraceContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    OPEN_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TRACE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    open: CreateEpisodeRequest
    resume: ResumeEpisode
    action: _action_pb2.Action
    trace_context: _containers.ScalarMap[str, str]
    def __init__(self, open: _Optional[_Union[CreateEpisodeRequest, _Mapping]] = ..., resume: _Optional[_Union[ResumeEpisode, _Mapping]] = ..., action: _Optional[_Union[_action_pb2.Action, _Mapping]] = ..., trace_context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class InteractResponse(_message.Message):
    __slots__ = ("observation",)
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    observation: Observation
    def __init__(self, observation: _Optional[_Union[Observation, _Mapping]] = ...) -> None: ...

class Turn(_message.Message):
    __slots__ = ("turn", "action", "action_summary", "valid", "feedback", "dsl", "state", "time")
    TURN_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTION_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    DSL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    turn: int
    action: _action_pb2.Action
    action_summary: str
    valid: bool
    feedback: str
    dsl: str
    state: EpisodeState
    time: _timestamp_pb2.Timestamp
    def __init__(self, turn: _Optional[int] = ..., action: _Optional[_Union[_action_pb2.Action, _Mapping]] = ..., action_summary: _Optional[str] = ..., valid: _Optional[bool] = ..., feedback: _Optional[str] = ..., dsl: _Optional[str] = ..., state: _Optional[_Union[EpisodeState, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Episode(_message.Message):
    __slots__ = ("id", "task", "config", "observation", "turns", "created", "updated", "closed")
    ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    id: str
    task: _task_pb2.Task
    config: EpisodeConfig
    observation: Observation
    turns: _containers.RepeatedCompositeFieldContainer[Turn]
    created: _timestamp_pb2.Timestamp
    updated: _timestamp_pb2.Timestamp
    closed: bool
    def __init__(self, id: _Optional[str] = ..., task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ..., config: _Optional[_Union[EpisodeConfig, _Mapping]] = ..., observation: _Optional[_Union[Observation, _Mapping]] = ..., turns: _Optional[_Iterable[_Union[Turn, _Mapping]]] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., closed: _Optional[bool] = ...) -> None: ...

class GetEpisodeRequest(_message.Message):
    __slots__ = ("episode_id", "include_turns", "turns_from")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TURNS_FIELD_NUMBER: _ClassVar[int]
    TURNS_FROM_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    include_turns: bool
    turns_from: int
    def __init__(self, episode_id: _Optional[str] = ..., include_turns: _Optional[bool] = ..., turns_from: _Optional[int] = ...) -> None: ...

class GetEpisodeResponse(_message.Message):
    __slots__ = ("episode", "next_turns_from")
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    NEXT_TURNS_FROM_FIELD_NUMBER: _ClassVar[int]
    episode: Episode
    next_turns_from: int
    def __init__(self, episode: _Optional[_Union[Episode, _Mapping]] = ..., next_turns_from: _Optional[int] = ...) -> None: ...

class CloseEpisodeRequest(_message.Message):
    __slots__ = ("episode_id",)
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    def __init__(self, episode_id: _Optional[str] = ...) -> None: ...

class CloseEpisodeResponse(_message.Message):
    __slots__ = ("episode",)
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    episode: Episode
    def __init__(self, episode: _Optional[_Union[Episode, _Mapping]] = ...) -> None: ...

class RunWorkflowRequest(_message.Message):
    __slots__ = ("dsl", "task", "prompts", "backend", "library", "score")
    class PromptsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DSL_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    LIBRARY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    dsl: str
    task: _task_pb2.Task
    prompts: _containers.ScalarMap[str, str]
    backend: str
    library: str
    score: bool
    def __init__(self, dsl: _Optional[str] = ..., task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ..., prompts: _Optional[_Mapping[str, str]] = ..., backend: _Optional[str] = ..., library: _Optional[str] = ..., score: _Optional[bool] = ...) -> None: ...

class RunWorkflowResponse(_message.Message):
    __slots__ = ("node", "result")
    NODE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    node: _workflow_pb2.NodeResult
    result: RunWorkflowResult
    def __init__(self, node: _Optional[_Union[_workflow_pb2.NodeResult, _Mapping]] = ..., result: _Optional[_Union[RunWorkflowResult, _Mapping]] = ...) -> None: ...

class RunWorkflowResult(_message.Message):
    __slots__ = ("workflow", "execution", "score")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    workflow: _workflow_pb2.Workflow
    execution: _workflow_pb2.Execution
    score: _reward_pb2.Score
    def __init__(self, workflow: _Optional[_Union[_workflow_pb2.Workflow, _Mapping]] = ..., execution: _Optional[_Union[_workflow_pb2.Execution, _Mapping]] = ..., score: _Optional[_Union[_reward_pb2.Score, _Mapping]] = ...) -> None: ...
