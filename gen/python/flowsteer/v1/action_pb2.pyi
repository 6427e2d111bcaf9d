from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_KIND_UNSPECIFIED: _ClassVar[ActionKind]
    ACTION_KIND_ADD: _ClassVar[ActionKind]
    ACTION_KIND_DELETE: _ClassVar[ActionKind]
    ACTION_KIND_MODIFY: _ClassVar[ActionKind]
    ACTION_KIND_SET_PROMPT: _ClassVar[ActionKind]
    ACTION_KIND_FINISH: _ClassVar[ActionKind]

class StructureKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STRUCTURE_KIND_UNSPECIFIED: _ClassVar[StructureKind]
    STRUCTURE_KIND_PARALLEL: _ClassVar[StructureKind]
    STRUCTURE_KIND_CONDITIONAL: _ClassVar[StructureKind]
    STRUCTURE_KIND_LOOP: _ClassVar[StructureKind]
ACTION_KIND_UNSPECIFIED: ActionKind
ACTION_KIND_ADD: ActionKind
ACTION_KIND_DELETE: ActionKind
ACTION_KIND_MODIFY: ActionKind
ACTION_KIND_SET_PROMPT: ActionKind
ACTION_KIND_FINISH: ActionKind
STRUCTURE_KIND_UNSPECIFIED: StructureKind
STRUCTURE_KIND_PARALLEL: StructureKind
STRUCTURE_KIND_CONDITIONAL: StructureKind
STRUCTURE_KIND_LOOP: StructureKind

class StructuredAction(_message.Message):
    __slots__ = ("kind", "operator", "structure", "operators", "condition", "if_true", "if_false", "count", "position", "target", "prompt", "answer", "reasoning")
    KIND_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    STRUCTURE_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    IF_TRUE_FIELD_NUMBER: _ClassVar[int]
    IF_FALSE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    kind: ActionKind
    operator: str
    structure: StructureKind
    operators: _containers.RepeatedScalarFieldContainer[str]
    condition: str
    if_true: str
    if_false: str
    count: int
    position: int
    target: str
    prompt: str
    answer: str
    reasoning: str
    def __init__(self, kind: _Optional[_Union[ActionKind, str]] = ..., operator: _Optional[str] = ..., structure: _Optional[_Union[StructureKind, str]] = ..., operators: _Optional[_Iterable[str]] = ..., condition: _Optional[str] = ..., if_true: _Optional[str] = ..., if_false: _Optional[str] = ..., count: _Optional[int] = ..., position: _Optional[int] = ..., target: _Optional[str] = ..., prompt: _Optional[str] = ..., answer: _Optional[str] = ..., reasoning: _Optional[str] = ...) -> None: ...

class Action(_message.Message):
    __slots__ = ("text", "structured")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    STRUCTURED_FIELD_NUMBER: _ClassVar[int]
    text: str
    structured: StructuredAction
    def __init__(self, text: _Optional[str] = ..., structured: _Optional[_Union[StructuredAction, _Mapping]] = ...) -> None: ...
