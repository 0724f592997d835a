from llmesh.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScrubRun(_message.Message):
    __slots__ = ("id", "host", "trigger", "state", "started_at", "finished_at", "copies_total", "copies_checked", "bytes_total", "bytes_done", "drifted", "error", "drifted_copies", "requested_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    COPIES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    COPIES_CHECKED_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_COPIES_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    host: str
    trigger: str
    state: str
    started_at: float
    finished_at: float
    copies_total: int
    copies_checked: int
    bytes_total: int
    bytes_done: int
    drifted: int
    error: str
    drifted_copies: _containers.RepeatedScalarFieldContainer[str]
    requested_by: str
    def __init__(self, id: _Optional[str] = ..., host: _Optional[str] = ..., trigger: _Optional[str] = ..., state: _Optional[str] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., copies_total: _Optional[int] = ..., copies_checked: _Optional[int] = ..., bytes_total: _Optional[int] = ..., bytes_done: _Optional[int] = ..., drifted: _Optional[int] = ..., error: _Optional[str] = ..., drifted_copies: _Optional[_Iterable[str]] = ..., requested_by: _Optional[str] = ...) -> None: ...

class ScrubRequest(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: str
    def __init__(self, host: _Optional[str] = ...) -> None: ...

class ScrubResponse(_message.Message):
    __slots__ = ("scrubs", "offline")
    SCRUBS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    scrubs: _containers.RepeatedCompositeFieldContainer[ScrubRun]
    offline: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, scrubs: _Optional[_Iterable[_Union[ScrubRun, _Mapping]]] = ..., offline: _Optional[_Iterable[str]] = ...) -> None: ...

class ListScrubsRequest(_message.Message):
    __slots__ = ("host", "ids")
    HOST_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    host: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, host: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListScrubsResponse(_message.Message):
    __slots__ = ("scrubs",)
    SCRUBS_FIELD_NUMBER: _ClassVar[int]
    scrubs: _containers.RepeatedCompositeFieldContainer[ScrubRun]
    def __init__(self, scrubs: _Optional[_Iterable[_Union[ScrubRun, _Mapping]]] = ...) -> None: ...

class Host(_message.Message):
    __slots__ = ("id", "name", "status", "facts", "hardware", "roots", "peer_address", "agent_version", "first_seen", "last_seen", "heartbeat_interval_s", "labels", "scanning", "model_count", "problems", "started_at", "uptime_s", "protocol")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SCANNING_FIELD_NUMBER: _ClassVar[int]
    MODEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    status: str
    facts: _common_pb2.HostFacts
    hardware: _common_pb2.HardwareSnapshot
    roots: _containers.RepeatedScalarFieldContainer[str]
    peer_address: str
    agent_version: str
    first_seen: float
    last_seen: float
    heartbeat_interval_s: float
    labels: _containers.ScalarMap[str, str]
    scanning: bool
    model_count: int
    problems: _containers.RepeatedScalarFieldContainer[str]
    started_at: float
    uptime_s: float
    protocol: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[str] = ..., facts: _Optional[_Union[_common_pb2.HostFacts, _Mapping]] = ..., hardware: _Optional[_Union[_common_pb2.HardwareSnapshot, _Mapping]] = ..., roots: _Optional[_Iterable[str]] = ..., peer_address: _Optional[str] = ..., agent_version: _Optional[str] = ..., first_seen: _Optional[float] = ..., last_seen: _Optional[float] = ..., heartbeat_interval_s: _Optional[float] = ..., labels: _Optional[_Mapping[str, str]] = ..., scanning: _Optional[bool] = ..., model_count: _Optional[int] = ..., problems: _Optional[_Iterable[str]] = ..., started_at: _Optional[float] = ..., uptime_s: _Optional[float] = ..., protocol: _Optional[str] = ...) -> None: ...

class ListHostsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListHostsResponse(_message.Message):
    __slots__ = ("hosts",)
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[Host]
    def __init__(self, hosts: _Optional[_Iterable[_Union[Host, _Mapping]]] = ...) -> None: ...

class HostGpus(_message.Message):
    __slots__ = ("host", "status", "live", "gpus", "gpu_error")
    HOST_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    GPU_ERROR_FIELD_NUMBER: _ClassVar[int]
    host: str
    status: str
    live: bool
    gpus: _containers.RepeatedCompositeFieldContainer[_common_pb2.GpuStatus]
    gpu_error: str
    def __init__(self, host: _Optional[str] = ..., status: _Optional[str] = ..., live: _Optional[bool] = ..., gpus: _Optional[_Iterable[_Union[_common_pb2.GpuStatus, _Mapping]]] = ..., gpu_error: _Optional[str] = ...) -> None: ...

class ListGpusRequest(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: str
    def __init__(self, host: _Optional[str] = ...) -> None: ...

class ListGpusResponse(_message.Message):
    __slots__ = ("hosts",)
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[HostGpus]
    def __init__(self, hosts: _Optional[_Iterable[_Union[HostGpus, _Mapping]]] = ...) -> None: ...

class ModelCopy(_message.Message):
    __slots__ = ("host", "path", "state", "verified_at", "host_status")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    HOST_STATUS_FIELD_NUMBER: _ClassVar[int]
    host: str
    path: str
    state: str
    verified_at: float
    host_status: str
    def __init__(self, host: _Optional[str] = ..., path: _Optional[str] = ..., state: _Optional[str] = ..., verified_at: _Optional[float] = ..., host_status: _Optional[str] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("name", "version", "digest", "kind", "format", "source", "size_bytes", "file_count", "copies", "metadata_json", "roles", "tags", "base_model", "registered", "created_at", "updated_at", "files", "notes", "display_name", "semver", "status", "state", "metrics", "params_json", "capabilities", "aliases", "parents_json", "datasets_json", "code_commit", "framework", "hardware", "duration_s", "cost_usd", "locked", "last_verified", "backends", "extra_json", "created_by", "description", "label", "deployed_to_json")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class CapabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILE_COUNT_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SEMVER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    PARENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    DATASETS_JSON_FIELD_NUMBER: _ClassVar[int]
    CODE_COMMIT_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    LAST_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_TO_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    digest: str
    kind: str
    format: str
    source: str
    size_bytes: int
    file_count: int
    copies: _containers.RepeatedCompositeFieldContainer[ModelCopy]
    metadata_json: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.ScalarMap[str, str]
    base_model: str
    registered: bool
    created_at: float
    updated_at: float
    files: _containers.RepeatedCompositeFieldContainer[_common_pb2.FileEntry]
    notes: str
    display_name: str
    semver: str
    status: str
    state: str
    metrics: _containers.ScalarMap[str, float]
    params_json: str
    capabilities: _containers.ScalarMap[str, bool]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    parents_json: str
    datasets_json: str
    code_commit: str
    framework: str
    hardware: str
    duration_s: float
    cost_usd: float
    locked: bool
    last_verified: float
    backends: _containers.RepeatedScalarFieldContainer[str]
    extra_json: str
    created_by: str
    description: str
    label: str
    deployed_to_json: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., digest: _Optional[str] = ..., kind: _Optional[str] = ..., format: _Optional[str] = ..., source: _Optional[str] = ..., size_bytes: _Optional[int] = ..., file_count: _Optional[int] = ..., copies: _Optional[_Iterable[_Union[ModelCopy, _Mapping]]] = ..., metadata_json: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., tags: _Optional[_Mapping[str, str]] = ..., base_model: _Optional[str] = ..., registered: _Optional[bool] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., files: _Optional[_Iterable[_Union[_common_pb2.FileEntry, _Mapping]]] = ..., notes: _Optional[str] = ..., display_name: _Optional[str] = ..., semver: _Optional[str] = ..., status: _Optional[str] = ..., state: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., params_json: _Optional[str] = ..., capabilities: _Optional[_Mapping[str, bool]] = ..., aliases: _Optional[_Iterable[str]] = ..., parents_json: _Optional[str] = ..., datasets_json: _Optional[str] = ..., code_commit: _Optional[str] = ..., framework: _Optional[str] = ..., hardware: _Optional[str] = ..., duration_s: _Optional[float] = ..., cost_usd: _Optional[float] = ..., locked: _Optional[bool] = ..., last_verified: _Optional[float] = ..., backends: _Optional[_Iterable[str]] = ..., extra_json: _Optional[str] = ..., created_by: _Optional[str] = ..., description: _Optional[str] = ..., label: _Optional[str] = ..., deployed_to_json: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("host", "kind", "name", "role", "backend", "tags", "query", "deployed_on", "columns", "page_size", "page_token")
    HOST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_ON_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    host: str
    kind: str
    name: str
    role: str
    backend: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    query: str
    deployed_on: str
    columns: bool
    page_size: int
    page_token: str
    def __init__(self, host: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., backend: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., query: _Optional[str] = ..., deployed_on: _Optional[str] = ..., columns: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("versions", "columns", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    columns: ModelVersionColumns
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., columns: _Optional[_Union[ModelVersionColumns, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ModelVersionColumns(_message.Message):
    __slots__ = ("rows", "name", "version", "digest", "kind", "format", "source", "size_bytes", "file_count", "copies_host", "copies_path", "copies_state", "copies_verified_at", "copies_host_status", "copies_counts", "metadata_json", "roles", "roles_counts", "tags_keys", "tags_values", "tags_counts", "base_model", "registered", "created_at", "updated_at", "files_path", "files_size", "files_digest", "files_piece_index_id", "files_piece_size", "files_counts", "notes", "display_name", "semver", "status", "state", "metrics_keys", "metrics_values", "metrics_counts", "params_json", "capabilities_keys", "capabilities_values", "capabilities_counts", "aliases", "aliases_counts", "parents_json", "datasets_json", "code_commit", "framework", "hardware", "duration_s", "duration_s_set", "cost_usd", "cost_usd_set", "locked", "last_verified", "backends", "backends_counts", "extra_json", "created_by", "description", "label", "deployed_to_json")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILE_COUNT_FIELD_NUMBER: _ClassVar[int]
    COPIES_HOST_FIELD_NUMBER: _ClassVar[int]
    COPIES_PATH_FIELD_NUMBER: _ClassVar[int]
    COPIES_STATE_FIELD_NUMBER: _ClassVar[int]
    COPIES_VERIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    COPIES_HOST_STATUS_FIELD_NUMBER: _ClassVar[int]
    COPIES_COUNTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    ROLES_COUNTS_FIELD_NUMBER: _ClassVar[int]
    TAGS_KEYS_FIELD_NUMBER: _ClassVar[int]
    TAGS_VALUES_FIELD_NUMBER: _ClassVar[int]
    TAGS_COUNTS_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    FILES_PATH_FIELD_NUMBER: _ClassVar[int]
    FILES_SIZE_FIELD_NUMBER: _ClassVar[int]
    FILES_DIGEST_FIELD_NUMBER: _ClassVar[int]
    FILES_PIECE_INDEX_ID_FIELD_NUMBER: _ClassVar[int]
    FILES_PIECE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FILES_COUNTS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SEMVER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    METRICS_KEYS_FIELD_NUMBER: _ClassVar[int]
    METRICS_VALUES_FIELD_NUMBER: _ClassVar[int]
    METRICS_COUNTS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_KEYS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_VALUES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_COUNTS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    ALIASES_COUNTS_FIELD_NUMBER: _ClassVar[int]
    PARENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    DATASETS_JSON_FIELD_NUMBER: _ClassVar[int]
    CODE_COMMIT_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_SET_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    COST_USD_SET_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    LAST_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_COUNTS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_TO_JSON_FIELD_NUMBER: _ClassVar[int]
    rows: int
    name: _containers.RepeatedScalarFieldContainer[str]
    version: _containers.RepeatedScalarFieldContainer[int]
    digest: _containers.RepeatedScalarFieldContainer[str]
    kind: _containers.RepeatedScalarFieldContainer[str]
    format: _containers.RepeatedScalarFieldContainer[str]
    source: _containers.RepeatedScalarFieldContainer[str]
    size_bytes: _containers.RepeatedScalarFieldContainer[int]
    file_count: _containers.RepeatedScalarFieldContainer[int]
    copies_host: _containers.RepeatedScalarFieldContainer[str]
    copies_path: _containers.RepeatedScalarFieldContainer[str]
    copies_state: _containers.RepeatedScalarFieldContainer[str]
    copies_verified_at: _containers.RepeatedScalarFieldContainer[float]
    copies_host_status: _containers.RepeatedScalarFieldContainer[str]
    copies_counts: _containers.RepeatedScalarFieldContainer[int]
    metadata_json: _containers.RepeatedScalarFieldContainer[str]
    roles: _containers.RepeatedScalarFieldContainer[str]
    roles_counts: _containers.RepeatedScalarFieldContainer[int]
    tags_keys: _containers.RepeatedScalarFieldContainer[str]
    tags_values: _containers.RepeatedScalarFieldContainer[str]
    tags_counts: _containers.RepeatedScalarFieldContainer[int]
    base_model: _containers.RepeatedScalarFieldContainer[str]
    registered: _containers.RepeatedScalarFieldContainer[bool]
    created_at: _containers.RepeatedScalarFieldContainer[float]
    updated_at: _containers.RepeatedScalarFieldContainer[float]
    files_path: _containers.RepeatedScalarFieldContainer[str]
    files_size: _containers.RepeatedScalarFieldContainer[int]
    files_digest: _containers.RepeatedScalarFieldContainer[str]
    files_piece_index_id: _containers.RepeatedScalarFieldContainer[str]
    files_piece_size: _containers.RepeatedScalarFieldContainer[int]
    files_counts: _containers.RepeatedScalarFieldContainer[int]
    notes: _containers.RepeatedScalarFieldContainer[str]
    display_name: _containers.RepeatedScalarFieldContainer[str]
    semver: _containers.RepeatedScalarFieldContainer[str]
    status: _containers.RepeatedScalarFieldContainer[str]
    state: _containers.RepeatedScalarFieldContainer[str]
    metrics_keys: _containers.RepeatedScalarFieldContainer[str]
    metrics_values: _containers.RepeatedScalarFieldContainer[float]
    metrics_counts: _containers.RepeatedScalarFieldContainer[int]
    params_json: _containers.RepeatedScalarFieldContainer[str]
    capabilities_keys: _containers.RepeatedScalarFieldContainer[str]
    capabilities_values: _containers.RepeatedScalarFieldContainer[bool]
    capabilities_counts: _containers.RepeatedScalarFieldContainer[int]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    aliases_counts: _containers.RepeatedScalarFieldContainer[int]
    parents_json: _containers.RepeatedScalarFieldContainer[str]
    datasets_json: _containers.RepeatedScalarFieldContainer[str]
    code_commit: _containers.RepeatedScalarFieldContainer[str]
    framework: _containers.RepeatedScalarFieldContainer[str]
    hardware: _containers.RepeatedScalarFieldContainer[str]
    duration_s: _containers.RepeatedScalarFieldContainer[float]
    duration_s_set: _containers.RepeatedScalarFieldContainer[bool]
    cost_usd: _containers.RepeatedScalarFieldContainer[float]
    cost_usd_set: _containers.RepeatedScalarFieldContainer[bool]
    locked: _containers.RepeatedScalarFieldContainer[bool]
    last_verified: _containers.RepeatedScalarFieldContainer[float]
    backends: _containers.RepeatedScalarFieldContainer[str]
    backends_counts: _containers.RepeatedScalarFieldContainer[int]
    extra_json: _containers.RepeatedScalarFieldContainer[str]
    created_by: _containers.RepeatedScalarFieldContainer[str]
    description: _containers.RepeatedScalarFieldContainer[str]
    label: _containers.RepeatedScalarFieldContainer[str]
    deployed_to_json: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rows: _Optional[int] = ..., name: _Optional[_Iterable[str]] = ..., version: _Optional[_Iterable[int]] = ..., digest: _Optional[_Iterable[str]] = ..., kind: _Optional[_Iterable[str]] = ..., format: _Optional[_Iterable[str]] = ..., source: _Optional[_Iterable[str]] = ..., size_bytes: _Optional[_Iterable[int]] = ..., file_count: _Optional[_Iterable[int]] = ..., copies_host: _Optional[_Iterable[str]] = ..., copies_path: _Optional[_Iterable[str]] = ..., copies_state: _Optional[_Iterable[str]] = ..., copies_verified_at: _Optional[_Iterable[float]] = ..., copies_host_status: _Optional[_Iterable[str]] = ..., copies_counts: _Optional[_Iterable[int]] = ..., metadata_json: _Optional[_Iterable[str]] = ..., roles: _Optional[_Iterable[str]] = ..., roles_counts: _Optional[_Iterable[int]] = ..., tags_keys: _Optional[_Iterable[str]] = ..., tags_values: _Optional[_Iterable[str]] = ..., tags_counts: _Optional[_Iterable[int]] = ..., base_model: _Optional[_Iterable[str]] = ..., registered: _Optional[_Iterable[bool]] = ..., created_at: _Optional[_Iterable[float]] = ..., updated_at: _Optional[_Iterable[float]] = ..., files_path: _Optional[_Iterable[str]] = ..., files_size: _Optional[_Iterable[int]] = ..., files_digest: _Optional[_Iterable[str]] = ..., files_piece_index_id: _Optional[_Iterable[str]] = ..., files_piece_size: _Optional[_Iterable[int]] = ..., files_counts: _Optional[_Iterable[int]] = ..., notes: _Optional[_Iterable[str]] = ..., display_name: _Optional[_Iterable[str]] = ..., semver: _Optional[_Iterable[str]] = ..., status: _Optional[_Iterable[str]] = ..., state: _Optional[_Iterable[str]] = ..., metrics_keys: _Optional[_Iterable[str]] = ..., metrics_values: _Optional[_Iterable[float]] = ..., metrics_counts: _Optional[_Iterable[int]] = ..., params_json: _Optional[_Iterable[str]] = ..., capabilities_keys: _Optional[_Iterable[str]] = ..., capabilities_values: _Optional[_Iterable[bool]] = ..., capabilities_counts: _Optional[_Iterable[int]] = ..., aliases: _Optional[_Iterable[str]] = ..., aliases_counts: _Optional[_Iterable[int]] = ..., parents_json: _Optional[_Iterable[str]] = ..., datasets_json: _Optional[_Iterable[str]] = ..., code_commit: _Optional[_Iterable[str]] = ..., framework: _Optional[_Iterable[str]] = ..., hardware: _Optional[_Iterable[str]] = ..., duration_s: _Optional[_Iterable[float]] = ..., duration_s_set: _Optional[_Iterable[bool]] = ..., cost_usd: _Optional[_Iterable[float]] = ..., cost_usd_set: _Optional[_Iterable[bool]] = ..., locked: _Optional[_Iterable[bool]] = ..., last_verified: _Optional[_Iterable[float]] = ..., backends: _Optional[_Iterable[str]] = ..., backends_counts: _Optional[_Iterable[int]] = ..., extra_json: _Optional[_Iterable[str]] = ..., created_by: _Optional[_Iterable[str]] = ..., description: _Optional[_Iterable[str]] = ..., label: _Optional[_Iterable[str]] = ..., deployed_to_json: _Optional[_Iterable[str]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class RegisterModelResponse(_message.Message):
    __slots__ = ("version", "created", "message")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    version: ModelVersion
    created: bool
    message: str
    def __init__(self, version: _Optional[_Union[ModelVersion, _Mapping]] = ..., created: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class DeleteModelRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class DeleteModelResponse(_message.Message):
    __slots__ = ("deleted", "message")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    message: str
    def __init__(self, deleted: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ...) -> None: ...

class RescanRequest(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: str
    def __init__(self, host: _Optional[str] = ...) -> None: ...

class RescanResponse(_message.Message):
    __slots__ = ("hosts",)
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hosts: _Optional[_Iterable[str]] = ...) -> None: ...
