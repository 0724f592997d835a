from llmesh.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Hello(_message.Message):
    __slots__ = ("agent_id", "name", "facts", "roots", "peer_address", "agent_version", "heartbeat_interval_s", "labels", "protocol", "started_at")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    facts: _common_pb2.HostFacts
    roots: _containers.RepeatedScalarFieldContainer[str]
    peer_address: str
    agent_version: str
    heartbeat_interval_s: float
    labels: _containers.ScalarMap[str, str]
    protocol: str
    started_at: float
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., facts: _Optional[_Union[_common_pb2.HostFacts, _Mapping]] = ..., roots: _Optional[_Iterable[str]] = ..., peer_address: _Optional[str] = ..., agent_version: _Optional[str] = ..., heartbeat_interval_s: _Optional[float] = ..., labels: _Optional[_Mapping[str, str]] = ..., protocol: _Optional[str] = ..., started_at: _Optional[float] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("hardware", "scanning")
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    SCANNING_FIELD_NUMBER: _ClassVar[int]
    hardware: _common_pb2.HardwareSnapshot
    scanning: bool
    def __init__(self, hardware: _Optional[_Union[_common_pb2.HardwareSnapshot, _Mapping]] = ..., scanning: _Optional[bool] = ...) -> None: ...

class ScrubFinding(_message.Message):
    __slots__ = ("path", "digest", "outcome", "error")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    path: str
    digest: str
    outcome: str
    error: str
    def __init__(self, path: _Optional[str] = ..., digest: _Optional[str] = ..., outcome: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ScrubReport(_message.Message):
    __slots__ = ("scrub_id", "trigger", "state", "started_at", "finished_at", "copies_total", "copies_checked", "bytes_total", "bytes_done", "error", "findings")
    SCRUB_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    COPIES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    COPIES_CHECKED_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    scrub_id: str
    trigger: str
    state: str
    started_at: float
    finished_at: float
    copies_total: int
    copies_checked: int
    bytes_total: int
    bytes_done: int
    error: str
    findings: _containers.RepeatedCompositeFieldContainer[ScrubFinding]
    def __init__(self, scrub_id: _Optional[str] = ..., trigger: _Optional[str] = ..., state: _Optional[str] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., copies_total: _Optional[int] = ..., copies_checked: _Optional[int] = ..., bytes_total: _Optional[int] = ..., bytes_done: _Optional[int] = ..., error: _Optional[str] = ..., findings: _Optional[_Iterable[_Union[ScrubFinding, _Mapping]]] = ...) -> None: ...

class ScanStats(_message.Message):
    __slots__ = ("files_hashed", "bytes_hashed", "files_cached", "seconds")
    FILES_HASHED_FIELD_NUMBER: _ClassVar[int]
    BYTES_HASHED_FIELD_NUMBER: _ClassVar[int]
    FILES_CACHED_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    files_hashed: int
    bytes_hashed: int
    files_cached: int
    seconds: float
    def __init__(self, files_hashed: _Optional[int] = ..., bytes_hashed: _Optional[int] = ..., files_cached: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class InventoryBatch(_message.Message):
    __slots__ = ("scan_id", "models", "complete", "problems", "stats")
    SCAN_ID_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    scan_id: str
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.FoundModel]
    complete: bool
    problems: _containers.RepeatedScalarFieldContainer[str]
    stats: ScanStats
    def __init__(self, scan_id: _Optional[str] = ..., models: _Optional[_Iterable[_Union[_common_pb2.FoundModel, _Mapping]]] = ..., complete: _Optional[bool] = ..., problems: _Optional[_Iterable[str]] = ..., stats: _Optional[_Union[ScanStats, _Mapping]] = ...) -> None: ...

class CommandReply(_message.Message):
    __slots__ = ("request_id", "error_code", "error_message", "model", "hardware", "json")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    error_code: str
    error_message: str
    model: _common_pb2.FoundModel
    hardware: _common_pb2.HardwareSnapshot
    json: str
    def __init__(self, request_id: _Optional[str] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.FoundModel, _Mapping]] = ..., hardware: _Optional[_Union[_common_pb2.HardwareSnapshot, _Mapping]] = ..., json: _Optional[str] = ...) -> None: ...

class RenewCertificate(_message.Message):
    __slots__ = ("csr_pem",)
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    csr_pem: bytes
    def __init__(self, csr_pem: _Optional[bytes] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("job_id", "state", "bytes_total", "bytes_done", "bytes_reused", "bytes_received", "error", "copy_path", "drifted_sources", "suspect_sources", "source_digest", "source_record_json", "sources", "base_model", "base_relation")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_REUSED_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    COPY_PATH_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_SOURCES_FIELD_NUMBER: _ClassVar[int]
    SUSPECT_SOURCES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    BASE_RELATION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: str
    bytes_total: int
    bytes_done: int
    bytes_reused: int
    bytes_received: int
    error: str
    copy_path: str
    drifted_sources: _containers.RepeatedScalarFieldContainer[str]
    suspect_sources: _containers.RepeatedScalarFieldContainer[str]
    source_digest: str
    source_record_json: str
    sources: _containers.RepeatedCompositeFieldContainer[SourceProgress]
    base_model: str
    base_relation: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[str] = ..., bytes_total: _Optional[int] = ..., bytes_done: _Optional[int] = ..., bytes_reused: _Optional[int] = ..., bytes_received: _Optional[int] = ..., error: _Optional[str] = ..., copy_path: _Optional[str] = ..., drifted_sources: _Optional[_Iterable[str]] = ..., suspect_sources: _Optional[_Iterable[str]] = ..., source_digest: _Optional[str] = ..., source_record_json: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[SourceProgress, _Mapping]]] = ..., base_model: _Optional[str] = ..., base_relation: _Optional[str] = ...) -> None: ...

class SourceProgress(_message.Message):
    __slots__ = ("host", "bytes_verified", "bytes_per_s")
    HOST_FIELD_NUMBER: _ClassVar[int]
    BYTES_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_S_FIELD_NUMBER: _ClassVar[int]
    host: str
    bytes_verified: int
    bytes_per_s: float
    def __init__(self, host: _Optional[str] = ..., bytes_verified: _Optional[int] = ..., bytes_per_s: _Optional[float] = ...) -> None: ...

class TicketRequest(_message.Message):
    __slots__ = ("request_id", "job_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    job_id: str
    def __init__(self, request_id: _Optional[str] = ..., job_id: _Optional[str] = ...) -> None: ...

class PeerRead(_message.Message):
    __slots__ = ("job_id", "reader_agent_id", "digest", "bytes", "calls", "result", "error", "first_at", "last_at")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    READER_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FIRST_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_AT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reader_agent_id: str
    digest: str
    bytes: int
    calls: int
    result: str
    error: str
    first_at: float
    last_at: float
    def __init__(self, job_id: _Optional[str] = ..., reader_agent_id: _Optional[str] = ..., digest: _Optional[str] = ..., bytes: _Optional[int] = ..., calls: _Optional[int] = ..., result: _Optional[str] = ..., error: _Optional[str] = ..., first_at: _Optional[float] = ..., last_at: _Optional[float] = ...) -> None: ...

class PeerReads(_message.Message):
    __slots__ = ("reads",)
    READS_FIELD_NUMBER: _ClassVar[int]
    reads: _containers.RepeatedCompositeFieldContainer[PeerRead]
    def __init__(self, reads: _Optional[_Iterable[_Union[PeerRead, _Mapping]]] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "heartbeat", "inventory", "reply", "renew", "job", "ticket_request", "peer_reads", "scrub")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    RENEW_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    TICKET_REQUEST_FIELD_NUMBER: _ClassVar[int]
    PEER_READS_FIELD_NUMBER: _ClassVar[int]
    SCRUB_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    heartbeat: Heartbeat
    inventory: InventoryBatch
    reply: CommandReply
    renew: RenewCertificate
    job: JobProgress
    ticket_request: TicketRequest
    peer_reads: PeerReads
    scrub: ScrubReport
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., inventory: _Optional[_Union[InventoryBatch, _Mapping]] = ..., reply: _Optional[_Union[CommandReply, _Mapping]] = ..., renew: _Optional[_Union[RenewCertificate, _Mapping]] = ..., job: _Optional[_Union[JobProgress, _Mapping]] = ..., ticket_request: _Optional[_Union[TicketRequest, _Mapping]] = ..., peer_reads: _Optional[_Union[PeerReads, _Mapping]] = ..., scrub: _Optional[_Union[ScrubReport, _Mapping]] = ...) -> None: ...

class Revocations(_message.Message):
    __slots__ = ("serials", "agent_ids")
    SERIALS_FIELD_NUMBER: _ClassVar[int]
    AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    serials: _containers.RepeatedScalarFieldContainer[str]
    agent_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, serials: _Optional[_Iterable[str]] = ..., agent_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("host_id", "coordinator_version", "revoked", "piece_size")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    COORDINATOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    PIECE_SIZE_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    coordinator_version: str
    revoked: Revocations
    piece_size: int
    def __init__(self, host_id: _Optional[str] = ..., coordinator_version: _Optional[str] = ..., revoked: _Optional[_Union[Revocations, _Mapping]] = ..., piece_size: _Optional[int] = ...) -> None: ...

class InspectPath(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class QueryHardware(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Rescan(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TransferSource(_message.Message):
    __slots__ = ("host_id", "host", "peer_address", "swarm")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SWARM_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    host: str
    peer_address: str
    swarm: bool
    def __init__(self, host_id: _Optional[str] = ..., host: _Optional[str] = ..., peer_address: _Optional[str] = ..., swarm: _Optional[bool] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("job_id", "name", "version", "files", "sources", "ticket", "piece_size", "dest_dir", "rate_limit", "swarm_rank", "swarm_size")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    PIECE_SIZE_FIELD_NUMBER: _ClassVar[int]
    DEST_DIR_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SWARM_RANK_FIELD_NUMBER: _ClassVar[int]
    SWARM_SIZE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    version: int
    files: _containers.RepeatedCompositeFieldContainer[_common_pb2.FileEntry]
    sources: _containers.RepeatedCompositeFieldContainer[TransferSource]
    ticket: str
    piece_size: int
    dest_dir: str
    rate_limit: int
    swarm_rank: int
    swarm_size: int
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., files: _Optional[_Iterable[_Union[_common_pb2.FileEntry, _Mapping]]] = ..., sources: _Optional[_Iterable[_Union[TransferSource, _Mapping]]] = ..., ticket: _Optional[str] = ..., piece_size: _Optional[int] = ..., dest_dir: _Optional[str] = ..., rate_limit: _Optional[int] = ..., swarm_rank: _Optional[int] = ..., swarm_size: _Optional[int] = ...) -> None: ...

class CancelJob(_message.Message):
    __slots__ = ("job_id", "digests")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DIGESTS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    digests: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., digests: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckPull(_message.Message):
    __slots__ = ("name", "version", "files", "dest_dir")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    DEST_DIR_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    files: _containers.RepeatedCompositeFieldContainer[_common_pb2.FileEntry]
    dest_dir: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., files: _Optional[_Iterable[_Union[_common_pb2.FileEntry, _Mapping]]] = ..., dest_dir: _Optional[str] = ...) -> None: ...

class ConvertModel(_message.Message):
    __slots__ = ("job_id", "source_path", "kind", "quant", "out_name", "base_path")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    QUANT_FIELD_NUMBER: _ClassVar[int]
    OUT_NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_PATH_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    source_path: str
    kind: str
    quant: str
    out_name: str
    base_path: str
    def __init__(self, job_id: _Optional[str] = ..., source_path: _Optional[str] = ..., kind: _Optional[str] = ..., quant: _Optional[str] = ..., out_name: _Optional[str] = ..., base_path: _Optional[str] = ...) -> None: ...

class StartServing(_message.Message):
    __slots__ = ("deployment_id", "backend", "gguf_path", "served_name", "port", "adapter_path", "digest", "chat_template", "stable_endpoint", "replaces", "in_place")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    GGUF_PATH_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_PATH_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CHAT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    STABLE_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REPLACES_FIELD_NUMBER: _ClassVar[int]
    IN_PLACE_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    backend: str
    gguf_path: str
    served_name: str
    port: int
    adapter_path: str
    digest: str
    chat_template: str
    stable_endpoint: bool
    replaces: str
    in_place: bool
    def __init__(self, deployment_id: _Optional[str] = ..., backend: _Optional[str] = ..., gguf_path: _Optional[str] = ..., served_name: _Optional[str] = ..., port: _Optional[int] = ..., adapter_path: _Optional[str] = ..., digest: _Optional[str] = ..., chat_template: _Optional[str] = ..., stable_endpoint: _Optional[bool] = ..., replaces: _Optional[str] = ..., in_place: _Optional[bool] = ...) -> None: ...

class StopServing(_message.Message):
    __slots__ = ("deployment_id", "backend", "served_name")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    backend: str
    served_name: str
    def __init__(self, deployment_id: _Optional[str] = ..., backend: _Optional[str] = ..., served_name: _Optional[str] = ...) -> None: ...

class ChatTest(_message.Message):
    __slots__ = ("endpoint", "prompt", "max_tokens", "backend", "served_name", "ignore_eos", "deployment_id")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    IGNORE_EOS_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    prompt: str
    max_tokens: int
    backend: str
    served_name: str
    ignore_eos: bool
    deployment_id: str
    def __init__(self, endpoint: _Optional[str] = ..., prompt: _Optional[str] = ..., max_tokens: _Optional[int] = ..., backend: _Optional[str] = ..., served_name: _Optional[str] = ..., ignore_eos: _Optional[bool] = ..., deployment_id: _Optional[str] = ...) -> None: ...

class RemoveCopy(_message.Message):
    __slots__ = ("path", "digest")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    path: str
    digest: str
    def __init__(self, path: _Optional[str] = ..., digest: _Optional[str] = ...) -> None: ...

class VerifyCopy(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class HubPull(_message.Message):
    __slots__ = ("job_id", "ref", "insecure", "piece_size", "ollama_layout", "include")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    INSECURE_FIELD_NUMBER: _ClassVar[int]
    PIECE_SIZE_FIELD_NUMBER: _ClassVar[int]
    OLLAMA_LAYOUT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    ref: str
    insecure: bool
    piece_size: int
    ollama_layout: bool
    include: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., ref: _Optional[str] = ..., insecure: _Optional[bool] = ..., piece_size: _Optional[int] = ..., ollama_layout: _Optional[bool] = ..., include: _Optional[_Iterable[str]] = ...) -> None: ...

class HubPush(_message.Message):
    __slots__ = ("ref", "insecure", "files", "record_json")
    REF_FIELD_NUMBER: _ClassVar[int]
    INSECURE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    ref: str
    insecure: bool
    files: _containers.RepeatedCompositeFieldContainer[_common_pb2.FileEntry]
    record_json: str
    def __init__(self, ref: _Optional[str] = ..., insecure: _Optional[bool] = ..., files: _Optional[_Iterable[_Union[_common_pb2.FileEntry, _Mapping]]] = ..., record_json: _Optional[str] = ...) -> None: ...

class HubLogin(_message.Message):
    __slots__ = ("hub", "username", "secret")
    HUB_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    hub: str
    username: str
    secret: str
    def __init__(self, hub: _Optional[str] = ..., username: _Optional[str] = ..., secret: _Optional[str] = ...) -> None: ...

class StartScrub(_message.Message):
    __slots__ = ("scrub_id",)
    SCRUB_ID_FIELD_NUMBER: _ClassVar[int]
    scrub_id: str
    def __init__(self, scrub_id: _Optional[str] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("request_id", "inspect", "query_hardware", "rescan", "verify", "transfer", "cancel_job", "remove_copy", "convert", "start_serving", "stop_serving", "chat_test", "revoke", "check_pull", "scrub", "hub_pull", "hub_push", "hub_login")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INSPECT_FIELD_NUMBER: _ClassVar[int]
    QUERY_HARDWARE_FIELD_NUMBER: _ClassVar[int]
    RESCAN_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_JOB_FIELD_NUMBER: _ClassVar[int]
    REMOVE_COPY_FIELD_NUMBER: _ClassVar[int]
    CONVERT_FIELD_NUMBER: _ClassVar[int]
    START_SERVING_FIELD_NUMBER: _ClassVar[int]
    STOP_SERVING_FIELD_NUMBER: _ClassVar[int]
    CHAT_TEST_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    CHECK_PULL_FIELD_NUMBER: _ClassVar[int]
    SCRUB_FIELD_NUMBER: _ClassVar[int]
    HUB_PULL_FIELD_NUMBER: _ClassVar[int]
    HUB_PUSH_FIELD_NUMBER: _ClassVar[int]
    HUB_LOGIN_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    inspect: InspectPath
    query_hardware: QueryHardware
    rescan: Rescan
    verify: VerifyCopy
    transfer: Transfer
    cancel_job: CancelJob
    remove_copy: RemoveCopy
    convert: ConvertModel
    start_serving: StartServing
    stop_serving: StopServing
    chat_test: ChatTest
    revoke: Revocations
    check_pull: CheckPull
    scrub: StartScrub
    hub_pull: HubPull
    hub_push: HubPush
    hub_login: HubLogin
    def __init__(self, request_id: _Optional[str] = ..., inspect: _Optional[_Union[InspectPath, _Mapping]] = ..., query_hardware: _Optional[_Union[QueryHardware, _Mapping]] = ..., rescan: _Optional[_Union[Rescan, _Mapping]] = ..., verify: _Optional[_Union[VerifyCopy, _Mapping]] = ..., transfer: _Optional[_Union[Transfer, _Mapping]] = ..., cancel_job: _Optional[_Union[CancelJob, _Mapping]] = ..., remove_copy: _Optional[_Union[RemoveCopy, _Mapping]] = ..., convert: _Optional[_Union[ConvertModel, _Mapping]] = ..., start_serving: _Optional[_Union[StartServing, _Mapping]] = ..., stop_serving: _Optional[_Union[StopServing, _Mapping]] = ..., chat_test: _Optional[_Union[ChatTest, _Mapping]] = ..., revoke: _Optional[_Union[Revocations, _Mapping]] = ..., check_pull: _Optional[_Union[CheckPull, _Mapping]] = ..., scrub: _Optional[_Union[StartScrub, _Mapping]] = ..., hub_pull: _Optional[_Union[HubPull, _Mapping]] = ..., hub_push: _Optional[_Union[HubPush, _Mapping]] = ..., hub_login: _Optional[_Union[HubLogin, _Mapping]] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("cert_pem", "error")
    CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    cert_pem: bytes
    error: str
    def __init__(self, cert_pem: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class TicketGrant(_message.Message):
    __slots__ = ("request_id", "job_id", "ticket", "error_code", "error_message")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    job_id: str
    ticket: str
    error_code: str
    error_message: str
    def __init__(self, request_id: _Optional[str] = ..., job_id: _Optional[str] = ..., ticket: _Optional[str] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class CoordinatorMessage(_message.Message):
    __slots__ = ("welcome", "command", "certificate", "ticket")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    command: Command
    certificate: Certificate
    ticket: TicketGrant
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., certificate: _Optional[_Union[Certificate, _Mapping]] = ..., ticket: _Optional[_Union[TicketGrant, _Mapping]] = ...) -> None: ...
