"""The Catalog API's typed reports as the plain dicts MeshClient returns.

The shapes are the registry's own (llmesh.coordinator.registry.reports and exchange):
a version tree nests children under parents, data lineage maps NAME:VERSION to its
datasets, and compared values are plain Python values. Keys are sorted, as they were
when these reports travelled as JSON.
"""
from __future__ import annotations

import json
from typing import Any

from llmesh.common import wire
from llmesh.v1 import catalog_pb2 as pb


def version_tree(message: pb.VersionTree) -> dict:
    nodes = {n.version: _sorted({**wire.to_dict(n), "relation": "", "children": []}) for n in message.nodes}
    nested = set()
    for edge in message.edges:
        child = nodes[edge.child]
        child["relation"] = edge.relation
        nodes[edge.parent]["children"].append(child)
        nested.add(edge.child)
    return {"name": message.name, "roots": [nodes[n.version] for n in message.nodes if n.version not in nested]}


def version_lineage(message: pb.VersionLineage) -> dict:
    lineage = wire.to_dict(message)
    lineage["data_lineage"] = {e["ref"]: e["datasets"] for e in lineage["data_lineage"]}
    return _sorted(lineage)


def comparison(message: pb.Comparison) -> dict:
    rows = [{"a": field_value(r.a), "b": field_value(r.b), "delta": field_value(r.delta), "key": r.key,
             "same": r.same, "section": r.section} for r in message.rows]
    return {"a": message.a, "b": message.b, "name": message.name, "rows": rows}


def field_value(message: pb.FieldValue) -> Any:
    kind = message.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "texts":
        return list(message.texts.items)
    if kind == "json":
        return json.loads(message.json)
    return getattr(message, kind)


def verify_result(message: pb.VerifyResult) -> dict:
    report = wire.to_dict(message)
    report["drifted"] = [c for c in report["copies"] if c["outcome"] == "drifted"]
    return _sorted(report)


def summary(message: pb.SummaryResponse) -> dict:
    return _sorted(wire.to_dict(getattr(message, message.WhichOneof("summary") or "registry")))


def import_report(message: pb.ImportReport) -> dict:
    return _sorted(wire.to_dict(message))


def export_document(message: pb.ExportResponse) -> dict:
    return json.loads(message.document)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
