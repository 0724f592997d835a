"""Every kind of model reference, parsed in one place.

- the mesh's own ``NAME``, ``NAME:VERSION``, ``NAME@ALIAS`` (llmesh.common.names.parse_ref);
- Hugging Face: ``hf.co/ORG/REPO[:REVISION][/FILE]`` or ``huggingface.co/…``;
- Ollama: ``ollama.com/library/mistral:7b``, ``registry.ollama.ai/…`` and bare Ollama names
  (``mistral``, ``bartowski/qwen:q4``) on a configurable default registry;
- any OCI distribution registry: ``HOST[:PORT]/NS/MODEL[:TAG]``.

Ollama's name rules (its types/model/name.go): parts are ``[host/][namespace/]model[:tag]``,
each of letters, digits, ``_``, ``-`` and ``.`` (no ``.`` in a namespace), no ``..``, at most
128 characters; a leading ``http://``/``https://`` is dropped; missing parts default to
``registry.ollama.ai``, ``library`` and ``latest``. A host may carry a port.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from llmesh.common.errors import InvalidArgument
from llmesh.common.names import ModelRef, parse_ref, shown

OLLAMA_REGISTRY = "registry.ollama.ai"
HF_REGISTRY = "huggingface.co"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
HF_DEFAULT_REVISION = "main"
MAX_REF_LENGTH = 128 * 4

# Other names of the same two hubs.
_HF_HOSTS = {"hf.co", "huggingface.co", "www.huggingface.co"}
_OLLAMA_HOSTS = {"ollama.com", "www.ollama.com", "ollama.ai", "registry.ollama.ai", "registry.ollama.com"}

_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")      # model and tag
_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}")  # no '.' in a namespace
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:\d{1,5})?")
# A Hub repo id part; a revision is a branch, tag or commit (branches may hold '/').
_HF_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_HF_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}")
_HF_FILE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./ +=-]{0,1023}")


@dataclass(frozen=True)
class HubRef:
    """A model on a hub. ``kind`` is "hf" (Hugging Face) or "oci" (Ollama or any OCI registry).

    For "oci": ``registry`` is HOST[:PORT], ``namespace``/``model`` the repository, ``tag``
    the tag. For "hf": ``namespace``/``model`` the repo id, ``tag`` the revision, ``file``
    one file of the repo (or empty: the whole repo, filtered by ``include``).
    """

    kind: str
    registry: str
    namespace: str
    model: str
    tag: str
    file: str = ""
    include: tuple[str, ...] = ()
    insecure: bool = False

    @property
    def repository(self) -> str:
        """The registry's repository name (OCI) or the Hub's repo id (hf)."""
        return f"{self.namespace}/{self.model}"

    @property
    def is_ollama(self) -> bool:
        return self.kind == "oci" and self.registry == OLLAMA_REGISTRY

    @property
    def base_url(self) -> str:
        if self.kind == "hf":
            return f"https://{HF_REGISTRY}"
        return f"{'http' if self.insecure else 'https'}://{self.registry}"

    @property
    def ollama_manifest_parts(self) -> tuple[str, str, str, str]:
        """Where Ollama keeps this model's manifest: manifests/REGISTRY/NS/MODEL/TAG."""
        return (self.registry, self.namespace, self.model, self.tag)

    def suggested_name(self) -> str:
        """A mesh model name for what this ref brings in (NS/MODEL; bare MODEL for library/)."""
        if self.kind == "oci" and self.namespace == DEFAULT_NAMESPACE:
            return self.model
        return self.repository

    @property
    def canonical(self) -> str:
        """REGISTRY/NAMESPACE/MODEL:TAG, every part filled in."""
        return f"{self.registry}/{self.repository}:{self.tag}" + (f"/{self.file}" if self.file else "")

    def with_options(self, *, include=(), insecure: bool = False) -> "HubRef":
        return replace(self, include=tuple(include) or self.include, insecure=insecure or self.insecure)

    def __str__(self) -> str:
        if self.kind == "hf":
            text = f"hf.co/{self.repository}"
            if self.tag != HF_DEFAULT_REVISION:
                text += f":{self.tag}"
            return text + (f"/{self.file}" if self.file else "")
        return f"{self.registry}/{self.repository}:{self.tag}"


def looks_like_hub_ref(text: str) -> bool:
    """True when ``text`` names a hub explicitly (a host before the first '/')."""
    text = _strip_scheme(text.strip()) if isinstance(text, str) else ""
    head, sep, _ = text.partition("/")
    return bool(sep) and (head.lower() in _HF_HOSTS or head.lower() in _OLLAMA_HOSTS or _is_host(head))


def parse_model_ref(text: str, *, default_registry: str = "", insecure: bool = False,
                    include=()) -> ModelRef | HubRef:
    """A mesh ref (NAME, NAME:VERSION, NAME@ALIAS) or a hub ref. Bare names are the mesh's
    unless ``default_registry`` is given: then they are Ollama-style names on that registry."""
    if looks_like_hub_ref(text) or (default_registry and isinstance(text, str)):
        return parse_hub_ref(text, default_registry=default_registry or OLLAMA_REGISTRY,
                             insecure=insecure, include=include)
    return parse_ref(text)


def parse_hub_ref(text: str, *, default_registry: str = OLLAMA_REGISTRY,
                  default_namespace: str = DEFAULT_NAMESPACE, insecure: bool = False,
                  include=()) -> HubRef:
    """Parse a hub reference; bare names go to ``default_registry``/``default_namespace``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidArgument(f"empty or invalid hub reference {shown(text)}")
    raw = text
    text = _strip_scheme(text.strip())
    if len(text) > MAX_REF_LENGTH:
        raise InvalidArgument(f"hub reference {shown(raw)} is too long")
    head, sep, rest = text.partition("/")
    if sep and head.lower() in _HF_HOSTS:
        return _parse_hf(rest, raw, include)
    if sep and (head.lower() in _OLLAMA_HOSTS or _is_host(head)):
        registry = OLLAMA_REGISTRY if head.lower() in _OLLAMA_HOSTS else head.lower()
        path = rest
    else:
        registry = _normal_registry(default_registry)
        if registry == HF_REGISTRY:  # bare names on the Hub: ORG/REPO, or REPO in the default org
            return _parse_hf(text if "/" in text else f"{default_namespace}/{text}", raw, include)
        path = text
    return _parse_oci(registry, path, raw, default_namespace, insecure, include)


def parse_hub_target(target: str) -> str:
    """What `hub login` names: "hf" for Hugging Face, else a registry HOST[:PORT] (normalised as a
    ref's registry is, so the credential is found by the pulls and pushes to it)."""
    if target.strip().lower() == "hf":
        return "hf"
    try:
        ref = parse_hub_ref(f"{target}/x/y")  # a registry host, checked as a ref's host is
    except InvalidArgument:
        raise InvalidArgument(f"invalid registry {target!r}: expected hf or HOST[:PORT]") from None
    if ref.kind != "oci":
        raise InvalidArgument(f"{target!r}: use `hf` for Hugging Face")
    return ref.registry


def _parse_oci(registry: str, path: str, raw: str, default_namespace: str, insecure: bool,
               include) -> HubRef:
    path, colon, tag = path.partition(":") if path.count(":") <= 1 else (path, "", "")
    if (colon and not tag) or ":" in path or "@" in path or "+" in path:
        raise InvalidArgument(f"invalid model reference {shown(raw)}: expected [HOST/][NAMESPACE/]MODEL[:TAG]")
    parts = path.split("/")
    if len(parts) == 1:
        parts = [default_namespace, parts[0]]
    if len(parts) != 2 or not all(parts):
        raise InvalidArgument(f"invalid model reference {shown(raw)}: expected [HOST/][NAMESPACE/]MODEL[:TAG] "
                              "(one namespace, one model)")
    namespace, model = parts
    tag = tag or DEFAULT_TAG
    for what, value, pattern in (("namespace", namespace, _NAMESPACE), ("model", model, _PART),
                                 ("tag", tag, _PART)):
        if not pattern.fullmatch(value) or ".." in value:
            allowed = "letters, digits, '_', '-'" + ("" if what == "namespace" else ", '.'")
            raise InvalidArgument(f"invalid {what} {shown(value)} in {shown(raw)}: use {allowed} (at most 128)")
    return HubRef("oci", registry, namespace, model, tag, include=tuple(include), insecure=insecure)


def _parse_hf(rest: str, raw: str, include) -> HubRef:
    parts = rest.split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid Hugging Face reference {shown(raw)}: expected hf.co/ORG/REPO[:REVISION][/FILE]")
    org, repo = parts[0], parts[1]
    repo, _, revision = repo.partition(":")
    file = "/".join(parts[2:])
    if not revision and ":" in file:  # hf.co/org/repo/file.gguf:rev reads the same way
        file, _, revision = file.rpartition(":")
    for what, value in (("organisation", org), ("repository", repo)):
        if not _HF_PART.fullmatch(value) or ".." in value or "--" in value or value.endswith((".", "-")):
            raise InvalidArgument(f"invalid Hugging Face {what} {shown(value)} in {shown(raw)}: use letters, "
                                  "digits, '.', '_', '-' (at most 96, no '--' or '..')")
    revision = revision or HF_DEFAULT_REVISION
    if not _HF_REVISION.fullmatch(revision) or ".." in revision:
        raise InvalidArgument(f"invalid revision {shown(revision)} in {shown(raw)}")
    if file and (not _HF_FILE.fullmatch(file) or ".." in file.split("/") or "//" in file):
        raise InvalidArgument(f"invalid file {shown(file)} in {shown(raw)}")
    return HubRef("hf", HF_REGISTRY, org, repo, revision, file=file, include=tuple(include))


def _strip_scheme(text: str) -> str:
    for scheme in ("https://", "http://", "oci://"):
        if text.lower().startswith(scheme):
            return text[len(scheme):]
    return text


def _is_host(head: str) -> bool:
    """A first path part is a registry host when it has a dot or a port, or is localhost."""
    if not _HOST.fullmatch(head) or ".." in head:
        return False
    return "." in head or ":" in head or head.split(":")[0].lower() == "localhost"


def _normal_registry(registry: str) -> str:
    registry = _strip_scheme(registry.strip()).rstrip("/").lower()
    if registry in _OLLAMA_HOSTS:
        return OLLAMA_REGISTRY
    if registry in _HF_HOSTS:
        return HF_REGISTRY
    if not _HOST.fullmatch(registry):
        raise InvalidArgument(f"invalid registry {shown(registry)}: expected HOST[:PORT]")
    return registry
