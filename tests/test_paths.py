"""Paths as each host writes them: Windows roots (``D:\\...``, UNC ``\\\\nas\\...``) stay in their
native form from the agent's command line to what the mesh reports, and no name or reference
carries a path. CI has no Windows: the Windows forms are checked with ntpath / PureWindowsPath,
which are what a Windows interpreter's os.path and Path are."""
from __future__ import annotations

import ntpath
import os
import posixpath
from pathlib import PureWindowsPath

import pytest

from llmesh.common.errors import InvalidArgument
from llmesh.common.names import check_name, parse_ref, sanitize_name
from llmesh.common.paths import check_copy_path, check_file_path, native_copy_path, native_root

WINDOWS_ROOTS = [r"D:\hafs_training\models", r"\\nas\models", r"\\nas\models\llm", r"C:\Users\trainer\models"]


@pytest.mark.parametrize("root", WINDOWS_ROOTS)
def test_a_windows_root_is_kept_exactly_as_written(root):
    assert native_root(root, ntpath) == root
    assert check_copy_path(root, "windows") == root
    assert native_copy_path(root, "windows") == root
    # A copy under it is reported under the root as written (the agent joins with os.path).
    copy = ntpath.join(native_root(root, ntpath), "majora-v3")
    assert copy.startswith(root) and check_copy_path(copy, "win32") == copy


def test_a_windows_root_gets_native_separators_and_nothing_else():
    assert native_root("D:/hafs_training/models/", ntpath) == r"D:\hafs_training\models"
    assert native_root("//nas/models/llm", ntpath) == r"\\nas\models\llm"
    assert native_copy_path("D:/hafs_training/models/x", "windows") == r"D:\hafs_training\models\x"
    assert native_copy_path("//nas/models/x", "windows") == r"\\nas\models\x"
    # Never a letter-case change, never a drive turned into a share or back.
    assert native_root(r"d:\Models\MiXeD", ntpath) == r"d:\Models\MiXeD"


def test_a_posix_root_is_absolute_but_not_resolved(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert native_root(str(tmp_path / "link"), posixpath) == str(tmp_path / "link")
    assert native_root(str(tmp_path / "link" / ".." / "real"), posixpath) == str(real)
    assert native_root("/srv/models/", posixpath) == "/srv/models"
    relative = native_root("models", os.path)
    assert os.path.isabs(relative) and relative == os.path.join(os.getcwd(), "models")


@pytest.mark.parametrize("path, platform", [
    ("relative\\x", "windows"), (r"D:models\x", "windows"), ("/srv/models", "windows"),
    (r"D:\models\..\secrets", "windows"), (r"D:\models\x", "linux"), ("models/x", "linux"),
    ("/srv/../etc", ""), (r"\\nas\models\.\x", "windows"),
])
def test_copy_paths_in_the_wrong_syntax_or_climbing_are_refused(path, platform):
    with pytest.raises(InvalidArgument, match="copy path"):
        check_copy_path(path, platform)


@pytest.mark.parametrize("path", [
    r"D:\models\x.gguf", "D:/x.gguf", r"\\nas\models\x.gguf", "//nas/models/x", "/etc/passwd",
    r"sub\x.gguf", "../x", "a/../b", "a//b", "C:x.gguf",
])
def test_a_file_path_inside_a_version_never_carries_a_drive_share_or_climb(path):
    with pytest.raises(InvalidArgument, match="file path"):
        check_file_path(path)
    assert check_file_path("sub/x.gguf") == "sub/x.gguf"


@pytest.mark.parametrize("raw, name", [
    (r"D:\hafs_training\models\majora", "majora"),
    (r"\\nas\models\tiny-llama", "tiny-llama"),
    ("//nas/models/tiny-llama", "tiny-llama"),
    ("C:/runs/majora v3", "majora-v3"),
    ("/srv/models/majora", "majora"),
    ("D:\\", "model"),
    ("org/name", "org/name"),          # a Hub repo id keeps its namespace
    ("llama:7b", "llama-7b"),
    ("x:7b", "x-7b"),                  # a one-letter name and a tag, not a drive
])
def test_a_name_made_from_a_path_is_its_last_part(raw, name):
    made = sanitize_name(raw)
    assert made == name and check_name(made) == made
    assert "\\" not in made and ":" not in made and not PureWindowsPath(made).drive


@pytest.mark.parametrize("ref", [r"D:\models\x", r"\\nas\models\x", "/srv/models/x", "models\\x",
                                 r"D:\models\x:3", "C:x"])
def test_a_reference_that_is_a_path_is_refused(ref):
    with pytest.raises(InvalidArgument):
        parse_ref(ref)

