from llmesh.v1 import mesh_pb2 as _mesh_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NameRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RefRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class JsonResponse(_message.Message):
    __slots__ = ("result_json",)
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    result_json: str
    def __init__(self, result_json: _Optional[str] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("name", "digest")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    name: str
    digest: str
    def __init__(self, name: _Optional[str] = ..., digest: _Optional[str] = ...) -> None: ...

class CatalogRegisterRequest(_message.Message):
    __slots__ = ("host", "path", "name", "base_model", "roles", "tags", "notes", "display_name", "semver", "state", "capabilities", "parents", "relation", "datasets", "framework", "hardware", "duration_s", "cost_usd", "code_commit", "params_json", "metrics", "backends", "description", "training_json")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class CapabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    HOST_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SEMVER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    CODE_COMMIT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TRAINING_JSON_FIELD_NUMBER: _ClassVar[int]
    host: str
    path: str
    name: str
    base_model: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.ScalarMap[str, str]
    notes: str
    display_name: str
    semver: str
    state: str
    capabilities: _containers.ScalarMap[str, bool]
    parents: _containers.RepeatedScalarFieldContainer[str]
    relation: str
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    framework: str
    hardware: str
    duration_s: float
    cost_usd: float
    code_commit: str
    params_json: str
    metrics: _containers.ScalarMap[str, float]
    backends: _containers.RepeatedScalarFieldContainer[str]
    description: str
    training_json: str
    def __init__(self, host: _Optional[str] = ..., path: _Optional[str] = ..., name: _Optional[str] = ..., base_model: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., tags: _Optional[_Mapping[str, str]] = ..., notes: _Optional[str] = ..., display_name: _Optional[str] = ..., semver: _Optional[str] = ..., state: _Optional[str] = ..., capabilities: _Optional[_Mapping[str, bool]] = ..., parents: _Optional[_Iterable[str]] = ..., relation: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., framework: _Optional[str] = ..., hardware: _Optional[str] = ..., duration_s: _Optional[float] = ..., cost_usd: _Optional[float] = ..., code_commit: _Optional[str] = ..., params_json: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., backends: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., training_json: _Optional[str] = ...) -> None: ...

class EditRequest(_message.Message):
    __slots__ = ("ref", "semver", "add_roles", "remove_roles", "capabilities", "remove_capabilities", "tags", "remove_tags", "notes", "parents", "relation", "datasets", "framework", "hardware", "duration_s", "cost_usd", "code_commit", "add_backends", "remove_backends", "base_model", "description", "display_name", "params_json")
    class CapabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    SEMVER_FIELD_NUMBER: _ClassVar[int]
    ADD_ROLES_FIELD_NUMBER: _ClassVar[int]
    REMOVE_ROLES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    REMOVE_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_TAGS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    CODE_COMMIT_FIELD_NUMBER: _ClassVar[int]
    ADD_BACKENDS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_BACKENDS_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    ref: str
    semver: str
    add_roles: _containers.RepeatedScalarFieldContainer[str]
    remove_roles: _containers.RepeatedScalarFieldContainer[str]
    capabilities: _containers.ScalarMap[str, bool]
    remove_capabilities: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.ScalarMap[str, str]
    remove_tags: _containers.RepeatedScalarFieldContainer[str]
    notes: str
    parents: _containers.RepeatedScalarFieldContainer[str]
    relation: str
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    framework: str
    hardware: str
    duration_s: float
    cost_usd: float
    code_commit: str
    add_backends: _containers.RepeatedScalarFieldContainer[str]
    remove_backends: _containers.RepeatedScalarFieldContainer[str]
    base_model: str
    description: str
    display_name: str
    params_json: str
    def __init__(self, ref: _Optional[str] = ..., semver: _Optional[str] = ..., add_roles: _Optional[_Iterable[str]] = ..., remove_roles: _Optional[_Iterable[str]] = ..., capabilities: _Optional[_Mapping[str, bool]] = ..., remove_capabilities: _Optional[_Iterable[str]] = ..., tags: _Optional[_Mapping[str, str]] = ..., remove_tags: _Optional[_Iterable[str]] = ..., notes: _Optional[str] = ..., parents: _Optional[_Iterable[str]] = ..., relation: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., framework: _Optional[str] = ..., hardware: _Optional[str] = ..., duration_s: _Optional[float] = ..., cost_usd: _Optional[float] = ..., code_commit: _Optional[str] = ..., add_backends: _Optional[_Iterable[str]] = ..., remove_backends: _Optional[_Iterable[str]] = ..., base_model: _Optional[str] = ..., description: _Optional[str] = ..., display_name: _Optional[str] = ..., params_json: _Optional[str] = ...) -> None: ...

class SetStateRequest(_message.Message):
    __slots__ = ("ref", "state", "reason")
    REF_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ref: str
    state: str
    reason: str
    def __init__(self, ref: _Optional[str] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AliasRequest(_message.Message):
    __slots__ = ("ref", "alias", "reason", "protect")
    REF_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROTECT_FIELD_NUMBER: _ClassVar[int]
    ref: str
    alias: str
    reason: str
    protect: bool
    def __init__(self, ref: _Optional[str] = ..., alias: _Optional[str] = ..., reason: _Optional[str] = ..., protect: _Optional[bool] = ...) -> None: ...

class AliasChange(_message.Message):
    __slots__ = ("name", "alias", "from_version", "to_version", "actor", "reason", "at", "action", "protected")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    alias: str
    from_version: int
    to_version: int
    actor: str
    reason: str
    at: float
    action: str
    protected: bool
    def __init__(self, name: _Optional[str] = ..., alias: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., at: _Optional[float] = ..., action: _Optional[str] = ..., protected: _Optional[bool] = ...) -> None: ...

class AliasHistoryRequest(_message.Message):
    __slots__ = ("name", "alias")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    name: str
    alias: str
    def __init__(self, name: _Optional[str] = ..., alias: _Optional[str] = ...) -> None: ...

class AliasHistoryResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[AliasChange]
    def __init__(self, changes: _Optional[_Iterable[_Union[AliasChange, _Mapping]]] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("name", "alias", "reason", "deprecate")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DEPRECATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    alias: str
    reason: str
    deprecate: bool
    def __init__(self, name: _Optional[str] = ..., alias: _Optional[str] = ..., reason: _Optional[str] = ..., deprecate: _Optional[bool] = ...) -> None: ...

class AdaptersRequest(_message.Message):
    __slots__ = ("base",)
    BASE_FIELD_NUMBER: _ClassVar[int]
    base: str
    def __init__(self, base: _Optional[str] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("ref", "metrics", "remove")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    metrics: _containers.ScalarMap[str, float]
    remove: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ref: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., remove: _Optional[_Iterable[str]] = ...) -> None: ...

class CompareRequest(_message.Message):
    __slots__ = ("name", "a", "b")
    NAME_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    name: str
    a: str
    b: str
    def __init__(self, name: _Optional[str] = ..., a: _Optional[str] = ..., b: _Optional[str] = ...) -> None: ...

class ResolveRequest(_message.Message):
    __slots__ = ("role", "capabilities", "prefer")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    PREFER_FIELD_NUMBER: _ClassVar[int]
    role: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    prefer: str
    def __init__(self, role: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., prefer: _Optional[str] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("version", "reason")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    version: _mesh_pb2.ModelVersion
    reason: str
    def __init__(self, version: _Optional[_Union[_mesh_pb2.ModelVersion, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "sort", "limit")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    query: str
    sort: str
    limit: int
    def __init__(self, query: _Optional[str] = ..., sort: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("ref", "lock", "unlock")
    REF_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    UNLOCK_FIELD_NUMBER: _ClassVar[int]
    ref: str
    lock: bool
    unlock: bool
    def __init__(self, ref: _Optional[str] = ..., lock: _Optional[bool] = ..., unlock: _Optional[bool] = ...) -> None: ...

class EventsRequest(_message.Message):
    __slots__ = ("after_id", "limit", "follow", "resource")
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    after_id: int
    limit: int
    follow: bool
    resource: str
    def __init__(self, after_id: _Optional[int] = ..., limit: _Optional[int] = ..., follow: _Optional[bool] = ..., resource: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("id", "ts", "actor", "action", "resource", "detail_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    ts: float
    actor: str
    action: str
    resource: str
    detail_json: str
    def __init__(self, id: _Optional[int] = ..., ts: _Optional[float] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class ImportRequest(_message.Message):
    __slots__ = ("file_name", "content", "format", "dry_run")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    content: bytes
    format: str
    dry_run: bool
    def __init__(self, file_name: _Optional[str] = ..., content: _Optional[bytes] = ..., format: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
