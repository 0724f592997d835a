from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("agent_id", "name", "agent_version", "platform", "blob_port")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    BLOB_PORT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    agent_version: str
    platform: str
    blob_port: int
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., agent_version: _Optional[str] = ..., platform: _Optional[str] = ..., blob_port: _Optional[int] = ...) -> None: ...

class PieceIndexRequest(_message.Message):
    __slots__ = ("ticket", "digest", "piece_size", "piece_hashes")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PIECE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PIECE_HASHES_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    digest: str
    piece_size: int
    piece_hashes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ticket: _Optional[str] = ..., digest: _Optional[str] = ..., piece_size: _Optional[int] = ..., piece_hashes: _Optional[_Iterable[str]] = ...) -> None: ...

class PieceIndex(_message.Message):
    __slots__ = ("digest", "size", "piece_size", "hashes", "partial", "have", "piece_hash")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PIECE_SIZE_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    HAVE_FIELD_NUMBER: _ClassVar[int]
    PIECE_HASH_FIELD_NUMBER: _ClassVar[int]
    digest: str
    size: int
    piece_size: int
    hashes: _containers.RepeatedScalarFieldContainer[str]
    partial: bool
    have: _containers.RepeatedScalarFieldContainer[int]
    piece_hash: str
    def __init__(self, digest: _Optional[str] = ..., size: _Optional[int] = ..., piece_size: _Optional[int] = ..., hashes: _Optional[_Iterable[str]] = ..., partial: _Optional[bool] = ..., have: _Optional[_Iterable[int]] = ..., piece_hash: _Optional[str] = ...) -> None: ...

class ReadBlobRequest(_message.Message):
    __slots__ = ("ticket", "digest", "offset", "length")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    digest: str
    offset: int
    length: int
    def __init__(self, ticket: _Optional[str] = ..., digest: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class BlobChunk(_message.Message):
    __slots__ = ("offset", "data")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...
