from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Job(_message.Message):
    __slots__ = ("id", "kind", "state", "ref", "destination", "sources", "bytes_total", "bytes_done", "bytes_reused", "bytes_received", "error", "copy_path", "created_at", "updated_at", "started_at", "finished_at", "created_by", "rate_limit", "source_rates", "swarm")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_REUSED_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    COPY_PATH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RATES_FIELD_NUMBER: _ClassVar[int]
    SWARM_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    state: str
    ref: str
    destination: str
    sources: _containers.RepeatedScalarFieldContainer[str]
    bytes_total: int
    bytes_done: int
    bytes_reused: int
    bytes_received: int
    error: str
    copy_path: str
    created_at: float
    updated_at: float
    started_at: float
    finished_at: float
    created_by: str
    rate_limit: int
    source_rates: _containers.RepeatedCompositeFieldContainer[SourceRate]
    swarm: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., state: _Optional[str] = ..., ref: _Optional[str] = ..., destination: _Optional[str] = ..., sources: _Optional[_Iterable[str]] = ..., bytes_total: _Optional[int] = ..., bytes_done: _Optional[int] = ..., bytes_reused: _Optional[int] = ..., bytes_received: _Optional[int] = ..., error: _Optional[str] = ..., copy_path: _Optional[str] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., created_by: _Optional[str] = ..., rate_limit: _Optional[int] = ..., source_rates: _Optional[_Iterable[_Union[SourceRate, _Mapping]]] = ..., swarm: _Optional[str] = ...) -> None: ...

class SourceRate(_message.Message):
    __slots__ = ("host", "bytes_verified", "bytes_per_s")
    HOST_FIELD_NUMBER: _ClassVar[int]
    BYTES_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_S_FIELD_NUMBER: _ClassVar[int]
    host: str
    bytes_verified: int
    bytes_per_s: float
    def __init__(self, host: _Optional[str] = ..., bytes_verified: _Optional[int] = ..., bytes_per_s: _Optional[float] = ...) -> None: ...

class PullRequest(_message.Message):
    __slots__ = ("ref", "to", "dest_dir", "insecure", "registry", "ollama_layout", "include", "rate_limit")
    REF_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    DEST_DIR_FIELD_NUMBER: _ClassVar[int]
    INSECURE_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    OLLAMA_LAYOUT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    ref: str
    to: str
    dest_dir: str
    insecure: bool
    registry: str
    ollama_layout: bool
    include: _containers.RepeatedScalarFieldContainer[str]
    rate_limit: int
    def __init__(self, ref: _Optional[str] = ..., to: _Optional[str] = ..., dest_dir: _Optional[str] = ..., insecure: _Optional[bool] = ..., registry: _Optional[str] = ..., ollama_layout: _Optional[bool] = ..., include: _Optional[_Iterable[str]] = ..., rate_limit: _Optional[int] = ..., **kwargs) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("all",)
    ALL_FIELD_NUMBER: _ClassVar[int]
    all: bool
    def __init__(self, all: _Optional[bool] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchJobsRequest(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveCopyRequest(_message.Message):
    __slots__ = ("ref", "host", "force")
    REF_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    host: str
    force: bool
    def __init__(self, ref: _Optional[str] = ..., host: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RemoveCopyResponse(_message.Message):
    __slots__ = ("paths", "message")
    PATHS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    paths: _containers.RepeatedScalarFieldContainer[str]
    message: str
    def __init__(self, paths: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ...) -> None: ...

class PushRequest(_message.Message):
    __slots__ = ("ref", "to", "insecure")
    REF_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    INSECURE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    to: str
    insecure: bool
    def __init__(self, ref: _Optional[str] = ..., to: _Optional[str] = ..., insecure: _Optional[bool] = ..., **kwargs) -> None: ...

class PushResponse(_message.Message):
    __slots__ = ("version", "to", "host", "manifest_digest", "blobs_sent", "blobs_skipped", "bytes_sent")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_DIGEST_FIELD_NUMBER: _ClassVar[int]
    BLOBS_SENT_FIELD_NUMBER: _ClassVar[int]
    BLOBS_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    version: str
    to: str
    host: str
    manifest_digest: str
    blobs_sent: int
    blobs_skipped: int
    bytes_sent: int
    def __init__(self, version: _Optional[str] = ..., to: _Optional[str] = ..., host: _Optional[str] = ..., manifest_digest: _Optional[str] = ..., blobs_sent: _Optional[int] = ..., blobs_skipped: _Optional[int] = ..., bytes_sent: _Optional[int] = ...) -> None: ...

class HubLoginRequest(_message.Message):
    __slots__ = ("host", "hub", "username", "secret")
    HOST_FIELD_NUMBER: _ClassVar[int]
    HUB_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    host: str
    hub: str
    username: str
    secret: str
    def __init__(self, host: _Optional[str] = ..., hub: _Optional[str] = ..., username: _Optional[str] = ..., secret: _Optional[str] = ...) -> None: ...

class HubLoginResponse(_message.Message):
    __slots__ = ("host", "hub", "path")
    HOST_FIELD_NUMBER: _ClassVar[int]
    HUB_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    host: str
    hub: str
    path: str
    def __init__(self, host: _Optional[str] = ..., hub: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...
