"""Every schema migration of the registry, in order, in one place.

Each migration runs once, in its own transaction, and is recorded in schema_migrations.
The numbers are those existing databases carry (1, 2, 3, 20, 21, 22): never renumber one,
never change one that has shipped; add a new one at the end with a higher number.
A database that has applied a number this list does not know was written by a newer
llmesh and is refused rather than misread.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import sqlite_utils

from llmesh.common.errors import InvalidArgument
from llmesh.coordinator.registry import listing
from llmesh.coordinator.registry.facts import semver_key


def _hosts_models_versions_copies(db: sqlite_utils.Database) -> None:
    """The first schema: hosts, models, versions, their files, copies, tags, roles, tombstones, events."""
    db["hosts"].create({
        "id": str, "name": str, "hostname": str, "platform": str, "os": str, "arch": str,
        "facts_json": str, "hardware_json": str, "roots_json": str, "labels_json": str,
        "problems_json": str, "peer_address": str, "agent_version": str,
        "heartbeat_interval_s": float, "scanning": int, "first_seen": float, "last_seen": float,
    }, pk="id")
    db["hosts"].create_index(["name"], unique=True)
    db["models"].create({
        "id": int, "name": str, "origin": str, "display_name": str, "description": str,
        "created_at": float, "updated_at": float,
    }, pk="id")
    db["models"].create_index(["name"], unique=True)
    db["versions"].create({
        "id": int, "model_id": int, "number": int, "digest": str, "kind": str, "format": str,
        "source": str, "size_bytes": int, "file_count": int, "metadata_json": str,
        "base_model": str, "registered": int, "notes": str, "created_by": str,
        "created_at": float, "updated_at": float,
    }, pk="id", foreign_keys=[("model_id", "models", "id")])
    db["versions"].create_index(["digest"], unique=True)
    db["versions"].create_index(["model_id", "number"], unique=True)
    db["version_files"].create({"version_id": int, "path": str, "size": int, "digest": str},
                               pk=("version_id", "path"), foreign_keys=[("version_id", "versions", "id")])
    db["version_files"].create_index(["digest"])
    db["copies"].create({
        "id": int, "version_id": int, "host_id": str, "path": str, "state": str,
        "verified_at": float, "updated_at": float,
    }, pk="id", foreign_keys=[("version_id", "versions", "id"), ("host_id", "hosts", "id")])
    db["copies"].create_index(["host_id", "path"], unique=True)
    db["copies"].create_index(["version_id"])
    db["version_tags"].create({"version_id": int, "key": str, "value": str},
                              pk=("version_id", "key"), foreign_keys=[("version_id", "versions", "id")])
    db["version_roles"].create({"version_id": int, "role": str},
                               pk=("version_id", "role"), foreign_keys=[("version_id", "versions", "id")])
    db["tombstones"].create({"digest": str, "deleted_at": float, "deleted_by": str}, pk="digest")
    db["events"].create({
        "id": int, "ts": float, "actor": str, "action": str, "resource": str, "detail_json": str,
    }, pk="id")
    db["events"].create_index(["ts"])


def _users_tokens_certificates_audit(db: sqlite_utils.Database) -> None:
    """Security: users, join tokens, issued certificates; the event log becomes an append-only audit log."""
    db["users"].create({"name": str, "role": str, "token_hash": str, "created_at": float,
                        "created_by": str}, pk="name")
    db["users"].create_index(["token_hash"], unique=True)
    db["join_tokens"].create({"secret_hash": str, "role": str, "created_at": float, "created_by": str,
                              "expires_at": float, "used_at": float, "used_by": str}, pk="secret_hash")
    db["certificates"].create({"serial": str, "agent_id": str, "issued_at": float, "expires_at": float,
                               "revoked_at": float}, pk="serial")
    db["certificates"].create_index(["agent_id"])
    # The audit log: who (and with which role), from where, with what result.
    for column in ("role", "result", "source"):
        db["events"].add_column(column, str)
    db.execute("UPDATE events SET role = '', result = 'ok', source = ''")
    db.execute("CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events "
               "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")
    db.execute("CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events "
               "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")


def _catalog(db: sqlite_utils.Database) -> None:
    """The catalog: semver, lifecycle, locks, metrics, params, capabilities, backends, datasets, lineage,
    aliases and their history, state history."""
    for column, kind, default in (
            ("semver", "TEXT", None), ("status", "TEXT", "'ready'"), ("state", "TEXT", "'active'"),
            ("locked", "INTEGER", "0"), ("locked_digest", "TEXT", None), ("last_verified", "REAL", None),
            ("framework", "TEXT", "''"), ("hardware", "TEXT", "''"), ("duration_s", "REAL", None),
            ("cost_usd", "REAL", None), ("code_commit", "TEXT", "''"), ("extra_json", "TEXT", "'{}'")):
        suffix = f" NOT NULL DEFAULT {default}" if default is not None else ""
        db.execute(f"ALTER TABLE versions ADD COLUMN {column} {kind}{suffix}")
    db.execute("ALTER TABLE models ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE models ADD COLUMN extra_json TEXT NOT NULL DEFAULT '{}'")
    db["versions"].create_index(["model_id", "semver"], unique=True)
    for columns in (["state"], ["kind"], ["created_at"], ["base_model"], ["status"]):
        db["versions"].create_index(columns)
    # Search reads these by value (covering indexes: the version id comes with the entry)
    # and probes them by version (a WITHOUT ROWID table is one b-tree seek per probe).
    db["version_tags"].create_index(["key", "value", "version_id"])
    db["version_tags"].create_index(["version_id", "key", "value"])
    db["version_roles"].create_index(["role", "version_id"])
    db["copies"].create_index(["host_id", "version_id"])
    for table, columns, indexes in (
            ("version_metrics", "key TEXT NOT NULL, value REAL", [["key", "value"]]),
            ("version_params", "key TEXT NOT NULL, value TEXT, num REAL", [["key", "num"], ["key", "value"]]),
            ("version_capabilities", "key TEXT NOT NULL, value INTEGER", [["key", "value"]]),
            ("version_backends", "backend TEXT NOT NULL", [["backend"]]),
            ("version_datasets", "name TEXT NOT NULL, digest TEXT", [["name"]])):
        key = "backend" if table == "version_backends" else "name" if table == "version_datasets" else "key"
        db.execute(f"CREATE TABLE [{table}] (version_id INTEGER NOT NULL REFERENCES versions(id), {columns}, "
                   f"PRIMARY KEY (version_id, {key})) WITHOUT ROWID")
        for index in indexes:
            db[table].create_index(index)
    db["lineage"].create({"child_id": int, "parent_id": int, "relation": str, "created_at": float},
                         pk=("child_id", "parent_id"),
                         foreign_keys=[("child_id", "versions", "id"), ("parent_id", "versions", "id")])
    db["lineage"].create_index(["parent_id"])
    db["aliases"].create({"model_id": int, "alias": str, "version_id": int, "protected": int,
                          "updated_at": float, "updated_by": str},
                         pk=("model_id", "alias"),
                         foreign_keys=[("model_id", "models", "id"), ("version_id", "versions", "id")])
    db["aliases"].create_index(["version_id"])
    db["aliases"].create_index(["alias", "version_id"])
    db["alias_history"].create({"id": int, "model_id": int, "model_name": str, "alias": str,
                                "from_number": int, "to_number": int, "action": str, "protected": int,
                                "actor": str, "reason": str, "ts": float}, pk="id")
    db["alias_history"].create_index(["model_id", "alias", "id"])
    db["state_history"].create({"id": int, "version_id": int, "from_state": str, "to_state": str,
                                "actor": str, "reason": str, "ts": float}, pk="id")
    db["state_history"].create_index(["version_id"])


def _jobs(db: sqlite_utils.Database) -> None:
    """Transfer jobs (they live here, not in memory, so they survive restarts)."""
    db["jobs"].create({
        "id": str, "kind": str, "state": str, "version_id": int, "dest_host_id": str, "source_host": str,
        "dest_dir": str, "bytes_total": int, "bytes_done": int, "bytes_reused": int, "bytes_received": int,
        "error": str, "copy_path": str, "created_by": str, "created_at": float, "updated_at": float,
        "started_at": float, "finished_at": float, "detail_json": str,
    }, pk="id")
    db["jobs"].create_index(["state"])


def _deployments(db: sqlite_utils.Database) -> None:
    """Deployments, and jobs of other kinds (convert) with their detail."""
    db["deployments"].create({
        "id": str, "version_id": int, "host_id": str, "backend": str, "served_name": str, "endpoint": str,
        "port": int, "state": str, "adapter_version_id": int, "created_by": str, "created_at": float,
        "stopped_at": float, "error": str, "restarts": int,
    }, pk="id")
    db["deployments"].create_index(["host_id", "state"])
    db["jobs"].add_column("kind_detail_json", str)


def _version_labels_and_semver_order(db: sqlite_utils.Database) -> None:
    """A version's label kept beside its number (an imported afs "v2b"), and a key that sorts
    semver labels as versions (1.10.0 after 1.9.0), filled for the labels already there."""
    db.execute("ALTER TABLE versions ADD COLUMN label TEXT")
    db.execute("ALTER TABLE versions ADD COLUMN semver_key TEXT")
    db["versions"].create_index(["model_id", "label"], unique=True)
    rows = list(db.query("SELECT id, semver FROM versions WHERE semver IS NOT NULL"))
    db.conn.executemany("UPDATE versions SET semver_key = ? WHERE id = ?",
                        [(semver_key(r["semver"]), r["id"]) for r in rows])


def _job_sources_and_partials(db: sqlite_utils.Database) -> None:
    """Per job: the sources dropped from it and why (a drifted copy), and whether its
    destination still has partial blobs of it to delete (a cancelled or failed job)."""
    db["jobs"].add_column("dropped_json", str, not_null_default="{}")
    db["jobs"].add_column("partials_pending", int, not_null_default=0)


def _copy_found_digest(db: sqlite_utils.Database) -> None:
    """What a scan found at a copy's path when it is not the version's content: a locked
    version's copy that changed stays that version's (drifted) copy, and a scan that finds the
    version's digest there again can tell that the agent hashed the file anew."""
    db.execute("ALTER TABLE copies ADD COLUMN found_digest TEXT")


def _copies_by_host_and_state(db: sqlite_utils.Database) -> None:
    """A host's copies in a state (its verified ones, those not missing) without reading the others."""
    db["copies"].create_index(["host_id", "state"], if_not_exists=True)


def _host_uptime_and_protocol(db: sqlite_utils.Database) -> None:
    """Per host: when its agent process started (for `meshctl hosts`' uptime) and the wire
    protocol it speaks; hosts that have not said hello since are 0 and 1.0."""
    db["hosts"].add_column("started_at", float, not_null_default=0.0)
    db["hosts"].add_column("protocol", str, not_null_default="1.0")
def _webhooks(db: sqlite_utils.Database) -> None:
    """Webhooks, their deliveries (one per event and hook, retried until delivered or given up) and
    each attempt, and how far into the event log deliveries have been queued (from now on: the
    events before this migration are not delivered)."""
    db["hooks"].create({"id": str, "url": str, "events_json": str, "secret": str, "after_event_id": int,
                        "created_by": str, "created_at": float}, pk="id")
    db["hook_deliveries"].create({
        "id": str, "hook_id": str, "url": str, "event": str, "event_id": int, "payload": str, "state": str,
        "attempts": int, "next_at": float, "created_at": float, "updated_at": float}, pk="id")
    db["hook_deliveries"].create_index(["state", "next_at"])
    db["hook_attempts"].create({"id": int, "delivery_id": str, "attempt": int, "ts": float, "http_status": int,
                                "error": str, "outcome": str}, pk="id")
    db["hook_attempts"].create_index(["delivery_id"])
    db["hook_cursor"].create({"id": int, "last_event_id": int}, pk="id")
    last = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
    db["hook_cursor"].insert({"id": 1, "last_event_id": last})


def _scrubs(db: sqlite_utils.Database) -> None:
    """Integrity scrubs: per host, each run's progress, what it read and how many copies drifted."""
    db["scrubs"].create({
        "id": str, "host_id": str, "trigger": str, "state": str, "requested_by": str,
        "started_at": float, "finished_at": float, "updated_at": float, "copies_total": int,
        "copies_checked": int, "bytes_total": int, "bytes_done": int, "drifted": int, "error": str,
        "drifted_json": str,
    }, pk="id")
    db["scrubs"].create_index(["host_id", "started_at"])


def _deployment_sources(db: sqlite_utils.Database) -> None:
    """What a deployment was asked for: the version named (before conversion), and the alias
    it follows (empty: it stays on its version); and the quality gates of environments."""
    db.execute("ALTER TABLE deployments ADD COLUMN source_version_id INTEGER")
    db.execute("ALTER TABLE deployments ADD COLUMN alias TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE deployments ADD COLUMN quant TEXT NOT NULL DEFAULT ''")
    db["deployments"].create_index(["source_version_id"])
    # Quality gates per environment (an alias), in the search language.
    db["gates"].create({"environment": str, "expression": str, "updated_by": str, "updated_at": float},
                       pk="environment")


def _job_rate_limits(db: sqlite_utils.Database) -> None:
    """Per job: its bandwidth limit (pull --limit) and each source's rate as last reported; per file
    digest and piece size: its piece index id."""
    db["jobs"].add_column("rate_limit", int, not_null_default=0)
    db["jobs"].add_column("rates_json", str, not_null_default="[]")
    db["jobs"].add_column("swarm", str, not_null_default="")  # the fan-out (pull --to h1,h2) it belongs to
    # A file's piece index, as the agent that hashed it reported it (made in the pass that made the
    # digest): a pull verifies each piece against it and never hashes the whole file again.
    db["piece_indexes"].create({"digest": str, "piece_size": int, "index_id": str, "host_id": str, "at": float},
                               pk=("digest", "piece_size"))


def _environments(db: sqlite_utils.Database) -> None:
    """The environments a version is promoted through (each an alias with an optional gate):
    development, staging, production by default; `meshctl env add|rm` changes them."""
    db["environments"].create({"name": str, "position": int, "created_by": str, "created_at": float}, pk="name")
    now = time.time()
    names = ["development", "staging", "production"]
    names += [r["environment"] for r in db.query("SELECT environment FROM gates ORDER BY environment")
              if r["environment"] not in names]
    db["environments"].insert_all([{"name": n, "position": i, "created_by": "", "created_at": now}
                                   for i, n in enumerate(names)])


def _version_listing(db: sqlite_utils.Database) -> None:
    """Each version's listing row, kept ready (listing.py; its triggers are put in place on every open)."""
    listing.create_table(db.conn)


def _listing_chunks(db: sqlite_utils.Database) -> None:
    """Each listing row's wire chunk (listing.py)."""
    listing.add_chunks(db.conn)


Migration = Callable[[sqlite_utils.Database], None]

# number -> migration, applied in ascending order.
MIGRATIONS: dict[int, Migration] = {
    1: _hosts_models_versions_copies,
    2: _users_tokens_certificates_audit,
    3: _catalog,
    20: _jobs,
    21: _deployments,
    22: _version_labels_and_semver_order,
    24: _job_sources_and_partials,
    25: _copy_found_digest,
    26: _copies_by_host_and_state,
    27: _host_uptime_and_protocol,
    28: _webhooks,
    29: _scrubs,
    31: _deployment_sources,
    32: _job_rate_limits,
    33: _environments,
    35: _version_listing,
    36: _listing_chunks,
}
assert list(MIGRATIONS) == sorted(MIGRATIONS), "write migrations in ascending order"
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(db: sqlite_utils.Database) -> None:
    """Apply the migrations this database lacks; refuse one from a newer llmesh."""
    if "schema_migrations" not in db.table_names():
        db["schema_migrations"].create({"version": int, "applied_at": float}, pk="version")
    applied = {r["version"] for r in db["schema_migrations"].rows}
    newer = [v for v in applied if v not in MIGRATIONS]
    if newer:
        raise InvalidArgument(
            f"registry schema version {max(newer)} is newer than this coordinator "
            f"understands ({SCHEMA_VERSION}); upgrade llmesh")
    for version, migration in MIGRATIONS.items():
        if version in applied:
            continue
        with db.atomic():
            migration(db)
            db["schema_migrations"].insert({"version": version, "applied_at": time.time()})


def schema_version(db: sqlite_utils.Database) -> int:
    """The newest migration this database has applied."""
    return max(r["version"] for r in db["schema_migrations"].rows)
