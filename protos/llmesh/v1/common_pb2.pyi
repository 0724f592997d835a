from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FileEntry(_message.Message):
    __slots__ = ("path", "size", "digest", "piece_index_id", "piece_size")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PIECE_INDEX_ID_FIELD_NUMBER: _ClassVar[int]
    PIECE_SIZE_FIELD_NUMBER: _ClassVar[int]
    path: str
    size: int
    digest: str
    piece_index_id: str
    piece_size: int
    def __init__(self, path: _Optional[str] = ..., size: _Optional[int] = ..., digest: _Optional[str] = ..., piece_index_id: _Optional[str] = ..., piece_size: _Optional[int] = ...) -> None: ...

class FoundModel(_message.Message):
    __slots__ = ("path", "name", "kind", "format", "source", "files", "metadata_json", "digest", "size_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    name: str
    kind: str
    format: str
    source: str
    files: _containers.RepeatedCompositeFieldContainer[FileEntry]
    metadata_json: str
    digest: str
    size_bytes: int
    def __init__(self, path: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., format: _Optional[str] = ..., source: _Optional[str] = ..., files: _Optional[_Iterable[_Union[FileEntry, _Mapping]]] = ..., metadata_json: _Optional[str] = ..., digest: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class HostFacts(_message.Message):
    __slots__ = ("hostname", "platform", "os", "arch", "cpu_count", "cpu_physical", "cpu_model", "memory_total_bytes", "python")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    CPU_PHYSICAL_FIELD_NUMBER: _ClassVar[int]
    CPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    PYTHON_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    platform: str
    os: str
    arch: str
    cpu_count: int
    cpu_physical: int
    cpu_model: str
    memory_total_bytes: int
    python: str
    def __init__(self, hostname: _Optional[str] = ..., platform: _Optional[str] = ..., os: _Optional[str] = ..., arch: _Optional[str] = ..., cpu_count: _Optional[int] = ..., cpu_physical: _Optional[int] = ..., cpu_model: _Optional[str] = ..., memory_total_bytes: _Optional[int] = ..., python: _Optional[str] = ...) -> None: ...

class DiskUsage(_message.Message):
    __slots__ = ("path", "total_bytes", "free_bytes", "error")
    PATH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    path: str
    total_bytes: int
    free_bytes: int
    error: str
    def __init__(self, path: _Optional[str] = ..., total_bytes: _Optional[int] = ..., free_bytes: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class GpuStatus(_message.Message):
    __slots__ = ("index", "vendor", "name", "uuid", "memory_total_bytes", "memory_used_bytes", "utilization_percent", "temperature_c", "power_watts", "driver_version", "cuda_version", "errors")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    POWER_WATTS_FIELD_NUMBER: _ClassVar[int]
    DRIVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    CUDA_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    index: int
    vendor: str
    name: str
    uuid: str
    memory_total_bytes: int
    memory_used_bytes: int
    utilization_percent: int
    temperature_c: int
    power_watts: float
    driver_version: str
    cuda_version: str
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[int] = ..., vendor: _Optional[str] = ..., name: _Optional[str] = ..., uuid: _Optional[str] = ..., memory_total_bytes: _Optional[int] = ..., memory_used_bytes: _Optional[int] = ..., utilization_percent: _Optional[int] = ..., temperature_c: _Optional[int] = ..., power_watts: _Optional[float] = ..., driver_version: _Optional[str] = ..., cuda_version: _Optional[str] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...

class HardwareSnapshot(_message.Message):
    __slots__ = ("memory_total_bytes", "memory_available_bytes", "cpu_percent", "load_average", "disks", "gpus", "gpu_error", "taken_at", "ollama_loaded", "ollama_reachable")
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_AVAILABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    LOAD_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    DISKS_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    GPU_ERROR_FIELD_NUMBER: _ClassVar[int]
    TAKEN_AT_FIELD_NUMBER: _ClassVar[int]
    OLLAMA_LOADED_FIELD_NUMBER: _ClassVar[int]
    OLLAMA_REACHABLE_FIELD_NUMBER: _ClassVar[int]
    memory_total_bytes: int
    memory_available_bytes: int
    cpu_percent: float
    load_average: _containers.RepeatedScalarFieldContainer[float]
    disks: _containers.RepeatedCompositeFieldContainer[DiskUsage]
    gpus: _containers.RepeatedCompositeFieldContainer[GpuStatus]
    gpu_error: str
    taken_at: float
    ollama_loaded: _containers.RepeatedCompositeFieldContainer[OllamaLoaded]
    ollama_reachable: bool
    def __init__(self, memory_total_bytes: _Optional[int] = ..., memory_available_bytes: _Optional[int] = ..., cpu_percent: _Optional[float] = ..., load_average: _Optional[_Iterable[float]] = ..., disks: _Optional[_Iterable[_Union[DiskUsage, _Mapping]]] = ..., gpus: _Optional[_Iterable[_Union[GpuStatus, _Mapping]]] = ..., gpu_error: _Optional[str] = ..., taken_at: _Optional[float] = ..., ollama_loaded: _Optional[_Iterable[_Union[OllamaLoaded, _Mapping]]] = ..., ollama_reachable: _Optional[bool] = ...) -> None: ...

class OllamaLoaded(_message.Message):
    __slots__ = ("name", "digest", "size_bytes", "vram_bytes", "expires_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    VRAM_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    digest: str
    size_bytes: int
    vram_bytes: int
    expires_at: str
    def __init__(self, name: _Optional[str] = ..., digest: _Optional[str] = ..., size_bytes: _Optional[int] = ..., vram_bytes: _Optional[int] = ..., expires_at: _Optional[str] = ...) -> None: ...
