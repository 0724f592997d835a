"""Rewrite calls on the registry for its split into repositories (temporary: delete after the merge).

The Registry used to be one class of ten mixins; its methods now live on repositories that
the Registry holds as attributes. This rewrites ``<expr>registry.<method>`` into
``<expr>registry.<repository>.<method>`` (and the three old private helpers into their public
names on ``registry.db``) in the files given:

    python scripts/registry_calls.py coordinator/core.py coordinator/*/service.py ...
    python scripts/registry_calls.py --name reg tests/test_x.py   # an object spelled ``reg``

Only code is rewritten (Python's tokenizer skips strings and comments). A name already
followed by ``.`` (``registry.search.search``) is left alone, so running it twice changes
nothing. It prints each change, and warns about a Registry bound to a name it does not
rewrite.
"""
from __future__ import annotations

import argparse
import io
import re
import sys
import tokenize
from pathlib import Path

# method -> repository attribute of Registry
REPOSITORY = {
    "hosts": ["host_hello", "host_heartbeat", "host_seen", "host_by_name", "list_hosts"],
    "security": ["add_user", "user_by_token", "list_users", "remove_user", "has_users", "add_join_token",
                 "use_join_token", "record_certificate", "revoked_serials", "agent_revoked", "remove_host", "audit"],
    "versions": ["resolve", "get_version", "version_by_id", "resolve_alias", "version_numbers"],
    "search": ["search", "explain"],
    "lifecycle": ["set_state", "state_history"],
    "aliases": ["set_alias", "remove_alias", "rollback", "alias_history"],
    "models": ["apply_inventory", "register", "list_versions", "delete"],
    "catalog": ["create_draft", "register_run", "edit", "score"],
    "reports": ["tree", "lineage", "adapters", "compare", "resolve_role", "summary", "events_after",
                "verification_plan", "apply_verification"],
    "exchange": ["export_all", "import_bundle"],
    "jobs": ["create_job", "job", "list_jobs", "active_jobs", "update_job", "interrupt_running_jobs",
             "create_job_of_kind", "job_detail", "transfer_sources", "version_files", "add_transferred_copy",
             "mark_drifted", "copies_on", "remove_copies"],
    "deployments": ["add_deployment", "stop_deployment", "deployment", "deployments", "running_deployments",
                    "previous_deployment", "ports_in_use", "converted_from"],
    "db": ["record_event", "events", "version_ref"],
}
# old name -> new path below registry
MOVES = {method: f"{repo}.{method}" for repo, methods in REPOSITORY.items() for method in methods}
MOVES.update({"_ref": "db.version_ref", "_one": "db.one", "_tx": "db.atomic"})
assert sum(len(m) for m in REPOSITORY.values()) == len(MOVES) - 3, "a method is listed twice"


def rewrite(source: str, names: tuple[str, ...]) -> tuple[str, list[tuple[int, str, str]]]:
    """The rewritten source and [(line, old, new)]."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    edits: dict[int, list[tuple[int, str, str]]] = {}  # row -> [(col of the method name, old, new)]
    statement_start, in_import = True, False
    for i in range(len(tokens) - 3):
        holder, dot, method, after = tokens[i:i + 4]
        if holder.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            statement_start = True
            continue
        if holder.type in (tokenize.NL, tokenize.COMMENT):
            continue
        if statement_start:  # `from llmesh.coordinator.registry.search import ...` names a module
            in_import, statement_start = holder.string in ("from", "import"), False
        if (not in_import and holder.type == tokenize.NAME and holder.string in names and dot.string == "."
                and method.type == tokenize.NAME and method.string in MOVES and after.string != "."):
            edits.setdefault(method.start[0], []).append((method.start[1], method.string, MOVES[method.string]))
    lines = source.splitlines(keepends=True)
    changes = []
    shifts: dict[int, list[tuple[int, int]]] = {}  # row -> [(column in the new line, width added there)]
    for row, row_edits in edits.items():
        line, offset = lines[row - 1], 0
        for col, old, new in sorted(row_edits):
            col += offset
            assert line[col:col + len(old)] == old
            line = line[:col] + new + line[col + len(old):]
            shifts.setdefault(row, []).append((col, len(new) - len(old)))
            offset += len(new) - len(old)
            changes.append((row, old, new))
        lines[row - 1] = line
    return _realign("".join(lines), shifts), sorted(changes)


def _realign(source: str, shifts: dict[int, list[tuple[int, int]]]) -> str:
    """Keep continuation lines aligned with an open bracket that a rewrite moved right:
    a line indented to the bracket's old column moves to its new one."""
    done: set[int] = set()
    for _ in range(50):  # a moved line can move the brackets of the lines below it
        lines = source.splitlines(keepends=True)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        stack: list[tuple[int, int, bool]] = []  # open brackets: (row, col, visual)
        last_row, moved = 0, {}
        for i, token in enumerate(tokens):
            if token.type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                continue
            row, col = token.start
            if row != last_row and stack and row not in done:
                bracket_row, bracket_col, visual = stack[-1]
                if visual and bracket_row < row and bracket_row in shifts:
                    old_col = bracket_col - sum(width for at, width in shifts[bracket_row] if at <= bracket_col)
                    indent = len(lines[row - 1]) - len(lines[row - 1].lstrip(" "))
                    if indent == old_col + 1 and old_col != bracket_col:
                        moved[row] = bracket_col + 1 - indent
            last_row = token.end[0]
            if token.type == tokenize.OP and token.string in "([{":
                following = tokens[i + 1]
                stack.append((row, col, following.type not in (tokenize.NL, tokenize.COMMENT)
                              and following.start[0] == row))
            elif token.type == tokenize.OP and token.string in ")]}":
                stack.pop()
        if not moved:
            return source
        for row, width in moved.items():
            lines[row - 1] = " " * width + lines[row - 1] if width > 0 else lines[row - 1][-width:]
            shifts.setdefault(row, []).append((0, width))
            done.add(row)
        source = "".join(lines)
    return source


def other_spellings(source: str, names: tuple[str, ...]) -> list[tuple[int, str]]:
    """Lines that bind a Registry to a name this run does not rewrite."""
    found = []
    for number, line in enumerate(source.splitlines(), 1):
        match = re.search(r"(\w+)\s*(?:,\s*\w+\s*)?=\s*Registry\(", line)
        if match and match.group(1) not in names:
            found.append((number, line.strip()))
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--name", action="append", default=[],
                        help="another spelling of the registry object (default: registry)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    args = parser.parse_args(argv)
    names = ("registry", *args.name)
    total = 0
    for path in args.files:
        with open(path, encoding="utf-8", newline="") as f:  # keep the file's line endings
            source = f.read()
        new, changes = rewrite(source, names)
        for row, old, moved in changes:
            print(f"{path}:{row}: .{old} -> .{moved}")
        for row, line in other_spellings(source, names):
            print(f"{path}:{row}: warning: a Registry under another name (rerun with --name): {line}")
        if changes and not args.dry_run:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(new)
        total += len(changes)
    print(f"{total} call(s) rewritten in {len(args.files)} file(s)" + (" (dry run)" if args.dry_run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
