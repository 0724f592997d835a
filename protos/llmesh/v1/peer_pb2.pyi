from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("agent_id", "name", "agent_version", "platform")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    agent_version: str
    platform: str
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., agent_version: _Optional[str] = ..., platform: _Optional[str] = ...) -> None: ...
