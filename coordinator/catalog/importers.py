"""Reading the registry files of the predecessor systems (no SQL here).

Each reader turns a file into the bundle that ``meshctl registry export`` writes (see
coordinator/registry/exchange.py) and a list of problems. Nothing is lost: every field
of a source record is mapped onto an llmesh field, or named in the report; the record is
also kept whole under the version's ``extra.source``, so what has no place in llmesh (or
had the wrong type) is reported and still there.

Locations are named as the predecessor named them (hafs: ``windows``, ``mac``; a path
without a name, as imageworks and afs keep them: ``local``); ``host_map`` (``meshctl
registry import --map-host windows=trainer``) maps those names onto llmesh hosts.

Formats (schemas in the seeds): ``hafs`` registry.json (000), ``afs-registry`` and
``afs-lineage`` (001), ``imageworks`` model_registry.json (003), and ``llmesh`` (an
export). Versions from these files have no weights yet: they get a placeholder digest
``import:<sha256 of format/name/version>`` and status pending, so importing the same
file twice, or a lineage.json after its registry.json, merges instead of duplicating.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import re

from llmesh.common.errors import InvalidArgument
from llmesh.common.names import check_host_name, is_valid_alias, is_valid_name, is_version_label, sanitize_name

AFS_STATES = {"draft": "draft", "training": "training", "completed": "active", "deployed": "active",
              "deprecated": "deprecated", "archived": "archived"}
AFS_METRICS = {"accuracy": "accuracy", "f1_score": "f1", "perplexity": "perplexity", "bleu": "bleu",
               "inference_speed_tokens_per_sec": "tokens_per_second", "latency_ms": "latency_ms",
               "memory_mb": "memory_mb"}


UNNAMED_LOCATION = "local"  # where a predecessor kept a path without naming its machine


def convert(data, fmt: str, file_name: str = "", host_map: dict[str, str] | None = None) -> dict:
    fmt = detect(data, file_name) if fmt == "auto" else fmt
    readers = {"llmesh": _llmesh, "hafs": _hafs, "afs-registry": _afs_registry, "afs-lineage": _afs_lineage,
               "imageworks": _imageworks}
    if fmt not in readers:
        raise InvalidArgument(f"unknown import format {fmt!r} (formats: {', '.join(readers)})")
    for name, host in (host_map or {}).items():
        if not name or not isinstance(host, str):
            raise InvalidArgument(f"--map-host {name}={host}: expected LOCATION=HOST")
        check_host_name(host)
    if host_map and fmt == "llmesh":
        raise InvalidArgument("--map-host maps a predecessor's location names; an llmesh export names its hosts")
    reader = _Reader(fmt, host_map or {})
    bundle = readers[fmt](data, reader)
    bundle["source_format"] = fmt
    unused = sorted(set(reader.host_map) - reader.mapped)
    if unused:
        reader.problems.append(f"--map-host {', '.join(unused)}: no location of that name in the file")
    bundle["problems"] = reader.problems + bundle.get("problems", [])
    return bundle


def detect(data, file_name: str = "") -> str:
    if isinstance(data, dict) and data.get("format") == "llmesh-registry":
        return "llmesh"
    if isinstance(data, dict) and isinstance(data.get("lineages"), dict):
        return "afs-lineage"
    if isinstance(data, dict) and isinstance(data.get("models"), dict):
        entries = [m for m in data["models"].values() if isinstance(m, dict)]
        if any("versions" in m or "metadata" in m for m in entries):
            return "afs-registry"
        if any("model_id" in m or "locations" in m or "hyperparameters" in m for m in entries):
            return "hafs"
    entries = _imageworks_entries(data)
    if entries is not None and any(isinstance(e, dict) and ("backend" in e or "roles" in e) for e in entries):
        return "imageworks"
    raise InvalidArgument(f"{file_name or 'the file'}: not a registry file llmesh knows (llmesh export, hafs or "
                          "afs registry.json, afs lineage.json, imageworks model_registry.json); pass --format")


class _Reader:
    """Typed getters that report a wrong type and carry on."""

    def __init__(self, fmt: str, host_map: dict[str, str] | None = None):
        self.fmt = fmt
        self.problems: list[str] = []
        self.host_map = dict(host_map or {})
        self.mapped: set[str] = set()

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def leftovers(self, where: str, record: dict, mapped: set[str], prefix: str = "") -> None:
        """Report the fields of a record no reader maps (empty ones carry nothing)."""
        left = sorted(f"{prefix}{k}" for k, v in record.items() if k not in mapped and v not in (None, "", [], {}))
        if left:
            self.problem(where, f"{', '.join(left)} {'has' if len(left) == 1 else 'have'} no llmesh field; "
                                "kept under extra.source")

    def location(self, name: str) -> str:
        """The llmesh host a predecessor's location name stands for."""
        if name in self.host_map:
            self.mapped.add(name)
            return self.host_map[name]
        return name

    def aliases(self, record: dict, key: str, where: str) -> list[str]:
        out = []
        for alias in self.strings(record, key, where):
            if is_valid_alias(alias) and alias != "latest" and not re.fullmatch(r"v\d+", alias):
                out.append(alias)
            else:
                self.problem(where, f"{key} {alias!r} is not a valid llmesh alias; kept under extra.source")
        return out

    def number(self, record: dict, key: str, where: str):
        value = record.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.problem(where, f"{key} {value!r} is not a number; kept under extra.source")
            return None
        return value

    def text(self, record: dict, key: str, where: str) -> str:
        value = record.get(key)
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.problem(where, f"{key} {value!r} is not text; kept under extra.source")
            return ""
        return str(value)

    def strings(self, record: dict, key: str, where: str) -> list[str]:
        value = record.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(where, f"{key} {value!r} is not a list of strings; kept under extra.source")
            return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        return value

    def mapping(self, record: dict, key: str, where: str) -> dict:
        value = record.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, f"{key} {value!r} is not an object; kept under extra.source")
            return {}
        return value

    def when(self, record: dict, key: str, where: str) -> float | None:
        value = record.get(key)
        if value in (None, ""):
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.problem(where, f"{key} {value!r} is not a date; kept under extra.source")
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()

    def name(self, raw, where: str) -> str | None:
        if not isinstance(raw, str) or not raw:
            self.problem(where, f"model name {raw!r} is missing or not text; skipped")
            return None
        if is_valid_name(raw):
            return raw
        fixed = sanitize_name(raw)
        self.problem(where, f"model name {raw!r} is not a valid llmesh name; imported as {fixed!r}")
        return fixed

    def metrics(self, scores: dict, where: str, names: dict | None = None) -> dict:
        out = {}
        for key, value in scores.items():
            if value is None:
                continue
            if isinstance(value, dict):
                out.update(self.metrics(value, where, None))
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                self.problem(where, f"metric {key} {value!r} is not a number; kept under extra.source")
                continue
            out[(names or {}).get(key, key)] = value
        return out


def _version_number(label, where: str, reader: _Reader) -> tuple[int | None, str, str]:
    """'v3' -> (3, '', ''); 'v1.1.0' or '2.1' -> (None, semver, ''); 'v2b' -> (None, '', 'v2b'):
    a label that is neither is kept beside the number it gets (NAME:v2b still finds it)."""
    text = str(label or "").strip()
    match = re.fullmatch(r"v?(\d{1,9})", text)
    if match:
        return int(match.group(1)), "", ""
    match = re.fullmatch(r"v?(\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?)", text)
    if match:
        return None, match.group(1), ""
    if is_version_label(text):
        return None, "", text
    if text:
        reader.problem(where, f"version {label!r} is neither vN, semver nor a label like v2b; numbered automatically")
    return None, "", ""


def placeholder_digest(fmt: str, name: str, label: str) -> str:
    family = "afs" if fmt.startswith("afs") else fmt
    return "import:" + hashlib.sha256(f"{family}\0{name}\0{label}".encode()).hexdigest()


def _version(fmt: str, name: str, label: str, reader: _Reader, record) -> dict:
    number, semver, kept_label = _version_number(label, f"{name} {label}", reader)
    return {"number": number, "semver": semver, "label": kept_label,
            "digest": placeholder_digest(fmt, name, str(label)),
            "kind": "model", "format": "", "source": f"import:{fmt}", "status": "pending", "state": "active",
            "registered": True, "metadata": {}, "params": {}, "metrics": {}, "tags": {}, "roles": [],
            "capabilities": {}, "datasets": [], "backends": [], "parents": [], "locations": {}, "aliases": [],
            "extra": {"source": {"format": fmt, "record": record}}}


# -- hafs registry.json (000) ---------------------------------------------------------------------

HAFS_FIELDS = {"model_id", "display_name", "version", "base_model", "role", "group", "training_date",
               "training_duration_minutes", "dataset_name", "dataset_path", "train_samples", "val_samples",
               "test_samples", "dataset_quality", "final_loss", "best_loss", "perplexity", "lora_config",
               "hyperparameters", "hardware", "device", "model_path", "formats", "locations", "primary_location",
               "deployed_backends", "ollama_model_name", "halext_node_id", "git_commit", "notes", "tags",
               "created_at", "updated_at"}


def _hafs(data, r: _Reader) -> dict:
    models = []
    for key, rec in _entries(data, "models", r):
        where = f"hafs model {key}"
        if not isinstance(rec, dict):
            r.problem(where, "is not an object; skipped")
            continue
        name = r.name(rec.get("model_id") or key, where)
        if not name:
            continue
        v = _version("hafs", name, r.text(rec, "version", where) or "v1", r, rec)
        v["base_model"] = r.text(rec, "base_model", where)
        v["roles"] = r.strings(rec, "role", where)
        if rec.get("group"):
            v["tags"]["group"] = r.text(rec, "group", where)
        for tag in r.strings(rec, "tags", where):
            v["tags"][tag] = "true"
        if rec.get("formats"):
            v["tags"]["formats"] = ",".join(r.strings(rec, "formats", where))
        if rec.get("ollama_model_name"):  # the name Ollama serves it under
            v["tags"]["served_name"] = r.text(rec, "ollama_model_name", where)
        if rec.get("halext_node_id") not in (None, ""):
            v["tags"]["halext_node"] = r.text(rec, "halext_node_id", where)
        v["created_at"] = r.when(rec, "created_at", where) or r.when(rec, "training_date", where)
        v["updated_at"] = r.when(rec, "updated_at", where)
        minutes = r.number(rec, "training_duration_minutes", where)
        v["duration_s"] = minutes * 60 if minutes is not None else None
        if rec.get("dataset_name"):
            v["datasets"].append({"name": sanitize_name(r.text(rec, "dataset_name", where)), "digest": ""})
        for key_ in ("train_samples", "val_samples", "test_samples"):
            value = r.number(rec, key_, where)
            if value is not None:
                v["params"][key_] = value
        for key_ in ("dataset_path", "device"):
            if rec.get(key_):
                v["params"][key_] = r.text(rec, key_, where)
        for key_, value in r.mapping(rec, "dataset_quality", where).items():
            v["params"][f"dataset_quality.{key_}"] = value
        training = {k: rec[k] for k in ("final_loss", "best_loss") if r.number(rec, k, where) is not None}
        if rec.get("training_date"):
            training["date"] = r.text(rec, "training_date", where)
        if training:
            v["metadata"]["training"] = training
        v["metrics"] = r.metrics({k: rec[k] for k in ("perplexity",) if k in rec}, where)
        lora = r.mapping(rec, "lora_config", where)
        if lora:
            v["kind"] = "lora"
            v["metadata"]["lora"] = {("alpha" if k == "lora_alpha" else "dropout" if k == "lora_dropout" else k): val
                                     for k, val in lora.items()}
        v["params"].update(r.mapping(rec, "hyperparameters", where))
        v["hardware"] = r.text(rec, "hardware", where)
        v["code_commit"] = r.text(rec, "git_commit", where)
        v["notes"] = r.text(rec, "notes", where)
        v["backends"] = r.strings(rec, "deployed_backends", where)
        v["locations"] = _hafs_locations(rec, r, where)
        r.leftovers(where, rec, HAFS_FIELDS)
        models.append({"name": name, "display_name": r.text(rec, "display_name", where), "versions": [v]})
    return {"models": models}


def _hafs_locations(rec: dict, r: _Reader, where: str) -> dict:
    """locations {name: path}, with model_path as the primary location's path when it is not among them."""
    named = {h: p for h, p in r.mapping(rec, "locations", where).items() if isinstance(p, str)}
    model_path = r.text(rec, "model_path", where)
    primary = r.text(rec, "primary_location", where) or UNNAMED_LOCATION
    if model_path and model_path not in named.values():
        if primary in named:
            r.problem(where, f"model_path {model_path!r} is not among its locations; kept under extra.source")
        else:
            named[primary] = model_path
    return {r.location(h): p for h, p in named.items()}


# -- afs registry.json and lineage.json (001) -------------------------------------------------

AFS_MODEL_FIELDS = {"model_name", "created_at", "description", "owner", "tags", "notes"}
AFS_VERSION_FIELDS = {"model_name", "version", "created_at", "status", "lora_path", "gguf_path", "training",
                      "evaluation_scores", "deployed", "deployed_at", "parent_version", "training_data_sources",
                      "git_commit", "tags", "notes"}
AFS_TRAINING = {"framework": "framework", "base_model": "base_model", "hardware": "hardware",
                "duration_hours": "duration_s", "cost_usd": "cost_usd"}  # the rest become params
AFS_PARAMS = {"epochs": "num_epochs"}
AFS_LINEAGE_FIELDS = {"created_at", "parent_version", "training_data", "git_commit", "base_model", "notes"}


def _afs_registry(data, r: _Reader) -> dict:
    models = []
    for key, rec in _entries(data, "models", r):
        where = f"afs model {key}"
        if not isinstance(rec, dict):
            r.problem(where, "is not an object; skipped")
            continue
        meta = r.mapping(rec, "metadata", where)
        name = r.name(meta.get("model_name") or key, where)
        if not name:
            continue
        notes = r.text(meta, "notes", where)
        description = r.text(meta, "description", where) or notes
        if notes and description != notes:
            r.problem(where, "metadata.notes has no llmesh field beside the description; kept under extra.source")
        r.leftovers(where, meta, AFS_MODEL_FIELDS, "metadata.")
        r.leftovers(where, rec, {"metadata", "versions"})
        model_tags = r.strings(meta, "tags", where)  # llmesh tags versions: every version gets them
        model = {"name": name, "description": description,
                 "owner": r.text(meta, "owner", where), "created_at": r.when(meta, "created_at", where),
                 "extra": {"source": {"format": "afs-registry", "record": meta}}, "versions": []}
        newest_deployed = None
        for label, vrec in r.mapping(rec, "versions", where).items():
            vwhere = f"afs {name} {label}"
            if not isinstance(vrec, dict):
                r.problem(vwhere, "is not an object; skipped")
                continue
            v = _version("afs", name, label, r, vrec)
            status = r.text(vrec, "status", vwhere)
            if status and status not in AFS_STATES:
                r.problem(vwhere, f"status {status!r} is not an afs status; imported as active")
            v["state"] = AFS_STATES.get(status, "active")
            v["created_at"] = r.when(vrec, "created_at", vwhere)
            _afs_training(v, r.mapping(vrec, "training", vwhere), r, vwhere)
            scores = r.mapping(vrec, "evaluation_scores", vwhere)
            v["metrics"] = r.metrics({k: s for k, s in scores.items() if k != "custom_metrics"}, vwhere, AFS_METRICS)
            v["metrics"].update(r.metrics(r.mapping(scores, "custom_metrics", vwhere), vwhere))
            if vrec.get("lora_path"):
                v["kind"] = "lora"
            v["extra"]["paths"] = {k: vrec[k] for k in ("lora_path", "gguf_path") if vrec.get(k)}
            if vrec.get("deployed") is True:
                v["tags"]["deployed"] = "true"
                if vrec.get("deployed_at"):
                    v["tags"]["deployed_at"] = r.text(vrec, "deployed_at", vwhere)
                when = r.when(vrec, "deployed_at", vwhere) or 0
                if newest_deployed is None or when >= newest_deployed[0]:
                    newest_deployed = (when, v)
            parent = r.text(vrec, "parent_version", vwhere)
            if parent:
                v["parents"].append({"name": name, "label": parent, "relation": "finetune"})
            v["datasets"] = [{"name": sanitize_name(d), "digest": ""}
                             for d in r.strings(vrec, "training_data_sources", vwhere)]
            v["code_commit"] = r.text(vrec, "git_commit", vwhere)
            for tag in model_tags + r.strings(vrec, "tags", vwhere):
                v["tags"][tag] = "true"
            v["notes"] = r.text(vrec, "notes", vwhere)
            r.leftovers(vwhere, vrec, AFS_VERSION_FIELDS)
            model["versions"].append(v)
        if newest_deployed is not None:
            newest_deployed[1]["aliases"] = ["prod"]  # afs "deployed" is what llmesh calls @prod
        models.append(model)
    return {"models": models}


def _afs_training(v: dict, training: dict, r: _Reader, where: str) -> None:
    for key, target in AFS_TRAINING.items():
        if key in ("duration_hours", "cost_usd"):
            value = r.number(training, key, where)
            v[target] = value * 3600 if key == "duration_hours" and value is not None else value
        else:
            v[target] = r.text(training, key, where)
    for key, value in training.items():  # samples, epochs, batch size, learning rate, and any other
        if key in AFS_TRAINING or value in (None, ""):
            continue
        if isinstance(value, (str, int, float, bool, list)):
            v["params"][AFS_PARAMS.get(key, key)] = value
        else:
            r.problem(where, f"training.{key} {value!r} is not a value; kept under extra.source")


def _afs_lineage(data, r: _Reader) -> dict:
    models = []
    for key, rec in _entries(data, "lineages", r):
        where = f"afs lineage {key}"
        name = r.name(key, where) if isinstance(rec, dict) else None
        if not name:
            if not isinstance(rec, dict):
                r.problem(where, "is not an object; skipped")
            continue
        r.leftovers(where, rec, {"created_at", "versions"})
        model = {"name": name, "created_at": r.when(rec, "created_at", where), "versions": []}
        for label, vrec in r.mapping(rec, "versions", where).items():
            vwhere = f"afs lineage {name} {label}"
            if not isinstance(vrec, dict):
                r.problem(vwhere, "is not an object; skipped")
                continue
            v = _version("afs", name, label, r, vrec)
            v["created_at"] = r.when(vrec, "created_at", vwhere)
            parent = r.text(vrec, "parent_version", vwhere)
            if parent:
                v["parents"].append({"name": name, "label": parent, "relation": "finetune"})
            base = r.text(vrec, "base_model", vwhere)
            if re.fullmatch(r"[^:@\s]+:v?\d+[0-9A-Za-z._-]*", base):  # "majora:v1": a parent in the registry
                base_name, _, base_label = base.rpartition(":")
                if not (base_name == name and base_label == parent):
                    v["parents"].append({"name": base_name, "label": base_label, "relation": "finetune"})
            else:
                v["base_model"] = base
            v["datasets"] = [{"name": sanitize_name(d), "digest": ""} for d in r.strings(vrec, "training_data", vwhere)]
            v["code_commit"] = r.text(vrec, "git_commit", vwhere)
            v["notes"] = r.text(vrec, "notes", vwhere)
            r.leftovers(vwhere, vrec, AFS_LINEAGE_FIELDS)
            model["versions"].append(v)
        models.append(model)
    return {"models": models}


# -- imageworks model_registry.json (003) ---------------------------------------------------

def _imageworks_entries(data):
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("models", "entries", "registry"):
            if isinstance(data.get(key), list):
                return data[key]
            if isinstance(data.get(key), dict):
                return [dict(v, name=v.get("name", k)) if isinstance(v, dict) else v for k, v in data[key].items()]
    return None


IMAGEWORKS_FIELDS = {"name", "display_name", "backend", "backend_config", "capabilities", "artifacts",
                     "chat_template", "version_lock", "performance", "probes", "served_model_id", "model_aliases",
                     "roles", "license", "source", "metadata", "deprecated", "profiles_placeholder"}


def _imageworks(data, r: _Reader) -> dict:
    models = []
    for i, rec in enumerate(_imageworks_entries(data) or []):
        where = f"imageworks entry {i + 1}"
        if not isinstance(rec, dict):
            r.problem(where, "is not an object; skipped")
            continue
        name = r.name(rec.get("name"), where)
        if not name:
            continue
        where = f"imageworks {name}"
        v = _version("imageworks", name, "v1", r, rec)
        backend = r.text(rec, "backend", where)
        if not backend:
            r.problem(where, "has no backend (required in the unified schema); imported without one")
        v["backends"] = [backend] if backend else []
        caps = r.mapping(rec, "capabilities", where)
        for key, value in caps.items():
            if isinstance(value, bool):
                v["capabilities"][key] = value
            else:
                r.problem(where, f"capability {key} {value!r} is not true/false; kept under extra.source")
        v["roles"] = r.strings(rec, "roles", where)
        v["aliases"] = r.aliases(rec, "model_aliases", where)  # other names it answers to
        if rec.get("deprecated") is True:
            v["state"] = "deprecated"
        if rec.get("license"):
            v["tags"]["license"] = r.text(rec, "license", where)
        if rec.get("served_model_id"):  # the name its backend serves it under
            v["tags"]["served_name"] = r.text(rec, "served_model_id", where)
        if r.mapping(rec, "version_lock", where).get("locked"):
            r.problem(where, "version lock kept under extra.source; run `meshctl models verify --lock` "
                             "once its weights are registered")
        if r.mapping(rec, "artifacts", where):
            r.problem(where, "artifacts (imageworks' own file hashes, not llmesh digests) kept under extra.source; "
                             "registering the weights gives the llmesh digest")
        v["metrics"] = r.metrics(r.mapping(rec, "performance", where), where)
        for key in ("chat_template", "probes", "profiles_placeholder"):
            if rec.get(key) not in (None, "", {}, []):
                v["metadata"][key.replace("_placeholder", "")] = rec[key]
        config = r.mapping(rec, "backend_config", where)
        for key, value in config.items():  # how the backend is started: port, extra_args, …
            if key != "model_path" and value not in (None, ""):
                v["params"][f"backend_config.{key}"] = value
        source = r.mapping(rec, "source", where)
        if source.get("huggingface_id"):
            v["metadata"]["hf"] = {"repo_id": r.text(source, "huggingface_id", where)}
        details = {k: val for k, val in source.items() if k not in ("huggingface_id", "path")}
        if details:
            v["metadata"]["source"] = details
        paths = [p for p in (r.text(config, "model_path", where), r.text(source, "path", where)) if p]
        if paths:
            v["locations"] = {r.location(UNNAMED_LOCATION): paths[0]}
            if len(set(paths)) > 1:
                r.problem(where, f"source.path {paths[1]!r} differs from backend_config.model_path; "
                                 "kept under extra.source")
        extras = r.mapping(rec, "metadata", where)
        v["notes"] = r.text(extras, "notes", where)
        r.leftovers(where, extras, {"notes"}, "metadata.")
        r.leftovers(where, rec, IMAGEWORKS_FIELDS)
        models.append({"name": name, "display_name": r.text(rec, "display_name", where), "versions": [v]})
    return {"models": models}


# -- llmesh export ------------------------------------------------------------------------------------

def _llmesh(data, r: _Reader) -> dict:
    if data.get("format_version") != 1:
        raise InvalidArgument(f"llmesh export format version {data.get('format_version')!r} is not supported (1 is)")
    models = data.get("models")
    if not isinstance(models, list):
        raise InvalidArgument("llmesh export without a models list")
    return {key: data.get(key) or [] for key in ("hosts", "models", "aliases", "alias_history", "tombstones",
                                                 "events")} | {"exact": True}


def _entries(data, key: str, r: _Reader):
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise InvalidArgument(f"expected an object with a {key!r} object")
    return data[key].items()
