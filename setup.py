"""The llmesh package map: the repository's folders become one import namespace, ``llmesh``.

pyproject.toml holds the project's metadata; this file only says which folder is which part
of ``llmesh``. Every package below a mapped folder is found by walking it, so a new subpackage
can never be left out of the wheel (tests/test_packaging.py builds one and checks).
"""
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
PARTS = {  # import name -> folder of this repository
    "llmesh": "protos/llmesh",        # the root package; its v1 holds the protos and their stubs
    "llmesh.common": "common",        # shared by agent, coordinator and CLI: errors, names, TLS, …
    "llmesh.sdk": "sdk",              # the typed client library (the Python SDK)
    "llmesh.agent": "agent",
    "llmesh.coordinator": "coordinator",
    "llmesh.cli": "cli",
}


def _packages() -> list[str]:
    found = []
    for name, folder in PARTS.items():
        for init in sorted((HERE / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(HERE / folder)
            parts = [] if rel == Path(".") else list(rel.parts)
            if "__pycache__" not in parts:
                found.append(".".join([name, *parts]))
    return found


setup(packages=_packages(), package_dir=PARTS,
      package_data={"llmesh.v1": ["*.proto", "*.pyi"], "llmesh": ["py.typed"],
                    "llmesh.coordinator.observe": ["dashboard/*.html", "dashboard/*.js", "dashboard/*.css",
                                                   "dashboard/*.svg"]})
