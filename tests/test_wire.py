"""llmesh.common.wire: the rules every servicer and the SDK rely on when they turn messages
into dicts and back (proto field names, None for an unset optional, *_json decoded under the
name without the suffix, nested messages present only when the dict sets something in them)."""
import json

import pytest

from llmesh.common import columns, wire
from llmesh.v1 import agent_link_pb2, mesh_pb2, transfer_pb2


def a_version() -> dict:
    return {
        "name": "llama", "version": 3, "digest": "sha256:ab", "kind": "lora", "size_bytes": 2**40,
        "copies": [{"host": "mac", "path": "/m/llama", "state": "verified", "verified_at": 1.5},
                   {"host": "trainer", "path": "", "state": "missing"}],
        "metadata": {"b": 1, "a": [1, 2]}, "roles": ["asm"], "tags": {"team": "x"}, "registered": True,
        "metrics": {"accuracy": 0.9}, "params": {}, "capabilities": {"vision": False}, "parents": [],
        "datasets": [{"name": "d", "digest": "sha256:cd"}], "duration_s": 0.0, "cost_usd": None,
        "extra": "{}", "deployed_to": [], "unknown": object(),
    }


def test_an_empty_message_reads_as_every_field_at_its_default():
    out = wire.to_dict(mesh_pb2.ModelVersion())
    assert set(out) == {f.name.removesuffix("_json") for f in mesh_pb2.ModelVersion.DESCRIPTOR.fields}
    assert (out["name"], out["version"], out["registered"], out["created_at"]) == ("", 0, False, 0.0)
    assert out["copies"] == [] and out["roles"] == [] and out["tags"] == {} and out["metrics"] == {}
    assert out["metadata"] == {} and out["parents"] == {}  # an empty *_json string reads as {}
    assert out["duration_s"] is None and out["cost_usd"] is None  # unset optionals


def test_a_dict_goes_to_a_message_and_back():
    message = wire.to_message(mesh_pb2.ModelVersion, a_version())
    assert message.metadata_json == json.dumps({"a": [1, 2], "b": 1}, sort_keys=True)
    assert (message.params_json, message.parents_json, message.extra_json) == ("{}", "[]", "{}")
    assert message.HasField("duration_s") and not message.HasField("cost_usd")
    out = wire.to_dict(message)
    assert out["copies"] == [{"host": "mac", "path": "/m/llama", "state": "verified", "verified_at": 1.5,
                              "host_status": ""},
                             {"host": "trainer", "path": "", "state": "missing", "verified_at": 0.0,
                              "host_status": ""}]
    assert (out["metadata"], out["params"], out["parents"], out["datasets"]) == (
        {"a": [1, 2], "b": 1}, {}, [], [{"name": "d", "digest": "sha256:cd"}])
    assert (out["roles"], out["tags"], out["metrics"], out["capabilities"]) == (
        ["asm"], {"team": "x"}, {"accuracy": 0.9}, {"vision": False})
    assert (out["size_bytes"], out["duration_s"], out["cost_usd"]) == (2**40, 0.0, None)
    assert type(out["roles"]) is list and type(out["tags"]) is dict and type(out["version"]) is int
    assert wire.to_message(mesh_pb2.ModelVersion, out) == message


def test_json_fields_take_text_as_it_is_under_either_name():
    assert wire.to_message(mesh_pb2.ModelVersion, {"metadata_json": '{"z": 1}'}).metadata_json == '{"z": 1}'
    assert wire.to_message(mesh_pb2.ModelVersion, {"metadata": '{"z": 1}'}).metadata_json == '{"z": 1}'
    assert wire.to_message(mesh_pb2.ModelVersion, {"metadata_json": {"z": 1}}).metadata_json == '{"z": 1}'
    both = {"metadata": {"from": "dict"}, "metadata_json": '{"from": "text"}'}  # the field's own name wins
    assert wire.to_message(mesh_pb2.ModelVersion, both).metadata_json == '{"from": "text"}'
    assert wire.to_message(mesh_pb2.ModelVersion, dict(reversed(both.items()))).metadata_json == '{"from": "text"}'


def test_a_nested_message_is_present_only_when_the_dict_sets_something_in_it():
    def present(version):
        return wire.to_message(mesh_pb2.RegisterModelResponse, {"version": version}).HasField("version")

    assert not present({}) and not present({"unknown": 1}) and not present({"name": None})
    assert not present({"copies": [], "tags": {}})
    assert present({"name": ""}) and present({"roles": []}) and present({"copies": [{}]})


def test_field_names_that_are_python_keywords():
    message = wire.to_message(transfer_pb2.PullRequest, {"ref": "m:1", "from": "mac"})
    assert getattr(message, "from") == "mac"
    assert wire.to_dict(message)["from"] == "mac"


def test_oneof_members_follow_the_dict():
    reply = wire.to_message(agent_link_pb2.CommandReply, {"model": {"name": "a"}, "json": ""})
    assert reply.WhichOneof("payload") == "json"
    assert wire.to_dict(reply)["json"] == ""
    message = wire.to_message(agent_link_pb2.AgentMessage, {"hello": {"agent_id": "a"}, "heartbeat": {}})
    assert message.WhichOneof("body") == "hello"


def test_fill_extends_and_merges_an_existing_message():
    message = wire.to_message(mesh_pb2.ModelVersion, {"name": "a", "roles": ["x"], "tags": {"k": "1"}})
    wire.fill(message, {"name": "", "roles": ["y"], "tags": {"j": "2"}, "copies": [{"host": "h"}]})
    assert (message.name, list(message.roles), dict(message.tags)) == ("", ["x", "y"], {"k": "1", "j": "2"})
    assert [c.host for c in message.copies] == ["h"]


# -- listings by column (ModelVersionColumns) -------------------------------------------------

def by_column(rows: list[dict]) -> list[dict]:
    """Rows as the SDK reads a listing the coordinator answered by column (serialized and parsed)."""
    message = columns.to_columns(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelVersion, rows)
    return columns.from_columns(mesh_pb2.ModelVersionColumns.FromString(message.SerializeToString()),
                             mesh_pb2.ModelVersion)


def by_message(rows: list[dict]) -> list[dict]:
    """The same rows as one message per version (what the SDK read before columns)."""
    response = wire.to_message(mesh_pb2.ListModelsResponse, {"versions": rows})
    return [wire.to_dict(v) for v in mesh_pb2.ListModelsResponse.FromString(response.SerializeToString()).versions]


def test_a_listing_by_column_reads_as_one_message_per_version_does():
    rows = [
        a_version(),
        {},  # every field at its default
        {"name": "b", "version": 1, "duration_s": None, "cost_usd": 2.5, "copies": [], "roles": ["x", "y", "z"],
         "tags": {}, "metrics": {"a": 1, "b": -0.5}, "capabilities": {"x": True, "y": False},
         "params": {"lr": 1e-4, "name": "é\u0001", "n": [1, None]}, "metadata_json": '{"z": 1}',
         "metadata": {"ignored": "the field's own name wins"}, "parents": [{"name": "a", "version": 1}],
         "deployed_to": [{"host": "mac"}], "files": [{"path": "a", "size": 3}, {"digest": "sha256:ff"}],
         "aliases": ["prod"], "backends": ["ollama", "llamacpp"], "locked": True, "last_verified": 3.0},
        {"name": "c", "copies": [{"host": "h", "path": None, "verified_at": 0}] * 3, "extra": {"k": "v"}},
    ]
    expected = by_message(rows)
    got = by_column(rows)
    assert len(got) == len(rows)
    assert got == expected  # every row, every key, every value
    assert [list(row) for row in got] == [list(row) for row in expected]  # and the keys in the same order
    assert [type(row["version"]) for row in got] == [int] * len(rows)
    assert got[1]["duration_s"] is None and got[2]["duration_s"] is None and got[2]["cost_usd"] == 2.5
    assert by_column([]) == []
    # Columns where every row has exactly one entry, or none, or the same empty JSON, read alike too.
    same_shape = [{"name": f"m{i}", "roles": [f"r{i}"], "tags": {"k": str(i)}, "copies": [{"host": "h"}],
                   "params": {}, "parents": [], "metrics": {}} for i in range(3)]
    assert by_column(same_shape) == by_message(same_shape)
    # Every row with the same number of map entries (read by strided slices), in each key order.
    uniform = [{"name": f"m{i}", "tags": {"team": f"t{i}", "production": str(i % 2 == 0).lower()},
                "metrics": {"b": i, "a": -i}, "capabilities": {"x": True, "y": i == 1}} for i in range(4)]
    assert by_column(uniform) == by_message(uniform)
    assert [row["tags"] for row in by_column(uniform)][1] == {"production": "false", "team": "t1"}
    assert by_column([{}, {}]) == by_message([{}, {}])


def by_chunks(rows: list[dict], live: frozenset[str]) -> list[dict]:
    """Rows as the SDK reads a listing the coordinator joined from kept chunks (every field but
    ``live`` kept per row; ``live`` added at listing time)."""
    chunks = [columns.row_chunk(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelVersion, row, live) for row in rows]
    rest = [{k: v for k, v in row.items() if k in live} for row in rows]
    response = mesh_pb2.ListModelsResponse(next_page_token="t")
    columns.join_chunks(response.columns, mesh_pb2.ModelVersion, chunks, rest, live)
    return columns.from_columns(mesh_pb2.ListModelsResponse.FromString(response.SerializeToString()).columns,
                                mesh_pb2.ModelVersion)


def test_a_listing_joined_from_kept_chunks_reads_as_one_built_by_column():
    rows = [
        a_version(),
        {},
        {"name": "b", "duration_s": None, "cost_usd": 0.0, "roles": ["x", "y", "z"], "tags": {},
         "metrics": {"a": 1, "b": -0.5}, "params": {"n": [1, None]}, "copies": [{"host": "h"}] * 3,
         "parents": [{"name": "a", "version": 1}], "aliases": ["prod"], "locked": True},
        {"name": "c", "copies": [], "roles": [], "extra": {"k": "v"}, "duration_s": 4.5},
    ]
    for live in (frozenset({"copies"}), frozenset({"copies", "roles", "tags", "duration_s", "name"}), frozenset()):
        got = by_chunks(rows, live)
        assert got == by_column(rows), sorted(live)
        assert [list(row) for row in got] == [list(row) for row in by_column(rows)]
    assert by_chunks([], frozenset({"copies"})) == []
    one = [{"name": "only", "copies": [{"host": "h", "path": "/p"}]}]
    assert by_chunks(one, frozenset({"copies"})) == by_column(one)


def test_chunks_refuse_what_they_cannot_join():
    from llmesh.common.errors import Internal

    with pytest.raises(TypeError, match="has no field 'copy'"):
        columns.row_chunk(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelVersion, {}, frozenset({"copy"}))
    chunk = columns.row_chunk(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelVersion, {"name": "a"},
                              frozenset({"copies"}))
    with pytest.raises(Internal, match="2 chunks but 1 rows"):
        columns.join_chunks(mesh_pb2.ModelVersionColumns(), mesh_pb2.ModelVersion, [chunk, chunk],
                            [{"copies": []}], frozenset({"copies"}))
    # Chunks cut with other live fields than the join's: a column comes out short, and reading fails.
    joined = columns.join_chunks(mesh_pb2.ModelVersionColumns(), mesh_pb2.ModelVersion, [chunk, chunk],
                                 [{"copies": [], "roles": []}] * 2, frozenset({"copies", "roles", "name"}))
    with pytest.raises(Internal, match="ModelVersionColumns.name has 4 entries, not 2"):
        columns.from_columns(joined, mesh_pb2.ModelVersion)


def test_a_layout_id_changes_with_either_message_type():
    ids = {columns.layout_id(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelVersion),
           columns.layout_id(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelCopy),
           columns.layout_id(mesh_pb2.ListModelsResponse, mesh_pb2.ModelVersion)}
    assert len(ids) == 3
    assert columns.layout_id(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelVersion) == \
        columns.layout_id(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelVersion)


def test_every_field_of_a_version_has_its_columns():
    got = by_column([{}])[0]
    assert set(got) == set(wire.to_dict(mesh_pb2.ModelVersion()))
    # A columns type that lacks some field's columns is refused, not read without that key.
    with pytest.raises(TypeError, match="lacks columns for llmesh.v1.ModelCopy: host, path"):
        columns.to_columns(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelCopy, [{}])


def test_a_column_the_sender_did_not_have_reads_as_the_default_and_a_short_one_fails():
    from llmesh.common.errors import Internal

    message = columns.to_columns(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelVersion,
                              [{"name": "a", "label": "x", "tags": {"k": "v"}}, {"name": "b", "label": "y"}])
    message.ClearField("label")  # a coordinator older than the field
    message.ClearField("tags_keys")
    message.ClearField("tags_values")
    message.ClearField("tags_counts")
    rows = columns.from_columns(message, mesh_pb2.ModelVersion)
    assert [(r["name"], r["label"], r["tags"]) for r in rows] == [("a", "", {}), ("b", "", {})]
    lists = columns.to_columns(mesh_pb2.ModelVersionColumns, mesh_pb2.ModelVersion, [{"roles": ["a", "b"]}])
    lists.ClearField("roles")  # counts that say there are roles, and none sent: an error, not [None, None]
    with pytest.raises(Internal, match="ModelVersionColumns.roles has 0 entries, not 2"):
        columns.from_columns(lists, mesh_pb2.ModelVersion)
    del message.name[1:]  # a column shorter than the rows: an error, never a lost row
    with pytest.raises(Internal, match="ModelVersionColumns.name has 1 entries, not 2"):
        columns.from_columns(message, mesh_pb2.ModelVersion)
