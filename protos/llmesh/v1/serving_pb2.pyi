from llmesh.v1 import transfer_pb2 as _transfer_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConvertRequest(_message.Message):
    __slots__ = ("ref", "format", "quant", "on")
    REF_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUANT_FIELD_NUMBER: _ClassVar[int]
    ON_FIELD_NUMBER: _ClassVar[int]
    ref: str
    format: str
    quant: str
    on: str
    def __init__(self, ref: _Optional[str] = ..., format: _Optional[str] = ..., quant: _Optional[str] = ..., on: _Optional[str] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("id", "ref", "host", "backend", "served_name", "endpoint", "port", "state", "adapter", "created_at", "stopped_at", "error", "restarts", "source", "alias", "how", "pid")
    ID_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    HOW_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    id: str
    ref: str
    host: str
    backend: str
    served_name: str
    endpoint: str
    port: int
    state: str
    adapter: str
    created_at: float
    stopped_at: float
    error: str
    restarts: int
    source: str
    alias: str
    how: str
    pid: int
    def __init__(self, id: _Optional[str] = ..., ref: _Optional[str] = ..., host: _Optional[str] = ..., backend: _Optional[str] = ..., served_name: _Optional[str] = ..., endpoint: _Optional[str] = ..., port: _Optional[int] = ..., state: _Optional[str] = ..., adapter: _Optional[str] = ..., created_at: _Optional[float] = ..., stopped_at: _Optional[float] = ..., error: _Optional[str] = ..., restarts: _Optional[int] = ..., source: _Optional[str] = ..., alias: _Optional[str] = ..., how: _Optional[str] = ..., pid: _Optional[int] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ("ref", "backend", "on", "served_name", "port", "adapter", "quant")
    REF_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    ON_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    QUANT_FIELD_NUMBER: _ClassVar[int]
    ref: str
    backend: str
    on: str
    served_name: str
    port: int
    adapter: str
    quant: str
    def __init__(self, ref: _Optional[str] = ..., backend: _Optional[str] = ..., on: _Optional[str] = ..., served_name: _Optional[str] = ..., port: _Optional[int] = ..., adapter: _Optional[str] = ..., quant: _Optional[str] = ...) -> None: ...

class UndeployRequest(_message.Message):
    __slots__ = ("ref", "on")
    REF_FIELD_NUMBER: _ClassVar[int]
    ON_FIELD_NUMBER: _ClassVar[int]
    ref: str
    on: str
    def __init__(self, ref: _Optional[str] = ..., on: _Optional[str] = ...) -> None: ...

class ListDeploymentsRequest(_message.Message):
    __slots__ = ("all",)
    ALL_FIELD_NUMBER: _ClassVar[int]
    all: bool
    def __init__(self, all: _Optional[bool] = ...) -> None: ...

class ListDeploymentsResponse(_message.Message):
    __slots__ = ("deployments",)
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    def __init__(self, deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ...) -> None: ...

class SwapAdapterRequest(_message.Message):
    __slots__ = ("deployment", "adapter", "on")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    ON_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    adapter: str
    on: str
    def __init__(self, deployment: _Optional[str] = ..., adapter: _Optional[str] = ..., on: _Optional[str] = ...) -> None: ...

class RollbackDeploymentRequest(_message.Message):
    __slots__ = ("name", "on")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ON_FIELD_NUMBER: _ClassVar[int]
    name: str
    on: str
    def __init__(self, name: _Optional[str] = ..., on: _Optional[str] = ...) -> None: ...

class TestModelRequest(_message.Message):
    __slots__ = ("ref", "on", "prompt", "max_tokens", "ignore_eos")
    REF_FIELD_NUMBER: _ClassVar[int]
    ON_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    IGNORE_EOS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    on: str
    prompt: str
    max_tokens: int
    ignore_eos: bool
    def __init__(self, ref: _Optional[str] = ..., on: _Optional[str] = ..., prompt: _Optional[str] = ..., max_tokens: _Optional[int] = ..., ignore_eos: _Optional[bool] = ...) -> None: ...

class TestResult(_message.Message):
    __slots__ = ("ref", "host", "endpoint", "prompt", "text", "ttft_s", "tokens_per_s", "tokens", "passed")
    REF_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TTFT_S_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    ref: str
    host: str
    endpoint: str
    prompt: str
    text: str
    ttft_s: float
    tokens_per_s: float
    tokens: int
    passed: bool
    def __init__(self, ref: _Optional[str] = ..., host: _Optional[str] = ..., endpoint: _Optional[str] = ..., prompt: _Optional[str] = ..., text: _Optional[str] = ..., ttft_s: _Optional[float] = ..., tokens_per_s: _Optional[float] = ..., tokens: _Optional[int] = ..., passed: _Optional[bool] = ...) -> None: ...

class RequestModelRequest(_message.Message):
    __slots__ = ("ref", "role", "backend", "port")
    REF_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ref: str
    role: str
    backend: str
    port: int
    def __init__(self, ref: _Optional[str] = ..., role: _Optional[str] = ..., backend: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...
