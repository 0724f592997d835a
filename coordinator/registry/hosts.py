"""Hosts: agents that joined, their facts, hardware and liveness."""
from __future__ import annotations

import json
import time

from llmesh.common.config import OFFLINE_AFTER_BEATS
from llmesh.common.errors import AlreadyExists, NotFound
from llmesh.coordinator.registry.database import Database


class HostsRepository:
    def __init__(self, db: Database):
        self.db = db

    def host_hello(self, hello: dict, now: float | None = None) -> dict:
        """Record an agent that connected; refuse a name another agent id holds."""
        now = now or time.time()
        agent_id, name = hello["agent_id"], hello["name"]
        with self.db.atomic():
            holder = self.db.one("SELECT id FROM hosts WHERE name = ?", [name])
            if holder and holder["id"] != agent_id:
                self.db.record_event(f"agent:{agent_id}", "host.refused", name,
                                     {"reason": "name taken", "holder": holder["id"]})
                raise AlreadyExists(
                    f"host name {name!r} is already held by another agent (id {holder['id']}); "
                    "choose another --name, or remove that host first")
            facts = hello.get("facts") or {}
            row = {
                "id": agent_id, "name": name, "hostname": facts.get("hostname", ""),
                "platform": facts.get("platform", ""), "os": facts.get("os", ""),
                "arch": facts.get("arch", ""), "facts_json": json.dumps(facts),
                "roots_json": json.dumps(list(hello.get("roots") or [])),
                "labels_json": json.dumps(dict(hello.get("labels") or {})),
                "peer_address": hello.get("peer_address", ""),
                "agent_version": hello.get("agent_version", ""),
                "protocol": hello.get("protocol") or "1.0",
                "started_at": float(hello.get("started_at") or 0.0),
                "heartbeat_interval_s": float(hello.get("heartbeat_interval_s") or 5.0),
                "last_seen": now, "scanning": 0,
            }
            existing = self.db.one("SELECT first_seen FROM hosts WHERE id = ?", [agent_id])
            if existing:
                self.db["hosts"].update(agent_id, row)
            else:
                row.update(first_seen=now, hardware_json="{}", problems_json="[]")
                self.db["hosts"].insert(row)
                self.db.record_event(f"agent:{agent_id}", "host.joined", name, {"platform": row["platform"]})
        return self.db["hosts"].get(agent_id)

    def host_heartbeat(self, host_id: str, hardware: dict, scanning: bool, now: float | None = None) -> None:
        self.db.execute(
            "UPDATE hosts SET hardware_json = ?, scanning = ?, last_seen = ? WHERE id = ?",
            [json.dumps(hardware), int(scanning), now or time.time(), host_id])

    def host_seen(self, host_id: str, now: float | None = None) -> None:
        self.db.execute("UPDATE hosts SET last_seen = ? WHERE id = ?", [now or time.time(), host_id])

    def host_by_name(self, name: str) -> dict:
        row = self.db.one("SELECT * FROM hosts WHERE name = ?", [name])
        if not row:
            known = ", ".join(r["name"] for r in self.db.query("SELECT name FROM hosts ORDER BY name"))
            raise NotFound(f"unknown host {name!r}" + (f" (known: {known})" if known else " (no hosts yet)"))
        return row

    def list_hosts(self, connected: frozenset[str], now: float | None = None) -> list[dict]:
        now = now or time.time()
        counts = {r["host_id"]: r["n"] for r in self.db.query(
            "SELECT host_id, COUNT(*) AS n FROM copies WHERE state = 'verified' GROUP BY host_id")}
        hosts = []
        for row in self.db.query("SELECT * FROM hosts ORDER BY name"):
            status = host_status(row, connected, now)
            hosts.append({
                "id": row["id"], "name": row["name"], "status": status,
                "facts": json.loads(row["facts_json"] or "{}"),
                "hardware": json.loads(row["hardware_json"] or "{}"),
                "roots": json.loads(row["roots_json"] or "[]"),
                "labels": json.loads(row["labels_json"] or "{}"),
                "problems": json.loads(row["problems_json"] or "[]"),
                "peer_address": row["peer_address"], "agent_version": row["agent_version"],
                "protocol": row["protocol"], "started_at": row["started_at"],
                "uptime_s": max(0.0, now - row["started_at"]) if status == "online" and row["started_at"] else None,
                "first_seen": row["first_seen"], "last_seen": row["last_seen"],
                "heartbeat_interval_s": row["heartbeat_interval_s"],
                "scanning": bool(row["scanning"]), "model_count": counts.get(row["id"], 0),
            })
        return hosts


def host_status(row: dict, connected: frozenset[str], now: float) -> str:
    """Online while the agent's link is open and it beat within the last few intervals."""
    interval = row.get("heartbeat_interval_s") or 5.0
    if row["id"] in connected and now - (row.get("last_seen") or 0) <= OFFLINE_AFTER_BEATS * interval:
        return "online"
    return "offline"
