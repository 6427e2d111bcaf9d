from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskFamily(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_FAMILY_UNSPECIFIED: _ClassVar[TaskFamily]
    TASK_FAMILY_MATH: _ClassVar[TaskFamily]
    TASK_FAMILY_QA: _ClassVar[TaskFamily]
    TASK_FAMILY_CODE: _ClassVar[TaskFamily]
    TASK_FAMILY_MULTIPLE_CHOICE: _ClassVar[TaskFamily]
TASK_FAMILY_UNSPECIFIED: TaskFamily
TASK_FAMILY_MATH: TaskFamily
TASK_FAMILY_QA: TaskFamily
TASK_FAMILY_CODE: TaskFamily
TASK_FAMILY_MULTIPLE_CHOICE: TaskFamily

class IOCase(_message.Message):
    __slots__ = ("input", "output")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    input: str
    output: str
    def __init__(self, input: _Optional[str] = ..., output: _Optional[str] = ...) -> None: ...

class CodeTests(_message.Message):
    __slots__ = ("style", "code", "cases")
    STYLE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CASES_FIELD_NUMBER: _ClassVar[int]
    style: str
    code: str
    cases: _containers.RepeatedCompositeFieldContainer[IOCase]
    def __init__(self, style: _Optional[str] = ..., code: _Optional[str] = ..., cases: _Optional[_Iterable[_Union[IOCase, _Mapping]]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("id", "family", "source", "question", "context", "choices", "answers", "unanswerable", "entry_point", "prompt", "public_tests", "hidden_tests", "reference", "difficulty", "distractors")
    ID_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    UNANSWERABLE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_POINT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_TESTS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_TESTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    DIFFICULTY_FIELD_NUMBER: _ClassVar[int]
    DISTRACTORS_FIELD_NUMBER: _ClassVar[int]
    id: str
    family: TaskFamily
    source: str
    question: str
    context: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    answers: _containers.RepeatedScalarFieldContainer[str]
    unanswerable: bool
    entry_point: str
    prompt: str
    public_tests: CodeTests
    hidden_tests: CodeTests
    reference: str
    difficulty: float
    distractors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., family: _Optional[_Union[TaskFamily, str]] = ..., source: _Optional[str] = ..., question: _Optional[str] = ..., context: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ..., answers: _Optional[_Iterable[str]] = ..., unanswerable: _Optional[bool] = ..., entry_point: _Optional[str] = ..., prompt: _Optional[str] = ..., public_tests: _Optional[_Union[CodeTests, _Mapping]] = ..., hidden_tests: _Optional[_Union[CodeTests, _Mapping]] = ..., reference: _Optional[str] = ..., difficulty: _Optional[float] = ..., distractors: _Optional[_Iterable[str]] = ...) -> None: ...
