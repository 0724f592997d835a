"""Who may call what: the least role of every RPC the coordinator serves, in one table.

A method missing here is refused (auth.AuthInterceptor), so a new RPC must be given a policy
on purpose; tests/test_policy.py checks the table against the llmesh.v1 descriptors.
"""
from __future__ import annotations

from llmesh.coordinator.identity import ROLES  # noqa: F401 (each role may do what the ones before it may)

PUBLIC = "public"  # anyone, without credentials (joining, with a one-time join token)
AGENT = "agent"    # a mesh agent, by its certificate on the link port

# Services of llmesh.v1 that agents serve to each other, authorised by transfer tickets
# rather than by this table.
SERVED_BY_AGENTS = ("llmesh.v1.Peer",)
# The agent's link: its protocol version comes in its Hello, not in metadata.
LINK_METHOD = "/llmesh.v1.AgentLink/Link"

# Catalog: viewer reads; developer registers, annotates, scores and moves lifecycle; operator
# also moves aliases, rolls back and verifies; admin imports and exports, and manages protected
# aliases (checked in the registry, since it depends on the alias).
METHOD_POLICY: dict[str, str] = {
    "/llmesh.v1.Bootstrap/Join": PUBLIC,
    "/llmesh.v1.AgentLink/Link": AGENT,

    "/llmesh.v1.Mesh/ListHosts": "viewer",
    "/llmesh.v1.Mesh/ListGpus": "viewer",
    "/llmesh.v1.Mesh/ListModels": "viewer",
    "/llmesh.v1.Mesh/GetModel": "viewer",
    "/llmesh.v1.Mesh/DeleteModel": "developer",
    "/llmesh.v1.Mesh/Rescan": "developer",
    "/llmesh.v1.Mesh/Scrub": "operator",  # as `models verify`: hours of disk reads on every host
    "/llmesh.v1.Mesh/ListScrubs": "viewer",

    "/llmesh.v1.Catalog/Register": "developer",
    "/llmesh.v1.Catalog/Versions": "viewer",
    "/llmesh.v1.Catalog/Edit": "developer",
    "/llmesh.v1.Catalog/SetState": "developer",
    "/llmesh.v1.Catalog/SetAlias": "operator",
    "/llmesh.v1.Catalog/RemoveAlias": "operator",
    "/llmesh.v1.Catalog/AliasHistory": "viewer",
    "/llmesh.v1.Catalog/Rollback": "operator",
    "/llmesh.v1.Catalog/Promote": "operator",
    "/llmesh.v1.Catalog/SetGate": "admin",
    "/llmesh.v1.Catalog/RemoveGate": "admin",
    "/llmesh.v1.Catalog/ListGates": "viewer",
    "/llmesh.v1.Catalog/AddEnvironment": "admin",
    "/llmesh.v1.Catalog/RemoveEnvironment": "admin",
    "/llmesh.v1.Catalog/ListEnvironments": "viewer",
    "/llmesh.v1.Catalog/Tree": "viewer",
    "/llmesh.v1.Catalog/Lineage": "viewer",
    "/llmesh.v1.Catalog/Adapters": "viewer",
    "/llmesh.v1.Catalog/Score": "developer",
    "/llmesh.v1.Catalog/Compare": "viewer",
    "/llmesh.v1.Catalog/Resolve": "viewer",
    "/llmesh.v1.Catalog/Search": "viewer",
    "/llmesh.v1.Catalog/Verify": "operator",
    "/llmesh.v1.Catalog/Summary": "viewer",
    "/llmesh.v1.Catalog/Events": "viewer",
    "/llmesh.v1.Catalog/Import": "admin",
    "/llmesh.v1.Catalog/Export": "admin",

    "/llmesh.v1.Transfers/Pull": "operator",
    "/llmesh.v1.Transfers/ListJobs": "viewer",
    "/llmesh.v1.Transfers/GetJob": "viewer",
    "/llmesh.v1.Transfers/WatchJobs": "viewer",
    "/llmesh.v1.Transfers/CancelJob": "operator",
    "/llmesh.v1.Transfers/RemoveCopy": "operator",
    "/llmesh.v1.Transfers/Push": "operator",
    "/llmesh.v1.Transfers/HubLogin": "admin",  # a credential an agent will use for every hub job

    "/llmesh.v1.Serving/Convert": "operator",
    "/llmesh.v1.Serving/Deploy": "operator",
    "/llmesh.v1.Serving/Undeploy": "operator",
    "/llmesh.v1.Serving/ListDeployments": "viewer",
    "/llmesh.v1.Serving/RollbackDeployment": "operator",
    "/llmesh.v1.Serving/SwapAdapter": "operator",
    "/llmesh.v1.Serving/TestModel": "developer",
    "/llmesh.v1.Serving/RequestModel": AGENT,  # a halext node's agent asks for a model for itself

    "/llmesh.v1.Admin/WhoAmI": "viewer",
    "/llmesh.v1.Admin/CreateJoinToken": "admin",
    "/llmesh.v1.Admin/AddUser": "admin",
    "/llmesh.v1.Admin/ListUsers": "admin",
    "/llmesh.v1.Admin/RemoveUser": "admin",
    "/llmesh.v1.Admin/RemoveHost": "admin",
    "/llmesh.v1.Admin/ListAudit": "admin",

    # Webhooks carry the registry's events out of the mesh: admins add and remove them.
    "/llmesh.v1.Hooks/AddHook": "admin",
    "/llmesh.v1.Hooks/RemoveHook": "admin",
    "/llmesh.v1.Hooks/ListHooks": "operator",
    "/llmesh.v1.Hooks/HookLog": "operator",
}

# Standard gRPC services beside llmesh's on the coordinator's ports: health (load balancers,
# orchestrators) and server reflection (grpcurl). Open to anyone, as an HTTP /healthz is.
STANDARD_POLICY: dict[str, str] = {
    "/grpc.health.v1.Health/Check": PUBLIC,
    "/grpc.health.v1.Health/List": PUBLIC,
    "/grpc.health.v1.Health/Watch": PUBLIC,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": PUBLIC,
}


def policy_for(method: str) -> str | None:
    """The least role (or kind of caller) a method needs; None: refused to everyone."""
    return METHOD_POLICY.get(method) or STANDARD_POLICY.get(method)
