from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Hook(_message.Message):
    __slots__ = ("id", "url", "events", "created_at", "created_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    url: str
    events: _containers.RepeatedScalarFieldContainer[str]
    created_at: float
    created_by: str
    def __init__(self, id: _Optional[str] = ..., url: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., created_at: _Optional[float] = ..., created_by: _Optional[str] = ...) -> None: ...

class AddHookRequest(_message.Message):
    __slots__ = ("url", "events", "secret")
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    url: str
    events: _containers.RepeatedScalarFieldContainer[str]
    secret: str
    def __init__(self, url: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., secret: _Optional[str] = ...) -> None: ...

class AddHookResponse(_message.Message):
    __slots__ = ("hook", "secret")
    HOOK_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    hook: Hook
    secret: str
    def __init__(self, hook: _Optional[_Union[Hook, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListHooksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListHooksResponse(_message.Message):
    __slots__ = ("hooks",)
    HOOKS_FIELD_NUMBER: _ClassVar[int]
    hooks: _containers.RepeatedCompositeFieldContainer[Hook]
    def __init__(self, hooks: _Optional[_Iterable[_Union[Hook, _Mapping]]] = ...) -> None: ...

class RemoveHookRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RemoveHookResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HookAttempt(_message.Message):
    __slots__ = ("delivery_id", "hook_id", "url", "event", "attempt", "ts", "http_status", "error", "outcome")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    HOOK_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    hook_id: str
    url: str
    event: str
    attempt: int
    ts: float
    http_status: int
    error: str
    outcome: str
    def __init__(self, delivery_id: _Optional[str] = ..., hook_id: _Optional[str] = ..., url: _Optional[str] = ..., event: _Optional[str] = ..., attempt: _Optional[int] = ..., ts: _Optional[float] = ..., http_status: _Optional[int] = ..., error: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...

class HookLogRequest(_message.Message):
    __slots__ = ("hook_id", "limit")
    HOOK_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    hook_id: str
    limit: int
    def __init__(self, hook_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class HookLogResponse(_message.Message):
    __slots__ = ("attempts",)
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    attempts: _containers.RepeatedCompositeFieldContainer[HookAttempt]
    def __init__(self, attempts: _Optional[_Iterable[_Union[HookAttempt, _Mapping]]] = ...) -> None: ...
