"""Listing rows kept ready (coordinator/registry/listing.py): after every kind of write, a listing
equals the versions built afresh from their tables, and the same listing joined from the kept wire
chunks (what the coordinator answers the SDK with) reads the same. Each test lists first, so the
rows are kept before the change (a stale row would show), then changes one thing and lists again."""
import sqlite3
import time

import pytest
from test_registry import found, hello

from llmesh.common import columns
from llmesh.common.names import parse_ref
from llmesh.coordinator.listing_chunks import ENCODER, fill_columns
from llmesh.coordinator.registry import ChunkEncoder, Registry
from llmesh.v1 import mesh_pb2 as pb

NOBODY = frozenset()


@pytest.fixture
def registry(tmp_path):
    registry = Registry(tmp_path / "registry.db", ENCODER)
    registry.hosts.host_hello(hello("id-a", "a"))
    registry.hosts.host_hello(hello("id-b", "b"))
    registry.models.register("id-a", found("/m/base", "base", "b"), roles=["general"], tags={"team": "x"})
    registry.models.register("id-a", found("/m/tiny", "tiny", "t1"), roles=["asm"], tags={"production": "true"})
    registry.models.apply_inventory("id-b", [found("/m/tiny2", "tiny", "t2")])
    yield registry
    registry.close()


def kept(registry) -> int:
    return registry.db.one("SELECT COUNT(*) AS n FROM version_listing", [])["n"]


def listed(registry, connected=NOBODY) -> list[dict]:
    """A listing, checked against the versions built afresh; every row is kept afterwards."""
    versions = registry.models.list_versions(connected)
    ids = [registry.versions.resolve(parse_ref(f"{v['name']}:{v['version']}")) for v in versions]
    assert versions == registry.versions.built_afresh(ids, connected)
    assert kept(registry) == len(versions)
    if registry.versions.chunk_encoder is not None:
        assert by_chunks(registry, connected) == by_column(versions)
    return versions


def by_column(versions: list[dict]) -> list[dict]:
    """The versions as the SDK reads them when the coordinator builds their columns from dicts."""
    message = columns.to_columns(pb.ModelVersionColumns, pb.ModelVersion, versions)
    return columns.from_columns(pb.ModelVersionColumns.FromString(message.SerializeToString()), pb.ModelVersion)


def by_chunks(registry, connected=NOBODY) -> list[dict]:
    """The same listing as the coordinator answers it: kept chunks joined, copies read now."""
    message = pb.ModelVersionColumns()
    fill_columns(message, registry.models.list_versions(connected, as_chunks=True))
    return columns.from_columns(pb.ModelVersionColumns.FromString(message.SerializeToString()), pb.ModelVersion)


def chunked(registry, chunk_format: int = ENCODER.format) -> int:
    return registry.db.one("SELECT COUNT(*) AS n FROM version_listing WHERE chunk IS NOT NULL "
                           "AND chunk_format = ?", [chunk_format])["n"]


def one(registry, ref: str, connected=NOBODY) -> dict:
    return next(v for v in listed(registry, connected) if f"{v['name']}:{v['version']}" == ref)


def test_rows_are_kept_and_read_back_equal(registry):
    listed(registry)
    assert kept(registry) == 3
    assert [c["host"] for c in one(registry, "tiny:1")["copies"]] == ["a"]


def test_tags_roles_notes_and_states_show_at_once(registry):
    listed(registry)
    registry.catalog.edit(parse_ref("tiny:1"), {"tags": {"production": "false"}, "roles": ["caption"],
                                               "remove_roles": ["asm"], "notes": "n"})
    version = one(registry, "tiny:1")
    assert (version["tags"], version["roles"], version["notes"]) == ({"production": "false"}, ["caption"], "n")
    registry.catalog.edit(parse_ref("tiny:1"), {"remove_tags": ["production"]})
    assert one(registry, "tiny:1")["tags"] == {}
    registry.lifecycle.set_state(parse_ref("tiny:1"), "deprecated")
    assert one(registry, "tiny:1")["state"] == "deprecated"
    registry.catalog.score(parse_ref("tiny:1"), {"accuracy": 0.9})
    assert one(registry, "tiny:1")["metrics"] == {"accuracy": 0.9}


def test_aliases_show_where_they_point_now(registry):
    listed(registry)
    registry.aliases.set_alias(parse_ref("tiny:1"), "staging")
    assert one(registry, "tiny:1")["aliases"] == ["staging"]
    registry.aliases.set_alias(parse_ref("tiny:2"), "staging")
    assert (one(registry, "tiny:1")["aliases"], one(registry, "tiny:2")["aliases"]) == ([], ["staging"])
    registry.aliases.remove_alias("tiny", "staging", is_admin=True)
    assert one(registry, "tiny:2")["aliases"] == []


def test_copies_follow_their_state_and_their_host(registry):
    listed(registry)
    registry.models.apply_inventory("id-a", [], complete_paths=set())  # a full scan found nothing on a
    assert {c["state"] for c in one(registry, "tiny:1")["copies"]} == {"missing"}
    registry.models.apply_inventory("id-b", [found("/m/again", "tiny", "t1")])  # a second copy, on b
    assert [c["host"] for c in one(registry, "tiny:1")["copies"]] == ["a", "b"]
    registry.hosts.host_hello(hello("id-b", "b-renamed"))  # the agent came back under another name
    assert [c["host"] for c in one(registry, "tiny:1")["copies"]] == ["a", "b-renamed"]
    assert [c["host"] for c in one(registry, "tiny:2")["copies"]] == ["b-renamed"]


def test_host_status_is_read_at_listing_time_not_kept(registry):
    now = time.time()
    registry.hosts.host_heartbeat("id-a", {}, False, now=now)
    assert one(registry, "tiny:1", frozenset({"id-a"}))["copies"][0]["host_status"] == "online"
    assert one(registry, "tiny:1")["copies"][0]["host_status"] == "offline"  # its link closed
    registry.hosts.host_heartbeat("id-a", {}, False, now=now - 3600)  # silent for an hour
    assert one(registry, "tiny:1", frozenset({"id-a"}))["copies"][0]["host_status"] == "offline"


def test_renames_moves_and_deletes_reach_the_versions_that_name_them(registry):
    registry.models.apply_inventory("id-b", [found("/m/disc", "disc", "d1")])  # discovered, not named
    listed(registry)
    child = registry.versions.resolve(parse_ref("tiny:1"))
    registry.catalog.add_parent(child, registry.versions.resolve(parse_ref("disc:1")), "finetune", time.time())
    assert one(registry, "tiny:1")["parents"] == [{"name": "disc", "version": 1, "relation": "finetune"}]
    # naming the discovered content moves its version: the child names the new place
    registry.models.register("id-b", found("/m/disc", "disc", "d1"), name="named")
    assert one(registry, "tiny:1")["parents"] == [{"name": "named", "version": 1, "relation": "finetune"}]
    registry.catalog.edit(parse_ref("base:1"), {"display_name": "The base"})
    assert one(registry, "base:1")["display_name"] == "The base"
    registry.models.delete(parse_ref("named"))
    assert one(registry, "tiny:1")["parents"] == []
    assert kept(registry) == 3


def test_rows_written_by_another_connection_are_forgotten_too(registry, tmp_path):
    listed(registry)
    conn = sqlite3.connect(tmp_path / "registry.db")  # e.g. a bulk import or a repair by hand
    conn.execute("UPDATE version_tags SET value = 'raw' WHERE key = 'team'")
    conn.commit()
    conn.close()
    assert one(registry, "base:1")["tags"] == {"team": "raw"}


def test_a_dropped_trigger_is_put_back_and_the_rows_rebuilt(tmp_path):
    registry = Registry(tmp_path / "r.db", ENCODER)
    registry.hosts.host_hello(hello("id-a", "a"))
    registry.models.register("id-a", found("/m/tiny", "tiny", "t1"), tags={"k": "v"})
    listed(registry)
    registry.close()
    conn = sqlite3.connect(tmp_path / "r.db")  # what rebuilding a table (sqlite-utils transform) does
    conn.execute("DROP TRIGGER listing_version_tags_update")
    conn.execute("UPDATE version_tags SET value = 'changed'")
    conn.commit()
    conn.close()
    registry = Registry(tmp_path / "r.db", ENCODER)
    try:
        assert one(registry, "tiny:1")["tags"] == {"k": "changed"}
        assert registry.db.one("SELECT 1 AS x FROM sqlite_master WHERE name = 'listing_version_tags_update'", [])
    finally:
        registry.close()


def test_a_rescan_keeps_the_rows_and_shows_the_new_verification(registry):
    before = one(registry, "tiny:1")["copies"][0]["verified_at"]
    registry.models.apply_inventory("id-a", [found("/m/tiny", "tiny", "t1")], now=before + 60)
    assert kept(registry) == 3  # agents rescan every minute: copies are read at listing time, not kept
    assert one(registry, "tiny:1")["copies"][0]["verified_at"] == before + 60


def test_a_start_that_builds_many_rows_says_so(tmp_path, monkeypatch, caplog):
    from llmesh.coordinator.registry import versions

    first = Registry(tmp_path / "registry.db")
    first.hosts.host_hello(hello("id-a", "a"))
    first.models.register("id-a", found("/m/base", "base", "b"))
    first.db.conn.execute("DELETE FROM version_listing")
    first.close()
    monkeypatch.setattr(versions, "NOTICE_LISTING_ROWS", 1)
    with caplog.at_level("INFO", logger=versions.__name__):
        again = Registry(tmp_path / "registry.db")
    assert "building the listing rows of 1 versions" in caplog.text
    assert kept(again) == 1
    caplog.clear()
    again.close()
    with caplog.at_level("INFO", logger=versions.__name__):
        Registry(tmp_path / "registry.db").close()  # nothing left to build: nothing to say
    assert "listing rows" not in caplog.text


def test_rows_kept_without_chunks_get_them_at_open_and_when_listed(registry, tmp_path):
    listed(registry)
    assert chunked(registry) == 3
    plain = Registry(tmp_path / "registry.db")  # another process without the encoder (an import tool)
    try:
        plain.catalog.edit(parse_ref("tiny:1"), {"tags": {"production": "false"}})
        assert [v["tags"] for v in plain.models.list_versions(NOBODY, name="tiny")][0] == {"production": "false"}
    finally:
        plain.close()
    assert chunked(registry) == 2  # the row it kept again has no chunk
    assert [v["tags"] for v in by_chunks(registry) if v["name"] == "tiny"][0] == {"production": "false"}
    assert chunked(registry) == 3  # made from the row's dict, and kept
    listed(registry)
    registry.db.conn.execute("UPDATE version_listing SET chunk = NULL, chunk_format = NULL")
    registry.close()
    again = Registry(tmp_path / "registry.db", ENCODER)  # the coordinator's next start makes them all
    try:
        assert chunked(again) == 3
        listed(again)
    finally:
        again.close()


def test_chunks_of_another_layout_are_made_again(tmp_path):
    older = ChunkEncoder(lambda version: columns.row_chunk(pb.ModelVersionColumns, pb.ModelVersion,
                                                           dict(version, notes="older"), frozenset({"copies"})),
                         ENCODER.format + 1)
    registry = Registry(tmp_path / "registry.db", older)
    registry.hosts.host_hello(hello("id-a", "a"))
    registry.models.register("id-a", found("/m/tiny", "tiny", "t1"))
    assert [v["notes"] for v in by_chunks(registry)] == ["older"]
    assert chunked(registry, older.format) == 1
    registry.close()
    registry = Registry(tmp_path / "registry.db", ENCODER)  # an upgrade whose proto changed
    try:
        assert (chunked(registry, older.format), chunked(registry)) == (0, 1)
        assert [v["notes"] for v in listed(registry)] == [""]
    finally:
        registry.close()


def test_a_listing_by_chunks_needs_the_encoder(tmp_path):
    from llmesh.common.errors import Internal

    registry = Registry(tmp_path / "registry.db")
    try:
        with pytest.raises(Internal, match="without a chunk encoder"):
            registry.models.list_versions(NOBODY, as_chunks=True)
    finally:
        registry.close()
