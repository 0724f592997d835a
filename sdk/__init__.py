"""The Python SDK: a typed client of the coordinator (``MeshClient``), what a node's own
agent identity may ask (halext nodes), and the training-run callback."""
from llmesh.sdk.client import MeshClient

__all__ = ["MeshClient"]
