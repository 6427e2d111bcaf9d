from flowsteer.v1 import canvas_pb2 as _canvas_pb2
from flowsteer.v1 import task_pb2 as _task_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeOperatorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeOperatorsResponse(_message.Message):
    __slots__ = ("operators",)
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    operators: _containers.RepeatedCompositeFieldContainer[_canvas_pb2.OperatorInfo]
    def __init__(self, operators: _Optional[_Iterable[_Union[_canvas_pb2.OperatorInfo, _Mapping]]] = ...) -> None: ...

class StringList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class FieldValue(_message.Message):
    __slots__ = ("text", "list", "flag", "number")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    text: str
    list: StringList
    flag: bool
    number: float
    def __init__(self, text: _Optional[str] = ..., list: _Optional[_Union[StringList, _Mapping]] = ..., flag: _Optional[bool] = ..., number: _Optional[float] = ...) -> None: ...

class InvokeRequest(_message.Message):
    __slots__ = ("operator", "node_id", "task", "inputs", "prompt")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FieldValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FieldValue, _Mapping]] = ...) -> None: ...
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    operator: str
    node_id: str
    task: _task_pb2.Task
    inputs: _containers.MessageMap[str, FieldValue]
    prompt: str
    def __init__(self, operator: _Optional[str] = ..., node_id: _Optional[str] = ..., task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ..., inputs: _Optional[_Mapping[str, FieldValue]] = ..., prompt: _Optional[str] = ...) -> None: ...

class InvokeResponse(_message.Message):
    __slots__ = ("outputs", "input_tokens", "output_tokens")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FieldValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FieldValue, _Mapping]] = ...) -> None: ...
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.MessageMap[str, FieldValue]
    input_tokens: int
    output_tokens: int
    def __init__(self, outputs: _Optional[_Mapping[str, FieldValue]] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...
