"""The registry's catalog reports (dicts) as the Catalog API's typed messages.

The servicer answers with these; llmesh.sdk.catalog_reports turns them back into the
same dicts for SDK and meshctl users.
"""
from __future__ import annotations

import json
from typing import Any

from llmesh.common import wire
from llmesh.v1 import catalog_pb2 as pb

_INT64 = range(-2 ** 63, 2 ** 63)


def version_tree(tree: dict) -> pb.VersionTree:
    """Flatten the nested tree: nodes by version number, edges parent -> child in the
    order the children are listed."""
    nodes: list[dict] = []
    edges: list[dict] = []
    stack = list(reversed(tree["roots"]))
    while stack:
        node = stack.pop()
        nodes.append(node)
        for child in node["children"]:
            edges.append({"parent": node["version"], "child": child["version"], "relation": child["relation"]})
        stack.extend(reversed(node["children"]))
    nodes.sort(key=lambda n: n["version"])
    message = pb.VersionTree(name=tree["name"], nodes=[wire.to_message(pb.TreeNode, n) for n in nodes])
    message.edges.extend(wire.to_message(pb.TreeEdge, e) for e in edges)
    return message


def version_lineage(lineage: dict) -> pb.VersionLineage:
    data = [{"ref": ref, "datasets": datasets} for ref, datasets in lineage["data_lineage"].items()]
    return wire.to_message(pb.VersionLineage, {**lineage, "data_lineage": data})


def comparison(result: dict) -> pb.Comparison:
    message = pb.Comparison(name=result["name"], a=result["a"], b=result["b"])
    for row in result["rows"]:
        message.rows.add(section=row["section"], key=row["key"], a=field_value(row["a"]), b=field_value(row["b"]),
                         delta=field_value(row["delta"]), same=row["same"])
    return message


def field_value(value: Any) -> pb.FieldValue:
    if value is None:
        return pb.FieldValue()
    if isinstance(value, bool):  # before int: a bool is an int in Python
        return pb.FieldValue(flag=value)
    if isinstance(value, int) and value in _INT64:
        return pb.FieldValue(integer=value)
    if isinstance(value, float):
        return pb.FieldValue(number=value)
    if isinstance(value, str):
        return pb.FieldValue(text=value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return pb.FieldValue(texts=pb.TextList(items=value))
    return pb.FieldValue(json=json.dumps(value, sort_keys=True, default=str))


def verify_result(report: dict) -> pb.VerifyResult:
    return wire.to_message(pb.VerifyResult, report)  # "drifted" is the copies whose outcome says so


def summary(result: dict, name: str) -> pb.SummaryResponse:
    message = pb.SummaryResponse()
    part = message.model if name else message.registry
    part.SetInParent()  # an empty registry's summary is still the registry's
    wire.fill(part, result)
    return message


def import_report(report: dict) -> pb.ImportReport:
    return wire.to_message(pb.ImportReport, report)


def export(document: dict) -> pb.ExportResponse:
    models = document["models"]
    return pb.ExportResponse(document=json.dumps(document, sort_keys=True, default=str).encode("utf-8"),
                             models=len(models), versions=sum(len(m["versions"]) for m in models))
