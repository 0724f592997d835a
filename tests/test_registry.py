"""The registry module on its own: SQLite on disk, no processes."""
import sqlite3

import pytest

from llmesh.common.errors import AlreadyExists, InvalidArgument, NotFound
from llmesh.common.hashing import format_digest, manifest_digest
from llmesh.common.names import parse_ref
from llmesh.coordinator.registry import MIGRATIONS, SCHEMA_VERSION, Registry


class F:  # a manifest entry
    def __init__(self, path, size, digest):
        self.path, self.size, self.digest = path, size, digest


def found(path, name="tiny", content="a", kind="model"):
    files = [{"path": "model.safetensors", "size": 10, "digest": format_digest(content * 64)},
             {"path": "config.json", "size": 2, "digest": format_digest("c" * 64)}]
    digest = manifest_digest(F(**f) for f in files)
    return {"path": path, "name": name, "kind": kind, "format": "safetensors", "source": "dir",
            "files": files, "metadata": {"architecture": "LlamaForCausalLM"}, "digest": digest,
            "size_bytes": 12}


def hello(agent_id, name):
    return {"agent_id": agent_id, "name": name, "facts": {"platform": "linux"}, "roots": ["/m"],
            "heartbeat_interval_s": 1.0}


@pytest.fixture
def registry(tmp_path):
    registry = Registry(tmp_path / "registry.db")
    registry.hosts.host_hello(hello("id-a", "a"))
    registry.hosts.host_hello(hello("id-b", "b"))
    yield registry
    registry.close()


NOBODY = frozenset()


def test_schema_is_migrated_once_and_survives_reopen(tmp_path):
    registry = Registry(tmp_path / "r.db")
    registry.hosts.host_hello(hello("x", "x"))
    registry.close()
    registry = Registry(tmp_path / "r.db")
    assert registry.schema_version() == SCHEMA_VERSION
    assert [h["name"] for h in registry.hosts.list_hosts(NOBODY)] == ["x"]
    assert {m["version"] for m in registry.db.query("SELECT * FROM schema_migrations")} == set(MIGRATIONS)


def test_newer_schema_is_refused(tmp_path):
    Registry(tmp_path / "r.db").close()
    conn = sqlite3.connect(tmp_path / "r.db")
    conn.execute("INSERT INTO schema_migrations VALUES (99, 0)")
    conn.commit()
    conn.close()
    with pytest.raises(InvalidArgument, match="newer"):
        Registry(tmp_path / "r.db")


def test_same_content_on_two_hosts_is_one_version_with_two_copies(registry):
    registry.models.apply_inventory("id-a", [found("/m/tiny")], complete_paths={"/m/tiny"})
    registry.models.apply_inventory("id-b", [found("D:\\models\\tiny")], complete_paths={"D:\\models\\tiny"})
    [version] = registry.models.list_versions(NOBODY)
    assert version["version"] == 1
    assert sorted((c["host"], c["path"], c["state"]) for c in version["copies"]) == [
        ("a", "/m/tiny", "verified"), ("b", "D:\\models\\tiny", "verified")]


def test_different_content_under_one_name_is_a_new_version(registry):
    registry.models.apply_inventory("id-a", [found("/m/tiny", content="a")])
    registry.models.apply_inventory("id-b", [found("/n/tiny", content="b")])
    assert [v["version"] for v in registry.models.list_versions(NOBODY, name="tiny")] == [1, 2]


def test_complete_scan_marks_vanished_copies_missing_and_they_come_back(registry):
    registry.models.apply_inventory("id-a", [found("/m/tiny"), found("/m/other", "other", "b")],
                                    complete_paths={"/m/tiny", "/m/other"})
    result = registry.models.apply_inventory("id-a", [found("/m/tiny")], complete_paths={"/m/tiny"})
    assert result["missing"] == 1
    other = registry.versions.get_version(parse_ref("other"), NOBODY)
    assert other["copies"][0]["state"] == "missing"
    registry.models.apply_inventory("id-a", [found("/m/other", "other", "b")], complete_paths={"/m/tiny", "/m/other"})
    assert registry.versions.get_version(parse_ref("other"), NOBODY)["copies"][0]["state"] == "verified"


def test_a_second_agent_cannot_take_a_held_name(registry):
    with pytest.raises(AlreadyExists, match="already held"):
        registry.hosts.host_hello(hello("id-other", "a"))
    assert {h["id"] for h in registry.hosts.list_hosts(NOBODY)} == {"id-a", "id-b"}


def test_register_moves_a_discovered_version_to_the_given_name(registry):
    registry.models.apply_inventory("id-a", [found("/m/tiny")])
    version_id, created, _ = registry.models.register("id-a", found("/m/tiny"), name="llama-ft", roles=["asm"],
                                                      tags={"production": "true"}, base_model="meta/llama")
    assert created
    assert [v["name"] for v in registry.models.list_versions(NOBODY)] == ["llama-ft"]
    v = registry.versions.get_version(parse_ref("llama-ft:1"), NOBODY)
    assert (v["roles"], v["tags"], v["base_model"], v["registered"]) == (
        ["asm"], {"production": "true"}, "meta/llama", True)


def test_registering_identical_content_returns_the_existing_version(registry):
    first, created, _ = registry.models.register("id-a", found("/m/tiny"), name="llama-ft")
    again, created_again, message = registry.models.register("id-b", found("/x/tiny"), name="other-name")
    assert created and not created_again and first == again
    assert "already registered as llama-ft:1" in message
    assert len(registry.versions.get_version(parse_ref("llama-ft"), NOBODY)["copies"]) == 2


def test_failed_registration_leaves_no_rows(registry):
    before = {t: registry.db[t].count for t in ("models", "versions", "version_files", "copies")}
    with pytest.raises(Exception):
        registry.models.register("no-such-host", found("/m/tiny"), name="llama-ft")  # copy insert violates the FK
    assert {t: registry.db[t].count for t in before} == before


def test_delete_removes_entries_and_inventory_does_not_bring_them_back(registry):
    registry.models.apply_inventory("id-a", [found("/m/tiny")])
    assert registry.models.delete(parse_ref("tiny")) == ["tiny:1"]
    registry.models.apply_inventory("id-a", [found("/m/tiny")], complete_paths={"/m/tiny"})
    assert registry.models.list_versions(NOBODY) == []
    registry.models.register("id-a", found("/m/tiny"), name="tiny")  # registering again clears the tombstone
    assert [v["name"] for v in registry.models.list_versions(NOBODY)] == ["tiny"]


def test_unknown_names_and_versions_say_what_exists(registry):
    registry.models.apply_inventory("id-a", [found("/m/tiny")])
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        registry.versions.get_version(parse_ref("nope"), NOBODY)
    with pytest.raises(NotFound, match=r"no version 7 \(versions: 1\)"):
        registry.versions.get_version(parse_ref("tiny:7"), NOBODY)
    with pytest.raises(NotFound, match="unknown host 'zz'"):
        registry.hosts.host_by_name("zz")


def test_status_needs_an_open_link_and_recent_heartbeat(registry):
    import time
    now = time.time()
    registry.hosts.host_heartbeat("id-a", {}, False, now=now)
    status = {h["name"]: h["status"] for h in registry.hosts.list_hosts(frozenset({"id-a"}), now=now + 1)}
    assert status == {"a": "online", "b": "offline"}
    status = {h["name"]: h["status"] for h in registry.hosts.list_hosts(frozenset({"id-a"}), now=now + 3.5)}
    assert status["a"] == "offline"  # three 1-second intervals without a beat


def test_the_audit_log_is_append_only(registry):
    registry.db.record_event("someone", "model.register", "x:1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        registry.db.execute("UPDATE events SET actor = 'nobody'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        registry.db.execute("DELETE FROM events")
    assert [e["actor"] for e in registry.security.audit(actor="someone")] == ["someone"]
