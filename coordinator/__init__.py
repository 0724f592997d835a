"""The llmesh coordinator: one subpackage per API (mesh, catalog, security, transfer, serving, link),
each a servicer (protobuf <-> domain values) over a service (the domain), all sharing one Core
(core.py: the registry, its writer thread, the open agent links). server.py builds them all."""
