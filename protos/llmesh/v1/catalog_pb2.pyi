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

class PromoteRequest(_message.Message):
    __slots__ = ("ref", "to", "from_alias", "gates", "reason")
    REF_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    FROM_ALIAS_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ref: str
    to: str
    from_alias: str
    gates: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, ref: _Optional[str] = ..., to: _Optional[str] = ..., from_alias: _Optional[str] = ..., gates: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class GateRequest(_message.Message):
    __slots__ = ("environment", "expression")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    environment: str
    expression: str
    def __init__(self, environment: _Optional[str] = ..., expression: _Optional[str] = ...) -> None: ...

class Gate(_message.Message):
    __slots__ = ("environment", "expression", "updated_by", "updated_at")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    environment: str
    expression: str
    updated_by: str
    updated_at: float
    def __init__(self, environment: _Optional[str] = ..., expression: _Optional[str] = ..., updated_by: _Optional[str] = ..., updated_at: _Optional[float] = ...) -> None: ...

class ListGatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListGatesResponse(_message.Message):
    __slots__ = ("gates",)
    GATES_FIELD_NUMBER: _ClassVar[int]
    gates: _containers.RepeatedCompositeFieldContainer[Gate]
    def __init__(self, gates: _Optional[_Iterable[_Union[Gate, _Mapping]]] = ...) -> None: ...

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

class Comparison(_message.Message):
    __slots__ = ("name", "a", "b", "rows")
    NAME_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    name: str
    a: str
    b: str
    rows: _containers.RepeatedCompositeFieldContainer[ComparisonRow]
    def __init__(self, name: _Optional[str] = ..., a: _Optional[str] = ..., b: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[ComparisonRow, _Mapping]]] = ...) -> None: ...

class ComparisonRow(_message.Message):
    __slots__ = ("section", "key", "a", "b", "delta", "same")
    SECTION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    SAME_FIELD_NUMBER: _ClassVar[int]
    section: str
    key: str
    a: FieldValue
    b: FieldValue
    delta: FieldValue
    same: bool
    def __init__(self, section: _Optional[str] = ..., key: _Optional[str] = ..., a: _Optional[_Union[FieldValue, _Mapping]] = ..., b: _Optional[_Union[FieldValue, _Mapping]] = ..., delta: _Optional[_Union[FieldValue, _Mapping]] = ..., same: _Optional[bool] = ...) -> None: ...

class FieldValue(_message.Message):
    __slots__ = ("text", "integer", "number", "flag", "texts", "json")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    text: str
    integer: int
    number: float
    flag: bool
    texts: TextList
    json: str
    def __init__(self, text: _Optional[str] = ..., integer: _Optional[int] = ..., number: _Optional[float] = ..., flag: _Optional[bool] = ..., texts: _Optional[_Union[TextList, _Mapping]] = ..., json: _Optional[str] = ...) -> None: ...

class TextList(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[str]] = ...) -> None: ...

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
    __slots__ = ("query", "sort", "limit", "columns")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    query: str
    sort: str
    limit: int
    columns: bool
    def __init__(self, query: _Optional[str] = ..., sort: _Optional[str] = ..., limit: _Optional[int] = ..., columns: _Optional[bool] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("ref", "lock", "unlock")
    REF_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    UNLOCK_FIELD_NUMBER: _ClassVar[int]
    ref: str
    lock: bool
    unlock: bool
    def __init__(self, ref: _Optional[str] = ..., lock: _Optional[bool] = ..., unlock: _Optional[bool] = ...) -> None: ...

class VerifyResult(_message.Message):
    __slots__ = ("ref", "digest", "locked", "status", "copies")
    REF_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    ref: str
    digest: str
    locked: bool
    status: str
    copies: _containers.RepeatedCompositeFieldContainer[CopyCheck]
    def __init__(self, ref: _Optional[str] = ..., digest: _Optional[str] = ..., locked: _Optional[bool] = ..., status: _Optional[str] = ..., copies: _Optional[_Iterable[_Union[CopyCheck, _Mapping]]] = ...) -> None: ...

class CopyCheck(_message.Message):
    __slots__ = ("copy_id", "host", "path", "outcome", "digest", "error")
    COPY_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    copy_id: int
    host: str
    path: str
    outcome: str
    digest: str
    error: str
    def __init__(self, copy_id: _Optional[int] = ..., host: _Optional[str] = ..., path: _Optional[str] = ..., outcome: _Optional[str] = ..., digest: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class VersionTree(_message.Message):
    __slots__ = ("name", "nodes", "edges")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    name: str
    nodes: _containers.RepeatedCompositeFieldContainer[TreeNode]
    edges: _containers.RepeatedCompositeFieldContainer[TreeEdge]
    def __init__(self, name: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[TreeNode, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[TreeEdge, _Mapping]]] = ...) -> None: ...

class TreeNode(_message.Message):
    __slots__ = ("version", "semver", "state", "status", "kind", "aliases", "external_parents", "derived", "label")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SEMVER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_PARENTS_FIELD_NUMBER: _ClassVar[int]
    DERIVED_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    version: int
    semver: str
    state: str
    status: str
    kind: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    external_parents: _containers.RepeatedCompositeFieldContainer[VersionLink]
    derived: _containers.RepeatedCompositeFieldContainer[VersionLink]
    label: str
    def __init__(self, version: _Optional[int] = ..., semver: _Optional[str] = ..., state: _Optional[str] = ..., status: _Optional[str] = ..., kind: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., external_parents: _Optional[_Iterable[_Union[VersionLink, _Mapping]]] = ..., derived: _Optional[_Iterable[_Union[VersionLink, _Mapping]]] = ..., label: _Optional[str] = ...) -> None: ...

class TreeEdge(_message.Message):
    __slots__ = ("parent", "child", "relation")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CHILD_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    parent: int
    child: int
    relation: str
    def __init__(self, parent: _Optional[int] = ..., child: _Optional[int] = ..., relation: _Optional[str] = ...) -> None: ...

class VersionLink(_message.Message):
    __slots__ = ("name", "version", "relation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    relation: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., relation: _Optional[str] = ...) -> None: ...

class VersionLineage(_message.Message):
    __slots__ = ("ref", "base_model", "code_commit", "datasets", "ancestors", "children", "data_lineage", "all_datasets")
    REF_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CODE_COMMIT_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    ANCESTORS_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    DATA_LINEAGE_FIELD_NUMBER: _ClassVar[int]
    ALL_DATASETS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    base_model: str
    code_commit: str
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    ancestors: _containers.RepeatedCompositeFieldContainer[Ancestor]
    children: _containers.RepeatedCompositeFieldContainer[VersionLink]
    data_lineage: _containers.RepeatedCompositeFieldContainer[VersionDatasets]
    all_datasets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ref: _Optional[str] = ..., base_model: _Optional[str] = ..., code_commit: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., ancestors: _Optional[_Iterable[_Union[Ancestor, _Mapping]]] = ..., children: _Optional[_Iterable[_Union[VersionLink, _Mapping]]] = ..., data_lineage: _Optional[_Iterable[_Union[VersionDatasets, _Mapping]]] = ..., all_datasets: _Optional[_Iterable[str]] = ...) -> None: ...

class Ancestor(_message.Message):
    __slots__ = ("name", "version", "relation", "depth", "child", "kind", "state", "base_model", "code_commit", "datasets")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    CHILD_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CODE_COMMIT_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    relation: str
    depth: int
    child: str
    kind: str
    state: str
    base_model: str
    code_commit: str
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., relation: _Optional[str] = ..., depth: _Optional[int] = ..., child: _Optional[str] = ..., kind: _Optional[str] = ..., state: _Optional[str] = ..., base_model: _Optional[str] = ..., code_commit: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ...) -> None: ...

class VersionDatasets(_message.Message):
    __slots__ = ("ref", "datasets")
    REF_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    def __init__(self, ref: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ...) -> None: ...

class SummaryResponse(_message.Message):
    __slots__ = ("registry", "model")
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    registry: RegistrySummary
    model: ModelSummary
    def __init__(self, registry: _Optional[_Union[RegistrySummary, _Mapping]] = ..., model: _Optional[_Union[ModelSummary, _Mapping]] = ...) -> None: ...

class RegistrySummary(_message.Message):
    __slots__ = ("models", "versions", "registered", "by_kind", "by_state", "by_status", "hosts", "copies", "locked", "aliases", "total_bytes", "models_list")
    class ByKindEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class CopiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    MODELS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    BY_KIND_FIELD_NUMBER: _ClassVar[int]
    BY_STATE_FIELD_NUMBER: _ClassVar[int]
    BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MODELS_LIST_FIELD_NUMBER: _ClassVar[int]
    models: int
    versions: int
    registered: int
    by_kind: _containers.ScalarMap[str, int]
    by_state: _containers.ScalarMap[str, int]
    by_status: _containers.ScalarMap[str, int]
    hosts: int
    copies: _containers.ScalarMap[str, int]
    locked: int
    aliases: int
    total_bytes: int
    models_list: _containers.RepeatedCompositeFieldContainer[ModelCount]
    def __init__(self, models: _Optional[int] = ..., versions: _Optional[int] = ..., registered: _Optional[int] = ..., by_kind: _Optional[_Mapping[str, int]] = ..., by_state: _Optional[_Mapping[str, int]] = ..., by_status: _Optional[_Mapping[str, int]] = ..., hosts: _Optional[int] = ..., copies: _Optional[_Mapping[str, int]] = ..., locked: _Optional[int] = ..., aliases: _Optional[int] = ..., total_bytes: _Optional[int] = ..., models_list: _Optional[_Iterable[_Union[ModelCount, _Mapping]]] = ...) -> None: ...

class ModelCount(_message.Message):
    __slots__ = ("name", "versions", "latest")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    name: str
    versions: int
    latest: int
    def __init__(self, name: _Optional[str] = ..., versions: _Optional[int] = ..., latest: _Optional[int] = ...) -> None: ...

class ModelSummary(_message.Message):
    __slots__ = ("name", "versions", "by_state", "aliases", "latest", "best", "list")
    class ByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class AliasesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class BestEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: BestMetric
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[BestMetric, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    BY_STATE_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    BEST_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    name: str
    versions: int
    by_state: _containers.ScalarMap[str, int]
    aliases: _containers.ScalarMap[str, int]
    latest: int
    best: _containers.MessageMap[str, BestMetric]
    list: _containers.RepeatedCompositeFieldContainer[VersionBrief]
    def __init__(self, name: _Optional[str] = ..., versions: _Optional[int] = ..., by_state: _Optional[_Mapping[str, int]] = ..., aliases: _Optional[_Mapping[str, int]] = ..., latest: _Optional[int] = ..., best: _Optional[_Mapping[str, BestMetric]] = ..., list: _Optional[_Iterable[_Union[VersionBrief, _Mapping]]] = ...) -> None: ...

class BestMetric(_message.Message):
    __slots__ = ("value", "version")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    value: float
    version: int
    def __init__(self, value: _Optional[float] = ..., version: _Optional[int] = ...) -> None: ...

class VersionBrief(_message.Message):
    __slots__ = ("version", "semver", "state", "status", "aliases", "metrics", "kind", "created_at")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SEMVER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    version: int
    semver: str
    state: str
    status: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    metrics: _containers.ScalarMap[str, float]
    kind: str
    created_at: float
    def __init__(self, version: _Optional[int] = ..., semver: _Optional[str] = ..., state: _Optional[str] = ..., status: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., kind: _Optional[str] = ..., created_at: _Optional[float] = ...) -> None: ...

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
    __slots__ = ("file_name", "content", "format", "dry_run", "host_map")
    class HostMapEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    HOST_MAP_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    content: bytes
    format: str
    dry_run: bool
    host_map: _containers.ScalarMap[str, str]
    def __init__(self, file_name: _Optional[str] = ..., content: _Optional[bytes] = ..., format: _Optional[str] = ..., dry_run: _Optional[bool] = ..., host_map: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ImportReport(_message.Message):
    __slots__ = ("format", "models", "versions", "merged", "skipped", "problems", "dry_run")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    MERGED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    format: str
    models: int
    versions: int
    merged: int
    skipped: int
    problems: _containers.RepeatedScalarFieldContainer[str]
    dry_run: bool
    def __init__(self, format: _Optional[str] = ..., models: _Optional[int] = ..., versions: _Optional[int] = ..., merged: _Optional[int] = ..., skipped: _Optional[int] = ..., problems: _Optional[_Iterable[str]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ("document", "models", "versions")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    models: int
    versions: int
    def __init__(self, document: _Optional[bytes] = ..., models: _Optional[int] = ..., versions: _Optional[int] = ...) -> None: ...
