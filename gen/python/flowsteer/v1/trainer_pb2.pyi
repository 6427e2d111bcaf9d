import datetime

from flowsteer.v1 import reward_pb2 as _reward_pb2
from flowsteer.v1 import task_pb2 as _task_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_PENDING: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_SUCCEEDED: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]
    RUN_STATUS_CANCELLED: _ClassVar[RunStatus]
    RUN_STATUS_BUDGET_REACHED: _ClassVar[RunStatus]
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_PENDING: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_SUCCEEDED: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_STATUS_CANCELLED: RunStatus
RUN_STATUS_BUDGET_REACHED: RunStatus

class CostSummary(_message.Message):
    __slots__ = ("episodes", "executor_calls", "cache_hits", "executor_input_tokens", "executor_cached_input_tokens", "executor_output_tokens", "executor_money", "saved_tokens", "saved_money", "policy_prompt_tokens", "policy_completion_tokens", "policy_money", "policy_seconds", "executor_seconds", "sandbox_seconds", "wall_seconds", "unpriced", "simulated", "final_workflow_tokens", "final_workflow_money")
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_CALLS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_CACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_MONEY_FIELD_NUMBER: _ClassVar[int]
    SAVED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SAVED_MONEY_FIELD_NUMBER: _ClassVar[int]
    POLICY_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    POLICY_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    POLICY_MONEY_FIELD_NUMBER: _ClassVar[int]
    POLICY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    FINAL_WORKFLOW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FINAL_WORKFLOW_MONEY_FIELD_NUMBER: _ClassVar[int]
    episodes: int
    executor_calls: int
    cache_hits: int
    executor_input_tokens: int
    executor_cached_input_tokens: int
    executor_output_tokens: int
    executor_money: float
    saved_tokens: int
    saved_money: float
    policy_prompt_tokens: int
    policy_completion_tokens: int
    policy_money: float
    policy_seconds: float
    executor_seconds: float
    sandbox_seconds: float
    wall_seconds: float
    unpriced: _containers.RepeatedScalarFieldContainer[str]
    simulated: bool
    final_workflow_tokens: int
    final_workflow_money: float
    def __init__(self, episodes: _Optional[int] = ..., executor_calls: _Optional[int] = ..., cache_hits: _Optional[int] = ..., executor_input_tokens: _Optional[int] = ..., executor_cached_input_tokens: _Optional[int] = ..., executor_output_tokens: _Optional[int] = ..., executor_money: _Optional[float] = ..., saved_tokens: _Optional[int] = ..., saved_money: _Optional[float] = ..., policy_prompt_tokens: _Optional[int] = ..., policy_completion_tokens: _Optional[int] = ..., policy_money: _Optional[float] = ..., policy_seconds: _Optional[float] = ..., executor_seconds: _Optional[float] = ..., sandbox_seconds: _Optional[float] = ..., wall_seconds: _Optional[float] = ..., unpriced: _Optional[_Iterable[str]] = ..., simulated: _Optional[bool] = ..., final_workflow_tokens: _Optional[int] = ..., final_workflow_money: _Optional[float] = ...) -> None: ...

class StepMetrics(_message.Message):
    __slots__ = ("step", "mean_reward", "structure_release_rate", "correctness", "accuracy_by_family", "mean_turns", "invalid_action_rate", "operator_usage", "kl", "entropy", "clip_fraction", "loss", "episodes", "failed_episodes", "zero_variance_groups", "executor_calls", "cache_hit_rate", "phase_seconds", "mean_structure", "finished_rate", "cost", "group_cost")
    class AccuracyByFamilyEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class OperatorUsageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class PhaseSecondsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class GroupCostEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: CostSummary
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[CostSummary, _Mapping]] = ...) -> None: ...
    STEP_FIELD_NUMBER: _ClassVar[int]
    MEAN_REWARD_FIELD_NUMBER: _ClassVar[int]
    STRUCTURE_RELEASE_RATE_FIELD_NUMBER: _ClassVar[int]
    CORRECTNESS_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_BY_FAMILY_FIELD_NUMBER: _ClassVar[int]
    MEAN_TURNS_FIELD_NUMBER: _ClassVar[int]
    INVALID_ACTION_RATE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_USAGE_FIELD_NUMBER: _ClassVar[int]
    KL_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRACTION_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    FAILED_EPISODES_FIELD_NUMBER: _ClassVar[int]
    ZERO_VARIANCE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_CALLS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    PHASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEAN_STRUCTURE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_RATE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    GROUP_COST_FIELD_NUMBER: _ClassVar[int]
    step: int
    mean_reward: float
    structure_release_rate: float
    correctness: float
    accuracy_by_family: _containers.ScalarMap[str, float]
    mean_turns: float
    invalid_action_rate: float
    operator_usage: _containers.ScalarMap[str, int]
    kl: float
    entropy: float
    clip_fraction: float
    loss: float
    episodes: int
    failed_episodes: int
    zero_variance_groups: int
    executor_calls: int
    cache_hit_rate: float
    phase_seconds: _containers.ScalarMap[str, float]
    mean_structure: float
    finished_rate: float
    cost: CostSummary
    group_cost: _containers.MessageMap[str, CostSummary]
    def __init__(self, step: _Optional[int] = ..., mean_reward: _Optional[float] = ..., structure_release_rate: _Optional[float] = ..., correctness: _Optional[float] = ..., accuracy_by_family: _Optional[_Mapping[str, float]] = ..., mean_turns: _Optional[float] = ..., invalid_action_rate: _Optional[float] = ..., operator_usage: _Optional[_Mapping[str, int]] = ..., kl: _Optional[float] = ..., entropy: _Optional[float] = ..., clip_fraction: _Optional[float] = ..., loss: _Optional[float] = ..., episodes: _Optional[int] = ..., failed_episodes: _Optional[int] = ..., zero_variance_groups: _Optional[int] = ..., executor_calls: _Optional[int] = ..., cache_hit_rate: _Optional[float] = ..., phase_seconds: _Optional[_Mapping[str, float]] = ..., mean_structure: _Optional[float] = ..., finished_rate: _Optional[float] = ..., cost: _Optional[_Union[CostSummary, _Mapping]] = ..., group_cost: _Optional[_Mapping[str, CostSummary]] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("id", "status", "config_yaml", "step", "total_steps", "created", "updated", "error", "last_metrics", "simulated", "dir", "cost", "stop_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_YAML_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_METRICS_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    DIR_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: RunStatus
    config_yaml: str
    step: int
    total_steps: int
    created: _timestamp_pb2.Timestamp
    updated: _timestamp_pb2.Timestamp
    error: str
    last_metrics: StepMetrics
    simulated: bool
    dir: str
    cost: CostSummary
    stop_reason: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[RunStatus, str]] = ..., config_yaml: _Optional[str] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., last_metrics: _Optional[_Union[StepMetrics, _Mapping]] = ..., simulated: _Optional[bool] = ..., dir: _Optional[str] = ..., cost: _Optional[_Union[CostSummary, _Mapping]] = ..., stop_reason: _Optional[str] = ...) -> None: ...

class EpisodeSummary(_message.Message):
    __slots__ = ("episode_id", "task_id", "family", "group_id", "dsl", "turns", "reward", "advantage", "failed", "error", "invalid_actions", "finished", "cost")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    DSL_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    ADVANTAGE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INVALID_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    task_id: str
    family: _task_pb2.TaskFamily
    group_id: str
    dsl: str
    turns: int
    reward: _reward_pb2.RewardBreakdown
    advantage: float
    failed: bool
    error: str
    invalid_actions: int
    finished: bool
    cost: CostSummary
    def __init__(self, episode_id: _Optional[str] = ..., task_id: _Optional[str] = ..., family: _Optional[_Union[_task_pb2.TaskFamily, str]] = ..., group_id: _Optional[str] = ..., dsl: _Optional[str] = ..., turns: _Optional[int] = ..., reward: _Optional[_Union[_reward_pb2.RewardBreakdown, _Mapping]] = ..., advantage: _Optional[float] = ..., failed: _Optional[bool] = ..., error: _Optional[str] = ..., invalid_actions: _Optional[int] = ..., finished: _Optional[bool] = ..., cost: _Optional[_Union[CostSummary, _Mapping]] = ...) -> None: ...

class FamilyMetric(_message.Message):
    __slots__ = ("family", "metric", "value", "ci_low", "ci_high", "count")
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    family: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    count: int
    def __init__(self, family: _Optional[str] = ..., metric: _Optional[str] = ..., value: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class PolicyEval(_message.Message):
    __slots__ = ("policy", "mean_reward", "reward_ci_low", "reward_ci_high", "metrics", "structure_release_rate", "mean_turns", "invalid_action_rate", "finished_rate", "episodes", "cost")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MEAN_REWARD_FIELD_NUMBER: _ClassVar[int]
    REWARD_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    REWARD_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    STRUCTURE_RELEASE_RATE_FIELD_NUMBER: _ClassVar[int]
    MEAN_TURNS_FIELD_NUMBER: _ClassVar[int]
    INVALID_ACTION_RATE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_RATE_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    policy: str
    mean_reward: float
    reward_ci_low: float
    reward_ci_high: float
    metrics: _containers.RepeatedCompositeFieldContainer[FamilyMetric]
    structure_release_rate: float
    mean_turns: float
    invalid_action_rate: float
    finished_rate: float
    episodes: int
    cost: CostSummary
    def __init__(self, policy: _Optional[str] = ..., mean_reward: _Optional[float] = ..., reward_ci_low: _Optional[float] = ..., reward_ci_high: _Optional[float] = ..., metrics: _Optional[_Iterable[_Union[FamilyMetric, _Mapping]]] = ..., structure_release_rate: _Optional[float] = ..., mean_turns: _Optional[float] = ..., invalid_action_rate: _Optional[float] = ..., finished_rate: _Optional[float] = ..., episodes: _Optional[int] = ..., cost: _Optional[_Union[CostSummary, _Mapping]] = ...) -> None: ...

class EvalReport(_message.Message):
    __slots__ = ("step", "policies", "simulated", "cost")
    STEP_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    step: int
    policies: _containers.RepeatedCompositeFieldContainer[PolicyEval]
    simulated: bool
    cost: CostSummary
    def __init__(self, step: _Optional[int] = ..., policies: _Optional[_Iterable[_Union[PolicyEval, _Mapping]]] = ..., simulated: _Optional[bool] = ..., cost: _Optional[_Union[CostSummary, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("done", "total", "phase")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    phase: str
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ..., phase: _Optional[str] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("time", "run_id", "status", "step", "episode", "eval", "progress", "log")
    TIME_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    EVAL_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    run_id: str
    status: Run
    step: StepMetrics
    episode: EpisodeSummary
    eval: EvalReport
    progress: Progress
    log: str
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., run_id: _Optional[str] = ..., status: _Optional[_Union[Run, _Mapping]] = ..., step: _Optional[_Union[StepMetrics, _Mapping]] = ..., episode: _Optional[_Union[EpisodeSummary, _Mapping]] = ..., eval: _Optional[_Union[EvalReport, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., log: _Optional[str] = ...) -> None: ...

class StartRunRequest(_message.Message):
    __slots__ = ("config_yaml", "run_dir", "resume")
    CONFIG_YAML_FIELD_NUMBER: _ClassVar[int]
    RUN_DIR_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    config_yaml: str
    run_dir: str
    resume: bool
    def __init__(self, config_yaml: _Optional[str] = ..., run_dir: _Optional[str] = ..., resume: _Optional[bool] = ...) -> None: ...

class StartRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ("run_id", "from_start", "episodes")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_START_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    from_start: bool
    episodes: bool
    def __init__(self, run_id: _Optional[str] = ..., from_start: _Optional[bool] = ..., episodes: _Optional[bool] = ...) -> None: ...

class WatchRunResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: RunEvent
    def __init__(self, event: _Optional[_Union[RunEvent, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run", "steps")
    RUN_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    run: Run
    steps: _containers.RepeatedCompositeFieldContainer[StepMetrics]
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[StepMetrics, _Mapping]]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class CancelRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class PolicySpec(_message.Message):
    __slots__ = ("kind", "address", "checkpoint", "dsl", "options")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    DSL_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    address: str
    checkpoint: str
    dsl: str
    options: _containers.ScalarMap[str, str]
    def __init__(self, kind: _Optional[str] = ..., address: _Optional[str] = ..., checkpoint: _Optional[str] = ..., dsl: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("policy", "tasks", "tasks_file", "baselines", "concurrency", "backend", "sample", "seed", "backend_options")
    class BackendOptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    POLICY_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FILE_FIELD_NUMBER: _ClassVar[int]
    BASELINES_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    BACKEND_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    policy: PolicySpec
    tasks: _containers.RepeatedCompositeFieldContainer[_task_pb2.Task]
    tasks_file: str
    baselines: _containers.RepeatedScalarFieldContainer[str]
    concurrency: int
    backend: str
    sample: bool
    seed: int
    backend_options: _containers.ScalarMap[str, str]
    def __init__(self, policy: _Optional[_Union[PolicySpec, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[_task_pb2.Task, _Mapping]]] = ..., tasks_file: _Optional[str] = ..., baselines: _Optional[_Iterable[str]] = ..., concurrency: _Optional[int] = ..., backend: _Optional[str] = ..., sample: _Optional[bool] = ..., seed: _Optional[int] = ..., backend_options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("progress", "episode", "report")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    episode: EpisodeSummary
    report: EvalReport
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., episode: _Optional[_Union[EpisodeSummary, _Mapping]] = ..., report: _Optional[_Union[EvalReport, _Mapping]] = ...) -> None: ...
