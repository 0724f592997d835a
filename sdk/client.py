"""The typed client library for the coordinator's Mesh API (the Python SDK).

meshctl is a thin layer over this. Results are plain dicts with the API's field
names (see protos/llmesh/v1/mesh.proto); every failure is a llmesh.common.errors.MeshError.

    from llmesh.sdk.client import MeshClient
    with MeshClient.connect() as mesh:          # finds `meshctl up` through LLMESH_HOME
        for version in mesh.list_models(kind="lora"):
            print(version["name"], version["version"], version["copies"])
"""
from __future__ import annotations

import os
from typing import Iterable, Iterator, Mapping

import grpc

from llmesh.common import channels, columns, tls, wire
from llmesh.common.config import ClientConfig, resolve_coordinator
from llmesh.common.errors import MeshError, Unauthenticated, Unavailable, from_rpc_error
from llmesh.common.names import check_host_name, check_name, parse_ref
from llmesh.common.protocol import PROTOCOL_TEXT
from llmesh.common.refs import OLLAMA_REGISTRY, looks_like_hub_ref, parse_model_ref
from llmesh.sdk import catalog_reports
from llmesh.sdk.hooks import HooksClient
from llmesh.v1 import catalog_pb2 as catalog_pb
from llmesh.v1 import catalog_pb2_grpc as catalog_grpc
from llmesh.v1 import mesh_pb2 as pb
from llmesh.v1 import mesh_pb2_grpc as mesh_grpc
from llmesh.v1 import security_pb2 as security_pb
from llmesh.v1 import security_pb2_grpc as security_grpc
from llmesh.v1 import serving_pb2 as serving_pb
from llmesh.v1 import serving_pb2_grpc as serving_grpc
from llmesh.v1 import transfer_pb2 as transfer_pb
from llmesh.v1 import transfer_pb2_grpc as transfer_grpc

USER_TOKEN_PREFIX = "L10"
FINISHED_STATES = ("done", "failed", "cancelled")


# Names and references are checked here, before they go on the wire: a bad one fails with the
# same one line the coordinator would give, and never as a transport error.
def _ref(text: str) -> str:
    parse_ref(text)
    return text


def _name(text: str) -> str:
    return check_name(text)


def _host(text: str) -> str:
    return check_host_name(text) if text else text


def _trusted_ca(config: ClientConfig) -> bytes:
    """The CA we trust for this coordinator: from the credentials file, or fetched and
    checked against the pin inside the token."""
    if config.ca_pem and (not config.token or _pin(config.token) == tls.fingerprint(tls.load_cert(config.ca_pem))):
        return config.ca_pem
    if not config.token:
        raise Unauthenticated("no API token: set LLMESH_TOKEN, or run `meshctl login HOST:PORT --token TOKEN`")
    return tls.fetch_ca(config.address, _pin(config.token), config.timeout_s)


def _pin(token: str) -> str:
    return tls.parse_token(token, USER_TOKEN_PREFIX)[0]


# ~450 bytes a version: a page is a few MB, far under the 64 MiB message limit, and one page
# holds every version of most registries.
LIST_PAGE_SIZE = 5000


def _versions(response: pb.ListModelsResponse) -> list[dict]:
    """A listing's versions: by column when the coordinator answered so (a coordinator older than
    the `columns` request field answers a message per version)."""
    if response.HasField("columns"):
        return columns.from_columns(response.columns, pb.ModelVersion)
    return [wire.to_dict(v) for v in response.versions]


class MeshClient:
    def __init__(self, config: ClientConfig, protocol: str = PROTOCOL_TEXT):
        self.config = config
        # Every call announces ``protocol``; a coordinator of another major refuses it in one line.
        self.ca_pem = _trusted_ca(config)
        self._channel = channels.client_channel(config.address, self.ca_pem, token=config.token,
                                                protocol=protocol)
        self._mesh = mesh_grpc.MeshStub(self._channel)
        self._admin = security_grpc.AdminStub(self._channel)
        self._transfers = transfer_grpc.TransfersStub(self._channel)
        self._serving = serving_grpc.ServingStub(self._channel)
        self._catalog = catalog_grpc.CatalogStub(self._channel)
        self.hooks = HooksClient(self._channel, self._call)  # webhooks: mesh.hooks.add(...), .list(), ...

    @classmethod
    def connect(cls, coordinator: str | None = None, env: Mapping[str, str] | None = None,
                timeout_s: float = 30.0, protocol: str = PROTOCOL_TEXT) -> "MeshClient":
        """--coordinator / LLMESH_COORDINATOR / the endpoint file in LLMESH_HOME, in that order."""
        return cls(resolve_coordinator(coordinator, os.environ if env is None else env, timeout_s), protocol)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "MeshClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, timeout: float | None = None):
        try:
            return method(request, timeout=timeout or self.config.timeout_s)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _error(self, exc: grpc.RpcError) -> MeshError:
        """A gRPC failure as the one-line MeshError meshctl shows."""
        error = from_rpc_error(exc)
        text = str(error).lower()
        if isinstance(error, Unavailable) and ("ssl" in text or "handshake" in text):
            return Unavailable(f"TLS handshake with the coordinator at {self.config.address} failed: "
                               "is it the coordinator your credentials are for, and is this name "
                               "among its --advertise names?")
        if isinstance(error, Unavailable) and ("failed to connect to all addresses" in text
                                               or text.endswith("socket closed")):
            return Unavailable(f"coordinator at {self.config.address} (from {self.config.source}) "
                               "is not reachable; is it running?")
        return error

    # -- hosts ----------------------------------------------------------------------------

    def hosts(self) -> list[dict]:
        return [wire.to_dict(h) for h in self._call(self._mesh.ListHosts, pb.ListHostsRequest()).hosts]

    def gpus(self, host: str = "") -> list[dict]:
        reply = self._call(self._mesh.ListGpus, pb.ListGpusRequest(host=host))
        return [wire.to_dict(h) for h in reply.hosts]

    def rescan(self, host: str = "") -> list[str]:
        return list(self._call(self._mesh.Rescan, pb.RescanRequest(host=host)).hosts)

    def scrub(self, host: str = "") -> dict:
        """Start an integrity scrub on each online host (or HOST): {scrubs, offline}."""
        return wire.to_dict(self._call(self._mesh.Scrub, pb.ScrubRequest(host=host)))

    def scrubs(self, host: str = "", ids: list[str] | None = None) -> list[dict]:
        """The scrubs named by IDS; without them, each host's last one."""
        reply = self._call(self._mesh.ListScrubs, pb.ListScrubsRequest(host=host, ids=ids or []))
        return [wire.to_dict(s) for s in reply.scrubs]

    # -- models ---------------------------------------------------------------------------

    def model(self, ref: str) -> dict:
        return wire.to_dict(self._call(self._mesh.GetModel, pb.GetModelRequest(ref=_ref(ref))))

    def delete(self, ref: str) -> dict:
        return wire.to_dict(self._call(self._mesh.DeleteModel, pb.DeleteModelRequest(ref=_ref(ref))))

    # -- people, tokens, hosts, audit -----------------------------------------------------

    def whoami(self) -> dict:
        return wire.to_dict(self._call(self._admin.WhoAmI, security_pb.WhoAmIRequest()))

    def create_join_token(self, role: str = "agent", ttl_s: float = 3600.0) -> dict:
        return wire.to_dict(self._call(self._admin.CreateJoinToken,
                                       security_pb.CreateJoinTokenRequest(role=role, ttl_s=ttl_s)))

    def add_user(self, name: str, role: str) -> dict:
        """Returns {user, token}; the token is shown once (the coordinator keeps its hash)."""
        return wire.to_dict(self._call(self._admin.AddUser, security_pb.AddUserRequest(name=name, role=role)))

    def users(self) -> list[dict]:
        return [wire.to_dict(u) for u in self._call(self._admin.ListUsers, security_pb.ListUsersRequest()).users]

    def remove_user(self, name: str) -> None:
        self._call(self._admin.RemoveUser, security_pb.RemoveUserRequest(name=name))

    def remove_host(self, name: str) -> dict:
        return wire.to_dict(self._call(self._admin.RemoveHost, security_pb.RemoveHostRequest(name=_host(name))))

    def audit(self, since: float = 0.0, actor: str = "", limit: int = 1000, action: str = "") -> list[dict]:
        """Newest first; ``action``: one (user.add) or a family of them (user)."""
        reply = self._call(self._admin.ListAudit, security_pb.ListAuditRequest(since=since, actor=actor, limit=limit,
                                                                               action=action))
        return [wire.to_dict(e) for e in reply.events]

    # -- the catalog (versions, lifecycle, aliases, lineage, metrics, search, …) -----------
    # Results are dicts with the API's field names (protos/llmesh/v1/catalog.proto).

    def list_models(self, *, host: str = "", kind: str = "", name: str = "", role: str = "", backend: str = "",
                    tags: Iterable[str] = (), query: str = "", deployed_on: str = "",
                    page_size: int = LIST_PAGE_SIZE) -> list[dict]:
        """The versions in the registry, filtered as `meshctl models list` does, and by a search query.
        backend: set up for it; deployed_on: a backend or host where it runs now. Every matching
        version: a large registry is read in pages of ``page_size``, each under the message limit."""
        request = pb.ListModelsRequest(host=host, kind=kind, name=name, role=role, backend=backend,
                                       tags=list(tags), query=query, deployed_on=deployed_on, columns=True,
                                       page_size=page_size)
        versions = []
        while True:
            response = self._call(self._mesh.ListModels, request)
            versions += _versions(response)
            if not response.next_page_token:
                return versions
            request.page_token = response.next_page_token

    def register_version(self, path: str = "", host: str = "", *, name: str = "", timeout_s: float = 900.0,
                         **facts) -> dict:
        """Register weights at PATH on HOST (or, with no PATH, a draft/training version) with
        the catalog's facts: semver, state, roles, tags, capabilities, parents, relation,
        datasets [{name, digest}], framework, hardware, duration_s, cost_usd, code_commit,
        params {k: v}, metrics {k: float}, backends, base_model, notes, description, training.
        Hashing happens on the agent, so the default timeout is long. Returns {version, created, message}."""
        if name:
            _name(name)
        request = wire.to_message(catalog_pb.CatalogRegisterRequest, {"host": _host(host), "path": path, "name": name,
                                                                      **facts})
        return wire.to_dict(self._call(self._catalog.Register, request, timeout_s))

    def versions(self, name: str) -> list[dict]:
        return [wire.to_dict(v) for v in self._call(self._catalog.Versions,
                                                    catalog_pb.NameRequest(name=_name(name))).versions]

    def edit(self, ref: str, **changes) -> dict:
        """changes: semver, add_roles, remove_roles, capabilities {k: bool}, remove_capabilities, tags,
        remove_tags, notes, parents, relation, datasets, framework, hardware, duration_s, cost_usd,
        code_commit, add_backends, remove_backends, base_model, description, display_name, params."""
        request = wire.to_message(catalog_pb.EditRequest, {"ref": _ref(ref), **changes})
        return wire.to_dict(self._call(self._catalog.Edit, request))

    def set_state(self, ref: str, state: str, reason: str = "") -> dict:
        request = catalog_pb.SetStateRequest(ref=_ref(ref), state=state, reason=reason)
        return wire.to_dict(self._call(self._catalog.SetState, request))

    def deprecate(self, ref: str, reason: str = "") -> dict:
        return self.set_state(ref, "deprecated", reason)

    def archive(self, ref: str, reason: str = "") -> dict:
        return self.set_state(ref, "archived", reason)

    def restore(self, ref: str, reason: str = "") -> dict:
        return self.set_state(ref, "active", reason)

    def set_alias(self, ref: str, alias: str, reason: str = "", protect: bool = False) -> dict:
        request = catalog_pb.AliasRequest(ref=_ref(ref), alias=alias, reason=reason, protect=protect)
        return wire.to_dict(self._call(self._catalog.SetAlias, request))

    def remove_alias(self, name: str, alias: str, reason: str = "") -> dict:
        request = catalog_pb.AliasRequest(ref=_name(name), alias=alias, reason=reason)
        return wire.to_dict(self._call(self._catalog.RemoveAlias, request))

    def alias_history(self, name: str, alias: str = "") -> list[dict]:
        reply = self._call(self._catalog.AliasHistory, catalog_pb.AliasHistoryRequest(name=_name(name), alias=alias))
        return [wire.to_dict(c) for c in reply.changes]

    def rollback(self, name: str, alias: str = "prod", reason: str = "", deprecate: bool = False) -> dict:
        request = catalog_pb.RollbackRequest(name=_name(name), alias=alias, reason=reason, deprecate=deprecate)
        return wire.to_dict(self._call(self._catalog.Rollback, request))

    def promote(self, ref: str, to: str, from_alias: str = "", gates: Iterable[str] = (), reason: str = "") -> dict:
        """Move alias TO to REF (or to what FROM_ALIAS points to) only if it passes TO's gate and GATES."""
        request = catalog_pb.PromoteRequest(ref=ref, to=to, from_alias=from_alias, gates=list(gates), reason=reason)
        return wire.to_dict(self._call(self._catalog.Promote, request))

    def set_gate(self, environment: str, expression: str) -> dict:
        request = catalog_pb.GateRequest(environment=environment, expression=expression)
        return wire.to_dict(self._call(self._catalog.SetGate, request))

    def remove_gate(self, environment: str) -> dict:
        return wire.to_dict(self._call(self._catalog.RemoveGate, catalog_pb.GateRequest(environment=environment)))

    def gates(self) -> list[dict]:
        return [wire.to_dict(g) for g in self._call(self._catalog.ListGates, catalog_pb.ListGatesRequest()).gates]

    def environments(self) -> list[dict]:
        reply = self._call(self._catalog.ListEnvironments, catalog_pb.ListGatesRequest())
        return [wire.to_dict(g) for g in reply.gates]

    def add_environment(self, environment: str) -> dict:
        return wire.to_dict(self._call(self._catalog.AddEnvironment, catalog_pb.GateRequest(environment=environment)))

    def remove_environment(self, environment: str) -> dict:
        request = catalog_pb.GateRequest(environment=environment)
        return wire.to_dict(self._call(self._catalog.RemoveEnvironment, request))

    def tree(self, name: str) -> dict:
        return catalog_reports.version_tree(self._call(self._catalog.Tree, catalog_pb.NameRequest(name=_name(name))))

    def lineage(self, ref: str) -> dict:
        return catalog_reports.version_lineage(self._call(self._catalog.Lineage, catalog_pb.RefRequest(ref=_ref(ref))))

    def adapters(self, base: str) -> list[dict]:
        return [wire.to_dict(v) for v in self._call(self._catalog.Adapters,
                                                    catalog_pb.AdaptersRequest(base=base)).versions]

    def score(self, ref: str, metrics: Mapping[str, float], remove: Iterable[str] = ()) -> dict:
        request = catalog_pb.ScoreRequest(ref=_ref(ref), metrics=dict(metrics), remove=list(remove))
        return wire.to_dict(self._call(self._catalog.Score, request))

    def compare(self, name: str, a: str, b: str) -> dict:
        request = catalog_pb.CompareRequest(name=_name(name), a=a, b=b)
        return catalog_reports.comparison(self._call(self._catalog.Compare, request))

    def resolve(self, role: str, capabilities: Iterable[str] = (), prefer: str = "") -> dict:
        """{version, reason}: the first active version with the role and capabilities."""
        request = catalog_pb.ResolveRequest(role=role, capabilities=list(capabilities), prefer=prefer)
        return wire.to_dict(self._call(self._catalog.Resolve, request))

    def search(self, query: str, sort: str = "", limit: int = 0) -> list[dict]:
        request = catalog_pb.SearchRequest(query=query, sort=sort, limit=limit, columns=True)
        return _versions(self._call(self._catalog.Search, request))

    def verify(self, ref: str, lock: bool = False, unlock: bool = False, timeout_s: float = 900.0) -> dict:
        request = catalog_pb.VerifyRequest(ref=_ref(ref), lock=lock, unlock=unlock)
        return catalog_reports.verify_result(self._call(self._catalog.Verify, request, timeout_s))

    def summary(self, name: str = "") -> dict:
        return catalog_reports.summary(self._call(self._catalog.Summary, catalog_pb.NameRequest(name=_name(name) if name else name)))

    def events(self, after_id: int = 0, limit: int = 100, follow: bool = False, resource: str = ""):
        """Registry events, oldest first; with follow, keeps yielding new ones as they happen."""
        request = catalog_pb.EventsRequest(after_id=after_id, limit=limit, follow=follow, resource=resource)
        stream = self._catalog.Events(request, timeout=None if follow else self.config.timeout_s)
        try:
            for event in stream:
                yield wire.to_dict(event)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(exc) from None
        finally:
            stream.cancel()

    def import_registry(self, content: bytes, file_name: str = "", fmt: str = "auto",
                        dry_run: bool = False, host_map: Mapping[str, str] | None = None) -> dict:
        """Import a registry file (llmesh export, hafs, afs registry/lineage, imageworks); returns the report.
        host_map maps the file's location names onto hosts ({"windows": "trainer"})."""
        request = catalog_pb.ImportRequest(file_name=file_name, content=content, format=fmt, dry_run=dry_run,
                                           host_map={name: _host(host) for name, host in (host_map or {}).items()})
        return catalog_reports.import_report(self._call(self._catalog.Import, request, 600.0))

    def export_registry(self) -> dict:
        """The whole registry as one document (format llmesh-registry v1)."""
        return catalog_reports.export_document(self._call(self._catalog.Export, catalog_pb.ExportRequest(), 600.0))

    # -- transfers ------------------------------------------------------------------------

    def pull(self, ref: str, to: str, source: str = "", dest_dir: str = "", rate_limit: int = 0, *,
             registry: str = "", insecure: bool = False, ollama_layout: bool = False, include=()) -> dict:
        """Start moving a version to a host, or pulling a hub ref (a registry's or Hugging Face's
        model) to hosts; returns the job (see job() to follow it). ``to``: a host; h1,h2,h3 or
        label=KEY[=VALUE] is a fan-out (see jobs(): they share a swarm). ``rate_limit``: bytes/s
        the destination may receive for this pull (0: no limit)."""
        hub = registry or looks_like_hub_ref(ref)
        if hub:
            parse_model_ref(ref, default_registry=registry or OLLAMA_REGISTRY)
        if not to.startswith("label="):
            to = ",".join(_host(h.strip()) for h in to.split(","))
        request = transfer_pb.PullRequest(ref=ref if hub else _ref(ref), to=to, dest_dir=dest_dir,
                                          rate_limit=rate_limit, registry=registry, insecure=insecure,
                                          ollama_layout=ollama_layout, include=list(include))
        setattr(request, "from", source)
        return wire.to_dict(self._call(self._transfers.Pull, request))

    def push(self, ref: str, to: str, source: str = "", insecure: bool = False) -> dict:
        """Push a version to an OCI/Ollama registry (REGISTRY/NS/MODEL[:TAG]) or a Hugging Face repo
        (hf.co/ORG/REPO[:BRANCH]) from an agent that holds it."""
        request = transfer_pb.PushRequest(ref=_ref(ref), to=to, insecure=insecure)
        setattr(request, "from", source)
        return wire.to_dict(self._call(self._transfers.Push, request))

    def hub_login(self, host: str, hub: str, secret: str, username: str = "") -> dict:
        """Store a hub credential ("hf" or a registry HOST[:PORT]) on that host's agent only."""
        request = transfer_pb.HubLoginRequest(host=host, hub=hub, username=username, secret=secret)
        return wire.to_dict(self._call(self._transfers.HubLogin, request))

    def jobs(self, include_finished: bool = False) -> list[dict]:
        reply = self._call(self._transfers.ListJobs, transfer_pb.ListJobsRequest(all=include_finished))
        return [wire.to_dict(j) for j in reply.jobs]

    def job(self, job_id: str) -> dict:
        return wire.to_dict(self._call(self._transfers.GetJob, transfer_pb.GetJobRequest(id=job_id)))

    def watch_jobs(self, job_ids: Iterable[str]) -> Iterator[dict]:
        """Each job now, then again whenever it changes (progress at most every ~0.2 s a job, a
        state change at once), until every one has finished; then the generator ends. A coordinator
        that goes away ends it with Unavailable (keepalives notice a silent one within ~30 s); an
        older coordinator without WatchJobs raises Unimplemented (follow with job() then)."""
        ids = list(job_ids)
        stream = self._transfers.WatchJobs(transfer_pb.WatchJobsRequest(ids=ids), timeout=None)
        finished: set[str] = set()
        try:
            for message in stream:
                job = wire.to_dict(message)
                if job["state"] in FINISHED_STATES:
                    finished.add(job["id"])
                yield job
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        finally:
            stream.cancel()  # the caller stopped early: the coordinator drops the watch at once
        if not finished.issuperset(ids):  # a stream that ends early is a coordinator going away
            raise Unavailable(f"the coordinator at {self.config.address} ended the watch before the jobs finished")

    def cancel_job(self, job_id: str) -> dict:
        return wire.to_dict(self._call(self._transfers.CancelJob, transfer_pb.CancelJobRequest(id=job_id)))

    def remove_copy(self, ref: str, host: str, force: bool = False) -> dict:
        request = transfer_pb.RemoveCopyRequest(ref=_ref(ref), host=_host(host), force=force)
        return wire.to_dict(self._call(self._transfers.RemoveCopy, request, 300))

    # -- conversion and serving -----------------------------------------------------------

    def convert(self, ref: str, fmt: str = "gguf", quant: str = "", on: str = "") -> dict:
        """Start converting a version where it is; returns the job (its copy_path names the result)."""
        request = serving_pb.ConvertRequest(ref=_ref(ref), format=fmt, quant=quant, on=on)
        return wire.to_dict(self._call(self._serving.Convert, request, 3600))

    def deploy(self, ref: str, backend: str, on: str, served_name: str = "", port: int = 0, adapter: str = "",
               quant: str = "") -> dict:
        """Serve a version on a host, converting and pulling it first when needed."""
        request = serving_pb.DeployRequest(ref=_ref(ref), backend=backend, on=on, served_name=served_name, port=port,
                                           adapter=adapter, quant=quant)
        return wire.to_dict(self._call(self._serving.Deploy, request, 7200))

    def undeploy(self, ref: str, on: str = "") -> dict:
        return wire.to_dict(self._call(self._serving.Undeploy, serving_pb.UndeployRequest(ref=_ref(ref), on=on), 120))

    def deployments(self, include_stopped: bool = False) -> list[dict]:
        reply = self._call(self._serving.ListDeployments, serving_pb.ListDeploymentsRequest(all=include_stopped))
        return [wire.to_dict(d) for d in reply.deployments]

    def swap_adapter(self, deployment: str, adapter: str, on: str = "") -> dict:
        request = serving_pb.SwapAdapterRequest(deployment=deployment, adapter=adapter, on=on)
        return wire.to_dict(self._call(self._serving.SwapAdapter, request, 7200))

    def rollback_deployment(self, name: str, on: str) -> dict:
        request = serving_pb.RollbackDeploymentRequest(name=name, on=on)
        return wire.to_dict(self._call(self._serving.RollbackDeployment, request, 7200))

    def test_model(self, ref: str, on: str = "", prompt: str = "", max_tokens: int = 32,
                   ignore_eos: bool = False) -> dict:
        request = serving_pb.TestModelRequest(ref=_ref(ref), on=on, prompt=prompt, max_tokens=max_tokens,
                                              ignore_eos=ignore_eos)
        return wire.to_dict(self._call(self._serving.TestModel, request, 600))
