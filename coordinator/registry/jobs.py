"""Jobs (transfers, and other kinds such as convert), and the copies transfers create
and remove. Jobs live here, not in memory, so they survive restarts of any party."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from llmesh.common.errors import FailedPrecondition, NotFound
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.models import ModelsRepository

ACTIVE_STATES = ("queued", "running", "waiting")
FINISHED_STATES = ("done", "failed", "cancelled")


class JobsRepository:
    def __init__(self, db: Database, models: ModelsRepository):
        self.db = db
        self.models = models
        # Told (job id, whether its state changed) after a job's row changed, on the writer thread:
        # WatchJobs streams wake on it instead of polling.
        self.on_change: Callable[[str, bool], None] | None = None

    def _changed(self, job_id: str, state_changed: bool) -> None:
        if self.on_change is not None:
            self.on_change(job_id, state_changed)

    def create_job(self, version_id: int, dest_host_id: str, source_host: str, dest_dir: str,
                   bytes_total: int, created_by: str, rate_limit: int = 0, swarm: str = "") -> str:
        job_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self.db.atomic():
            self.db["jobs"].insert({
                "id": job_id, "kind": "pull", "state": "queued", "version_id": version_id,
                "dest_host_id": dest_host_id, "source_host": source_host, "dest_dir": dest_dir,
                "bytes_total": bytes_total, "bytes_done": 0, "bytes_reused": 0, "bytes_received": 0,
                "error": "", "copy_path": "", "created_by": created_by, "created_at": now, "updated_at": now,
                "started_at": 0.0, "finished_at": 0.0, "detail_json": "{}", "dropped_json": "{}",
                "partials_pending": 0, "rate_limit": rate_limit, "rates_json": "[]",
                "swarm": swarm})
            self.db.record_event(created_by, "job.create", job_id, {"version_id": version_id,
                                                                    "destination": dest_host_id})
        return job_id

    def create_jobs(self, jobs: list[tuple]) -> list[str]:
        """Several create_job at once, in one transaction (a fan-out's jobs appear together)."""
        with self.db.atomic():
            return [self.create_job(*args) for args in jobs]

    def job(self, job_id: str) -> dict:
        rows = self._jobs("j.id = ?", [job_id])
        if not rows:
            raise NotFound(f"unknown job {job_id!r}")
        return rows[0]

    def list_jobs(self, include_finished: bool) -> list[dict]:
        if include_finished:
            return self._jobs("1 = 1", [])
        marks = ",".join("?" * len(ACTIVE_STATES))
        return self._jobs(f"j.state IN ({marks})", list(ACTIVE_STATES))

    def active_jobs(self) -> list[dict]:
        return self.list_jobs(include_finished=False)

    def _jobs(self, where: str, params: list) -> list[dict]:
        rows = self.db.query(
            "SELECT j.*, m.name AS model_name, v.number AS version_number, h.name AS destination "
            "FROM jobs j LEFT JOIN versions v ON v.id = j.version_id LEFT JOIN models m ON m.id = v.model_id "
            f"JOIN hosts h ON h.id = j.dest_host_id WHERE {where} ORDER BY j.created_at", params)
        return [_job_row(r) for r in rows]

    def update_job(self, job_id: str, **fields) -> dict:
        fields["updated_at"] = time.time()
        if "source_rates" in fields:
            fields["rates_json"] = json.dumps(fields.pop("source_rates"))
        if "detail" in fields:
            fields["detail_json"] = json.dumps(fields.pop("detail"))
        with self.db.atomic():
            row = self.db.one("SELECT state FROM jobs WHERE id = ?", [job_id])
            if not row:
                raise NotFound(f"unknown job {job_id!r}")
            if row["state"] in ("done", "failed", "cancelled") and fields.get("state") not in (None, row["state"]):
                return self.job(job_id)  # a late report cannot reopen a finished job
            self.db["jobs"].update(job_id, fields)
            if fields.get("state") in ("done", "failed", "cancelled"):
                self.db.record_event("", f"job.{fields['state']}", job_id, {"error": fields.get("error", "")},
                                     "ok" if fields["state"] == "done" else fields["state"])
        self._changed(job_id, fields.get("state") not in (None, row["state"]))
        return self.job(job_id)

    def drop_source(self, job_id: str, host: str, reason: str) -> dict:
        """Stop using ``host`` as a source of this job, saying why (shown when no source is left)."""
        with self.db.atomic():
            row = self.db.one("SELECT dropped_json FROM jobs WHERE id = ?", [job_id])
            if not row:
                raise NotFound(f"unknown job {job_id!r}")
            dropped = {**json.loads(row["dropped_json"] or "{}"), host: reason}
            self.db.execute("UPDATE jobs SET dropped_json = ?, updated_at = ? WHERE id = ?",
                            [json.dumps(dropped, sort_keys=True), time.time(), job_id])
        return self.job(job_id)

    def finish_job(self, job_id: str, state: str, error: str, partials_left: bool) -> dict:
        """End a job here (cancelled by a user, failed for want of a source); ``partials_left``:
        its destination may hold partial blobs of it, to be deleted once it answers."""
        with self.db.atomic():
            job = self.update_job(job_id, state=state, error=error, finished_at=time.time())
            if job["state"] == state and partials_left:
                self.db.execute("UPDATE jobs SET partials_pending = 1 WHERE id = ?", [job_id])
        return self.job(job_id)

    def jobs_with_partials_pending(self) -> list[dict]:
        """Finished jobs whose destination has not yet confirmed deleting their partials."""
        return self._jobs("j.partials_pending = 1", [])

    def digests_to_drop(self, job_id: str) -> list[str]:
        """The blobs of a finished job no active job to the same destination needs."""
        job = self.job(job_id)
        marks = ",".join("?" * len(ACTIVE_STATES))
        rows = self.db.query(
            "SELECT DISTINCT f.digest FROM version_files f WHERE f.version_id = ? AND f.digest NOT IN ("
            " SELECT g.digest FROM version_files g JOIN jobs o ON o.version_id = g.version_id"
            f" WHERE o.dest_host_id = ? AND o.id != ? AND o.state IN ({marks})) ORDER BY f.digest",
            [job["version_id"], job["dest_host_id"], job_id, *ACTIVE_STATES])
        return [r["digest"] for r in rows]

    def partials_dropped(self, job_id: str) -> None:
        self.db.execute("UPDATE jobs SET partials_pending = 0 WHERE id = ?", [job_id])

    def interrupt_running_jobs(self) -> None:
        """After a coordinator restart nobody is known to be working on a job."""
        self.db.execute("UPDATE jobs SET state = 'waiting', updated_at = ? WHERE state = 'running'",
                        [time.time()])

    # -- jobs of other kinds (convert): their detail ------------------------------------

    def create_job_of_kind(self, kind: str, version_id: int, host_id: str, detail: dict, actor: str) -> str:
        job_id = self.create_job(version_id, host_id, "", "", 0, actor)
        self.db.execute("UPDATE jobs SET kind = ?, kind_detail_json = ? WHERE id = ?",
                        [kind, json.dumps(detail), job_id])
        return job_id

    def job_detail(self, job_id: str) -> dict:
        row = self.db.one("SELECT kind, kind_detail_json FROM jobs WHERE id = ?", [job_id])
        if not row:
            raise NotFound(f"unknown job {job_id!r}")
        return {"kind": row["kind"], **json.loads(row["kind_detail_json"] or "{}")}

    # -- hub pulls ------------------------------------------------------------------------

    def versions_from_hub(self, source: str) -> list[int]:
        """Versions whose bytes came from the hub ref ``source`` (their hub.source tag), newest first."""
        rows = self.db.query("SELECT version_id FROM version_tags WHERE key = 'hub.source' AND value = ? "
                             "ORDER BY version_id DESC", [source])
        return [r["version_id"] for r in rows]

    def hub_jobs_in_flight(self, source: str) -> list[str]:
        rows = self.db.query("SELECT id, kind_detail_json FROM jobs WHERE kind = 'hub-pull' AND state IN "
                             f"({','.join('?' * len(ACTIVE_STATES))})", list(ACTIVE_STATES))
        return [r["id"] for r in rows if json.loads(r["kind_detail_json"] or "{}").get("hub_ref") == source]

    def set_job_version(self, job_id: str, version_id: int) -> None:
        self.db.execute("UPDATE jobs SET version_id = ? WHERE id = ?", [version_id, job_id])
        self._changed(job_id, False)  # a hub pull's ref becomes the version's

    # -- copies for transfers -------------------------------------------------------------

    def swarm_members(self, swarm: str) -> list[dict]:
        """Every job of a fan-out, in a stable order (a destination's rank), with its destination's
        peer address and whether it is still receiving."""
        return [dict(r) for r in self.db.query(
            "SELECT j.id, j.state, h.id AS host_id, h.name AS host, h.peer_address FROM jobs j "
            "JOIN hosts h ON h.id = j.dest_host_id WHERE j.swarm = ? ORDER BY j.id", [swarm])]

    def transfer_sources(self, version_id: int) -> list[dict]:
        """Hosts with a verified copy (never a drifted or missing one)."""
        return list(self.db.query(
            "SELECT h.id AS host_id, h.name AS host, h.peer_address, c.path FROM copies c "
            "JOIN hosts h ON h.id = c.host_id WHERE c.version_id = ? AND c.state = 'verified' "
            "ORDER BY h.name", [version_id]))

    def version_files(self, version_id: int, piece_size: int = 0) -> list[dict]:
        """The version's files; with a piece size, each with its piece index id where one is bound."""
        rows = [dict(r) for r in self.db.query(
            "SELECT f.path, f.size, f.digest, COALESCE(p.index_id, '') AS piece_index_id FROM version_files f "
            "LEFT JOIN piece_indexes p ON p.digest = f.digest AND p.piece_size = ? "
            "WHERE f.version_id = ? ORDER BY f.path", [piece_size, version_id])]
        for r in rows:
            r["piece_size"] = piece_size if r["piece_index_id"] else 0
            if not piece_size:
                del r["piece_index_id"], r["piece_size"]
        return rows

    def add_transferred_copy(self, version_id: int, host_id: str, path: str) -> None:
        with self.db.atomic():
            self.models.upsert_copy(version_id, host_id, path, time.time())

    def copies_of_source(self, version_id: int, host: str) -> dict:
        """What re-verifying a source needs: the version's digest and ref, and that host's
        verified copies of it."""
        version = self.db.one("SELECT digest FROM versions WHERE id = ?", [version_id])
        if not version:
            raise NotFound(f"unknown version id {version_id}")
        copies = [dict(r) for r in self.db.query(
            "SELECT c.id, c.path, h.id AS host_id FROM copies c JOIN hosts h ON h.id = c.host_id "
            "WHERE c.version_id = ? AND h.name = ? AND c.state = 'verified' ORDER BY c.path", [version_id, host])]
        return {"digest": version["digest"], "ref": self.db.version_ref(version_id), "copies": copies}

    def mark_copy_drifted(self, copy_id: int, host: str, path: str) -> None:
        with self.db.atomic():
            row = self.db.one("SELECT version_id FROM copies WHERE id = ?", [copy_id])
            if not row:
                return
            self.db.execute("UPDATE copies SET state = 'drifted', updated_at = ? WHERE id = ?", [time.time(), copy_id])
            self.db.record_event("", "copy.drifted", f"{self.db.version_ref(row['version_id'])}@{host}",
                                 {"path": path}, result="drifted")

    def mark_drifted(self, version_id: int, host_names: list[str]) -> None:
        for name in host_names:
            self.db.execute(
                "UPDATE copies SET state = 'drifted', updated_at = ? WHERE version_id = ? AND host_id = "
                "(SELECT id FROM hosts WHERE name = ?)", [time.time(), version_id, name])
            self.db.record_event("", "copy.drifted", f"{self.db.version_ref(version_id)}@{name}", result="drifted")

    def copies_on(self, version_id: int, host_id: str) -> list[dict]:
        return list(self.db.query("SELECT id, path, state FROM copies WHERE version_id = ? AND host_id = ?",
                                  [version_id, host_id]))

    def remove_copies(self, version_id: int, host_id: str, force: bool) -> list[str]:
        """Forget a host's copies of a version, refusing to lose the last verified one."""
        with self.db.atomic():
            mine = self.copies_on(version_id, host_id)
            if not mine:
                raise NotFound(f"{self.db.version_ref(version_id)} has no copy on that host")
            others = self.db.one("SELECT COUNT(*) AS n FROM copies WHERE version_id = ? AND host_id != ? "
                                 "AND state = 'verified'", [version_id, host_id])["n"]
            if not others and not force and any(c["state"] == "verified" for c in mine):
                raise FailedPrecondition(f"that is the last verified copy of {self.db.version_ref(version_id)} "
                                         "in the mesh; pass --force to delete it anyway")
            self.db.execute("DELETE FROM copies WHERE version_id = ? AND host_id = ?", [version_id, host_id])
            self.db.record_event("", "copy.remove", self.db.version_ref(version_id), {"host_id": host_id,
                                                                         "paths": [c["path"] for c in mine]})
        return [c["path"] for c in mine]


def _job_row(r: dict) -> dict:
    # A hub pull has no version until its bytes are in: its ref is the hub's.
    ref = (f"{r['model_name']}:{r['version_number']}" if r["model_name"] is not None
           else json.loads(r.get("kind_detail_json") or "{}").get("hub_ref", ""))
    return {
        "id": r["id"], "kind": r["kind"], "state": r["state"], "ref": ref,
        "destination": r["destination"], "sources": json.loads(r["detail_json"] or "{}").get("sources", []),
        "bytes_total": r["bytes_total"], "bytes_done": r["bytes_done"], "bytes_reused": r["bytes_reused"],
        "bytes_received": r["bytes_received"], "error": r["error"], "copy_path": r["copy_path"],
        "created_at": r["created_at"], "updated_at": r["updated_at"], "started_at": r["started_at"],
        "finished_at": r["finished_at"], "created_by": r["created_by"],
        "version_id": r["version_id"], "dest_host_id": r["dest_host_id"], "source_host": r["source_host"],
        "dest_dir": r["dest_dir"], "dropped_sources": json.loads(r.get("dropped_json") or "{}"),
        "rate_limit": r.get("rate_limit") or 0, "source_rates": json.loads(r.get("rates_json") or "[]"),
        "swarm": r.get("swarm") or "",
    }
