"""Integrity scrubs: each host's runs, and what their fresh digests say about its copies.

An agent re-reads every copy it holds and reports the digest it found at each path. A copy
whose version's digest differs has drifted: it is marked so (and the audit log's
``copy.drifted`` row is what webhooks deliver); one that matches is verified again, drift a
scrub or verify found before included. A scan cannot clear drift a scrub found (see
ModelsRepository.upsert_copy): its hash cache may be the very thing that is stale.
"""
from __future__ import annotations

import json
import time

from llmesh.common.errors import PermissionDenied
from llmesh.coordinator.registry.database import Database

FINAL = ("done", "failed", "cancelled")
# An agent that (re)connects reports its scrub again; until then one in flight is "interrupted"
# (an agent restarted mid-scrub never finishes it), and a report revives it.
STATES = ("requested", "running", "interrupted", *FINAL)
COUNTS = ("copies_total", "copies_checked", "bytes_total", "bytes_done")


class ScrubsRepository:
    def __init__(self, db: Database):
        self.db = db

    def requested(self, host_id: str, scrub_id: str, actor: str, now: float | None = None) -> None:
        now = now or time.time()
        self.db["scrubs"].insert({
            "id": scrub_id, "host_id": host_id, "trigger": "request", "state": "requested",
            "requested_by": actor, "started_at": now, "finished_at": 0.0, "updated_at": now,
            **{k: 0 for k in COUNTS}, "drifted": 0, "error": "", "drifted_json": "[]"})

    def interrupt(self, host_id: str, now: float | None = None) -> None:
        """HOST's agent connected anew: what it was scrubbing is interrupted unless it says otherwise."""
        self.db.execute("UPDATE scrubs SET state = 'interrupted', updated_at = ?, error = "
                        "'the agent reconnected; it did not report this scrub again' "
                        "WHERE host_id = ? AND state IN ('requested', 'running')", [now or time.time(), host_id])

    def forget(self, scrub_id: str) -> None:
        """A requested scrub the agent did not start (another was running)."""
        self.db.execute("DELETE FROM scrubs WHERE id = ? AND state = 'requested'", [scrub_id])

    def report(self, host_id: str, host: str, report: dict, now: float | None = None) -> None:
        """A ScrubReport from HOST's agent: progress, or the end with one finding per copy."""
        now = now or time.time()
        state = report["state"] if report["state"] in STATES else "failed"
        with self.db.atomic():
            row = self.db.one("SELECT * FROM scrubs WHERE id = ?", [report["scrub_id"]])
            if row is not None and row["host_id"] != host_id:
                raise PermissionDenied(f"scrub {report['scrub_id']} is not {host}'s")
            if row is not None and row["state"] in FINAL:
                return  # the end was recorded already (a report repeated after a reconnect)
            values = {k: int(report.get(k) or 0) for k in COUNTS}
            values.update(state=state, updated_at=now, error=str(report.get("error") or "")[:500],
                          started_at=report.get("started_at") or now, finished_at=report.get("finished_at") or 0.0)
            if row is None:
                self.db["scrubs"].insert({"id": report["scrub_id"], "host_id": host_id,
                                          "trigger": report.get("trigger") or "schedule", "requested_by": "",
                                          "drifted": 0, "drifted_json": "[]", **values})
            else:
                self.db["scrubs"].update(report["scrub_id"], values)
            if state in FINAL:
                drifted = self._apply(host_id, host, report["scrub_id"], report.get("findings") or [], now)
                self.db["scrubs"].update(report["scrub_id"], {"drifted": len(drifted),
                                                             "drifted_json": json.dumps(drifted)})
                self.db.record_event("", "host.scrub", host, {
                    "scrub": report["scrub_id"], "state": state, "copies": values["copies_checked"],
                    "bytes": values["bytes_done"], "drifted": len(drifted)},
                    result="drifted" if drifted else "ok" if state == "done" else state)

    def _apply(self, host_id: str, host: str, scrub_id: str, findings: list[dict], now: float) -> list[str]:
        drifted = []
        for finding in findings:
            if finding.get("outcome") != "hashed" or not finding.get("digest"):
                continue  # a copy that is gone or unreadable is the scan's to report
            copy = self.db.one(
                "SELECT c.id, c.version_id, c.state, v.digest FROM copies c JOIN versions v ON v.id = c.version_id "
                "WHERE c.host_id = ? AND c.path = ?", [host_id, finding["path"]])
            if copy is None:
                continue
            if finding["digest"] == copy["digest"]:
                self.db.execute("UPDATE copies SET state = 'verified', found_digest = NULL, verified_at = ?, "
                                "updated_at = ? WHERE id = ?", [now, now, copy["id"]])
                continue
            ref = self.db.version_ref(copy["version_id"])
            drifted.append(f"{ref} {finding['path']}")
            if copy["state"] != "drifted":
                # found_digest stays NULL: drift a full re-read found, which only a re-read clears.
                self.db.execute("UPDATE copies SET state = 'drifted', found_digest = NULL, updated_at = ? "
                                "WHERE id = ?", [now, copy["id"]])
                self.db.record_event("", "copy.drifted", f"{ref}@{host}",
                                     {"path": finding["path"], "found": finding["digest"], "expected": copy["digest"],
                                      "scrub": scrub_id}, result="drifted")
        return drifted

    def list(self, host_id: str = "", ids: list[str] | None = None) -> list[dict]:
        """The scrubs named by ``ids``; without them, each host's last one (of ``host_id`` alone if given)."""
        select = "SELECT s.*, h.name AS host FROM scrubs s JOIN hosts h ON h.id = s.host_id"
        if ids:
            rows = self.db.query(f"{select} WHERE s.id IN ({','.join('?' * len(ids))}) ORDER BY h.name", list(ids))
        else:
            rows = self.db.query(
                f"{select} WHERE s.rowid = (SELECT s2.rowid FROM scrubs s2 WHERE s2.host_id = s.host_id "
                "ORDER BY s2.started_at DESC, s2.rowid DESC LIMIT 1)" + (" AND s.host_id = ?" if host_id else "")
                + " ORDER BY h.name", [host_id] if host_id else [])
        return [_run(r) for r in rows]

    def totals(self) -> list[dict]:
        """Per host, for /metrics: when its last scrub ended, and what all its scrubs read and found."""
        return [dict(r) for r in self.db.query(
            "SELECT h.name AS host, MAX(CASE WHEN s.state = 'done' THEN s.finished_at END) AS last_finished, "
            "SUM(s.bytes_done) AS bytes, SUM(s.copies_checked) AS copies, SUM(s.drifted) AS drifted, "
            "SUM(CASE WHEN s.state IN ('requested', 'running') THEN 1 ELSE 0 END) AS running "
            "FROM scrubs s JOIN hosts h ON h.id = s.host_id GROUP BY h.name ORDER BY h.name")]


def _run(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k not in ("host_id", "drifted_json", "updated_at")}
    out["drifted_copies"] = json.loads(row["drifted_json"] or "[]")
    return out
