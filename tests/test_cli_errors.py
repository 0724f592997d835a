"""meshctl's usage mistakes: one line naming the command and what was wrong, exit 2, no usage
block and no traceback; --help and --version still print in full and exit 0."""
from __future__ import annotations

import subprocess
import sys

import pytest


def meshctl(tmp_path, *args):
    env = {"LLMESH_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "llmesh.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.mark.parametrize("args, expected", [
    (("events", "--limit", "-3"), "error: meshctl events: Invalid value for '--limit': -3"),
    (("models", "pull"), "error: meshctl models pull: Missing argument"),
    (("nosuch",), "error: meshctl: No such command 'nosuch'"),
    (("models", "list", "--bogus"), "error: meshctl models list: No such option '--bogus'"),
    (("agent", "install", "--platform", "bogus", "--dry-run"), "error: meshctl agent install: Invalid value"),
])
def test_a_usage_mistake_is_one_line_and_exit_2(tmp_path, args, expected):
    result = meshctl(tmp_path, *args)
    assert result.returncode == 2, result
    assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_help_version_and_a_bare_group_still_print_in_full(tmp_path):
    help_text = meshctl(tmp_path, "events", "--help")
    assert help_text.returncode == 0 and help_text.stdout.startswith("Usage: meshctl events")
    assert meshctl(tmp_path, "--version").stdout.startswith("meshctl, version ")
    bare = meshctl(tmp_path, "models")
    assert bare.returncode == 2 and "Commands:" in bare.stderr and "list" in bare.stderr


def test_an_expected_failure_is_one_error_line_and_exit_1(tmp_path):
    result = meshctl(tmp_path, "hosts")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no coordinator found") and result.stderr.count("\n") == 1
