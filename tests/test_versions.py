"""Version skew and what `meshctl hosts` says of each agent's llmesh: its version and uptime.

Agents and meshctl claim another wire protocol through the harness's LLMESH_TEST_PROTOCOL
(llmesh.agent.testing), so skew is tested without two llmesh releases installed.
"""
import sqlite3

import psutil
import pytest
import sqlite_utils
from factories import make_hf_model
from harness import wait_for

from llmesh import PROTOCOL, __version__
from llmesh.common.errors import FailedPrecondition
from llmesh.common.protocol import check_protocol, parse_protocol
from llmesh.common.units import human_duration
from llmesh.coordinator.registry import MIGRATIONS, Registry

REFUSED_AGENT = "agent speaks llmesh protocol 2.0; this coordinator speaks 1.0 (upgrade the coordinator)"
REFUSED_CLIENT = "client speaks llmesh protocol 2.0; this coordinator speaks 1.0 (upgrade the coordinator)"


def test_an_agent_of_another_major_is_refused_and_a_newer_minor_joins(mesh, tmp_path):
    mesh.start_coordinator()
    root = tmp_path / "models"
    make_hf_model(root / "tiny")
    future = mesh.start_agent("future", [root], env={"LLMESH_TEST_PROTOCOL": "2.0"})
    past = mesh.start_agent("past", [root], env={"LLMESH_TEST_PROTOCOL": "0.9"})
    newer_minor = mesh.start_agent("minor", [root], env={"LLMESH_TEST_PROTOCOL": "1.5"})

    host = mesh.wait_host("minor")
    assert host["protocol"] == "1.5" and host["agent_version"] == __version__
    wait_for(lambda: REFUSED_AGENT in future.output(), 30, "the 2.0 agent's refusal", logs=mesh.logs())
    wait_for(lambda: "agent speaks llmesh protocol 0.9; this coordinator speaks 1.0 (upgrade the agent)"
             in past.output(), 30, "the 0.9 agent's refusal", logs=mesh.logs())
    assert REFUSED_AGENT in mesh.coordinator.output()
    assert [h["name"] for h in mesh.json("hosts")] == ["minor"]  # the refused never became hosts
    refusals = [e for e in mesh.json("audit") if e["action"] == "rpc.refused"
                and e["resource"] == "/llmesh.v1.AgentLink/Link"]
    assert sorted(e["detail"]["reason"] for e in refusals) == sorted([
        REFUSED_AGENT, "agent speaks llmesh protocol 0.9; this coordinator speaks 1.0 (upgrade the agent)"])
    # A refused agent keeps retrying (an upgraded coordinator takes it) and stops cleanly.
    assert future.alive() and past.alive() and newer_minor.alive()
    assert future.stop() == 0
    assert "Traceback" not in future.log.read_text()


def test_a_client_of_another_major_gets_one_line_and_a_newer_minor_is_served(mesh):
    mesh.start_coordinator()
    refused = mesh.meshctl("hosts", check=False, env={"LLMESH_TEST_PROTOCOL": "2.0"})
    assert refused.returncode == 1, refused
    assert refused.stderr.strip() == f"error: {REFUSED_CLIENT}" and refused.stdout == ""
    served = mesh.meshctl("hosts", "--json", env={"LLMESH_TEST_PROTOCOL": "1.9"})
    assert served.stdout.strip() == "[]"
    refusals = [e for e in mesh.json("audit") if e["action"] == "rpc.refused"]
    assert [(e["resource"], e["detail"]["reason"]) for e in refusals] == [
        ("/llmesh.v1.Mesh/ListHosts", REFUSED_CLIENT)]


def test_hosts_shows_each_agents_version_and_uptime(mesh, tmp_path):
    mesh.start_coordinator()
    root = tmp_path / "models"
    root.mkdir()
    agent = mesh.start_agent("trainer", [root])
    host = mesh.wait_host("trainer")
    started = psutil.Process(agent.popen.pid).create_time()
    assert host["agent_version"] == __version__ and host["protocol"] == "1.0"
    assert host["started_at"] == pytest.approx(started, abs=1.0)  # the process's start, not first_seen
    assert host["uptime_s"] is not None and host["uptime_s"] >= 0
    human = mesh.meshctl("hosts").stdout
    assert "VERSION" in human and "UPTIME" in human and __version__ in human

    agent.stop()
    offline = mesh.wait_host("trainer", "offline")
    assert offline["uptime_s"] is None and offline["started_at"] == host["started_at"]
    restarted = mesh.start_agent("trainer", [root])
    again = mesh.wait_host("trainer")
    assert again["started_at"] == pytest.approx(psutil.Process(restarted.popen.pid).create_time(), abs=1.0)
    assert again["started_at"] > host["started_at"] and again["first_seen"] == host["first_seen"]


def test_protocol_check_and_durations():
    assert PROTOCOL == (1, 0)
    assert parse_protocol("") == (1, 0)  # agents and clients before the protocol existed
    assert check_protocol("1.7", "agent") == (1, 7)
    with pytest.raises(FailedPrecondition, match=r"^client speaks llmesh protocol 3\.1; .*upgrade the coordinator"):
        check_protocol("3.1", "client")
    with pytest.raises(FailedPrecondition, match="invalid llmesh protocol version 'two'"):
        check_protocol("two", "agent")
    assert [human_duration(s) for s in (0, 42, 303, 3 * 3600 + 300, 2 * 86400 + 4 * 3600 + 59)] == [
        "0s", "42s", "5m 03s", "3h 05m", "2d 04h"]


def test_migration_27_gives_existing_hosts_no_start_time_and_protocol_1_0(tmp_path):
    path = tmp_path / "registry.db"
    db = sqlite_utils.Database(str(path))
    db["schema_migrations"].create({"version": int, "applied_at": float}, pk="version")
    for number, migration in MIGRATIONS.items():
        if number < 27:
            migration(db)
            db["schema_migrations"].insert({"version": number, "applied_at": 0.0})
    db.execute("INSERT INTO hosts (id, name, agent_version, heartbeat_interval_s, last_seen, first_seen, "
               "facts_json, hardware_json, roots_json, labels_json, problems_json) "
               "VALUES ('id-a', 'a', '0.0.9', 5.0, 1.0, 1.0, '{}', '{}', '[]', '{}', '[]')")
    db.conn.commit()
    db.close()
    registry = Registry(path)
    try:
        [host] = registry.hosts.list_hosts(frozenset())
        assert (host["started_at"], host["protocol"], host["uptime_s"]) == (0.0, "1.0", None)
    finally:
        registry.close()
    assert 27 in {r[0] for r in sqlite3.connect(path).execute("SELECT version FROM schema_migrations")}
