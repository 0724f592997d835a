"""The kinds of path llmesh keeps, and the checks on them (no file system here).

A *file path* names a file inside a version: relative, '/'-separated, never leaving the
version's directory (no '..', no absolute path, no drive letter or UNC share). A *copy
path* is where a host holds a copy, in that host's own syntax: an absolute POSIX path,
or an absolute Windows path (``D:\\models\\x``, ``D:/models/x``, ``\\\\server\\share\\x``).
Registry imports are checked against these rules before anything is written. A *model root*
is kept as its user wrote it, made absolute in its host's syntax but never resolved
(``native_root``): ``D:\\hafs_training\\models`` and ``\\\\nas\\models`` are reported as they are.
Names and references never carry a path (llmesh.common.names).
"""
from __future__ import annotations

import os
from pathlib import PurePosixPath, PureWindowsPath

from llmesh.common.errors import InvalidArgument
from llmesh.common.names import shown

MAX_PATH_CHARS = 4096


def _plain_text(text, what: str) -> str:
    if not isinstance(text, str) or not text:
        raise InvalidArgument(f"{what} {shown(text)} is missing or not text")
    if len(text) > MAX_PATH_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidArgument(f"{what} {shown(text)} is too long or holds control characters")
    return text


def check_file_path(text) -> str:
    """A file's path inside a version, as every manifest writes it."""
    _plain_text(text, "file path")
    parts = text.split("/")
    if ("\\" in text or PurePosixPath(text).is_absolute() or PureWindowsPath(text).drive
            or any(p in ("", ".", "..") for p in parts)):
        raise InvalidArgument(f"file path {shown(text)} must be relative and '/'-separated, "
                              "without '..', empty parts, a drive letter or a share")
    return text


def is_windows_platform(platform: str) -> bool:
    return (platform or "").lower().startswith("win")


def check_copy_path(text, platform: str = "") -> str:
    """Where a host holds a copy: an absolute path in that host's syntax (either syntax when
    the platform is not known), without '.' or '..' parts."""
    _plain_text(text, "copy path")
    windows = PureWindowsPath(text)
    windows_absolute = bool(windows.drive) and bool(windows.root)
    allowed = (windows_absolute if is_windows_platform(platform)
               else text.startswith("/") if platform else text.startswith("/") or windows_absolute)
    if not allowed or any(p in (".", "..") for p in text.replace("\\", "/").split("/")):
        syntax = "Windows" if is_windows_platform(platform) else "POSIX" if platform else "POSIX or Windows"
        raise InvalidArgument(f"copy path {shown(text)} must be an absolute {syntax} path without '.' or '..'")
    return text


def native_copy_path(text: str, platform: str) -> str:
    """The path as that host's agent reports it: Windows agents write backslashes. Only the
    separators change (a share root ``\\\\nas\\models`` gains no trailing backslash)."""
    return text.replace("/", "\\") if is_windows_platform(platform) else text


def native_root(text: str, pathmod=os.path) -> str:
    """A model root in its host's own form: absolute, with the host's separators, ``~`` expanded,
    and never resolved. Resolving would turn a mapped drive into its UNC path, a junction or
    symlink into its target and a name into the case on disk, so a Windows root would no longer
    read as its user wrote it. (``pathmod``: ``ntpath`` or ``posixpath`` to see another host's
    form; what the agent reads is confined by real path separately, see confinement.py.)"""
    return pathmod.abspath(pathmod.expanduser(text))
