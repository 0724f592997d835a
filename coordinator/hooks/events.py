"""Which audit-log actions become which webhook events, and what a delivery's body says."""
from __future__ import annotations

import json

# audit action -> webhook event. The audit log is where the coordinator already records every
# change; hooks read it, so no code path can change the registry without its hooks hearing.
EVENT_OF_ACTION = {
    "alias.set": "alias.moved",
    "alias.move": "alias.moved",
    "alias.rollback": "alias.moved",
    "alias.remove": "alias.removed",
    "model.register": "version.registered",
    "model.state": "version.state",
    "model.delete": "model.deleted",
    "job.done": "job.finished",
    "job.failed": "job.failed",
    "job.cancelled": "job.cancelled",
    "copy.drifted": "copy.drifted",
    "model.drift": "copy.drifted",
    "model.deploy": "deployment.started",
    "model.undeploy": "deployment.stopped",
    "host.joined": "host.joined",
    "host.remove": "host.removed",
}
EVENTS = tuple(sorted(set(EVENT_OF_ACTION.values())))
ALL = "*"


def payload(delivery_id: str, event: str, row: dict) -> str:
    """The JSON body: the event, the audit row it comes from, and for alias moves the model,
    alias and versions as fields of their own."""
    detail = json.loads(row.get("detail_json") or "{}")
    body = {"id": delivery_id, "event": event, "occurred_at": row["ts"], "actor": row["actor"],
            "resource": row["resource"], "detail": detail, "audit_id": row["id"]}
    if event.startswith("alias."):
        model, _, alias = row["resource"].partition("@")
        body.update(model=model, alias=alias, from_version=detail.get("from"), to_version=detail.get("to"))
    return json.dumps(body, sort_keys=True)
