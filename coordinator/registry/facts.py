"""What a version can record about itself, and the checks on it (no SQL here): lifecycle
states and their moves, registration statuses, lineage relations, metric names, training
parameters, and the keys of tags, roles, capabilities and backends."""
from __future__ import annotations

import json
import math
import re
from typing import Any

from llmesh.common.errors import InvalidArgument
from llmesh.common.names import KEY_RE, check_key, shown  # noqa: F401 (the key rules live in names)

STATES = ("draft", "training", "active", "deprecated", "archived")
# Which lifecycle moves a user may make. Leaving draft/training needs weights (status ready).
TRANSITIONS = {
    "draft": {"training", "active", "archived"},
    "training": {"draft", "active", "archived"},
    "active": {"deprecated", "archived"},
    "deprecated": {"active", "archived"},
    "archived": {"active"},
}
STATUSES = ("pending", "verifying", "ready", "failed")
RELATIONS = ("finetune", "adapter", "merge", "quantized", "convert")
STANDARD_METRICS = ("accuracy", "f1", "perplexity", "bleu", "rouge1", "rouge2", "rougeL",
                    "tokens_per_second", "latency_ms", "memory_mb")
METRIC_SYNONYMS = {
    "f1_score": "f1", "rouge-1": "rouge1", "rouge_1": "rouge1", "rouge-2": "rouge2",
    "rouge_2": "rouge2", "rouge-l": "rougeL", "rouge_l": "rougeL", "rougel": "rougeL",
    "inference_speed_tokens_per_sec": "tokens_per_second", "tokens_per_sec": "tokens_per_second",
    "speed": "tokens_per_second", "latency": "latency_ms", "memory": "memory_mb",
    "memory_usage_mb": "memory_mb", "bleu_score": "bleu", "ppl": "perplexity",
}
SEMVER_RE = re.compile(r"v?(\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)")
PENDING_PREFIX = "pending:"


def metric_name(key: str) -> str:
    """The standard name of a metric (f1_score -> f1, rouge-l -> rougeL); custom names stay."""
    check_key(key, "metric name")
    lower = key.lower()
    standard = {m.lower(): m for m in STANDARD_METRICS}
    return standard.get(lower) or METRIC_SYNONYMS.get(lower) or key


def metric_value(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"metric {key!r} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidArgument(f"metric {key!r} must be a finite number, got {value!r}")
    return float(value)


def check_semver(label: str) -> str:
    match = SEMVER_RE.fullmatch(label) if isinstance(label, str) and len(label) <= 128 else None
    if not match:
        raise InvalidArgument(f"invalid semver label {shown(label)}: expected MAJOR.MINOR[.PATCH][-PRE], e.g. 1.2.0")
    return match.group(1)


_SEMVER_PARTS_RE = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]*)?")


def semver_key(label: str | None) -> str | None:
    """A text that sorts as semver.org orders versions: 1.9.0 < 1.10.0, 1.0.0-alpha <
    1.0.0-alpha.1 < 1.0.0-beta < 1.0.0; build metadata is ignored. None if not a version.

    Numbers are written with their length first ("2" -> "12", "10" -> "210"), so longer
    numbers sort after shorter ones; a release ends in "~", which sorts after the "-"
    that starts a pre-release; pre-release identifiers are joined by "!", which sorts
    before every character they may hold, so a shorter list sorts first; a numeric
    identifier ("0" + number) sorts before an alphanumeric one ("1" + text).
    Stored in versions.semver_key (migration 22): keep this function's output stable."""
    match = _SEMVER_PARTS_RE.fullmatch(label) if isinstance(label, str) and label else None
    if not match:
        return None
    major, minor, patch, pre = match.groups()

    def number(text: str) -> str:
        digits = text.lstrip("0") or "0"
        return f"{len(digits):02d}{digits}"

    key = ".".join(number(part or "0") for part in (major, minor, patch))
    if not pre:
        return key + "~"
    identifiers = ["0" + number(i) if i.isdigit() else "1" + i for i in pre.split(".")]
    return key + "-" + "!".join(identifiers)


def non_negative(key: str, value: Any) -> float:
    """A duration or a cost: a finite number, 0 or more."""
    number = metric_value(key, value)
    if number < 0:
        raise InvalidArgument(f"{key} must be 0 or more, got {value!r}")
    return number


def check_limit(limit: Any, most: int = 100_000) -> int:
    """How many rows a listing returns: 0 (the default) up to ``most``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= most:
        raise InvalidArgument(f"limit must be between 0 and {most}, got {limit!r}")
    return limit


def check_state(state: str) -> str:
    if state not in STATES:
        raise InvalidArgument(f"unknown lifecycle state {state!r} (states: {', '.join(STATES)})")
    return state


def check_relation(relation: str) -> str:
    if relation not in RELATIONS:
        raise InvalidArgument(f"unknown lineage relation {relation!r} (relations: {', '.join(RELATIONS)})")
    return relation


def param_row(key: str, value: Any) -> tuple[str, float | None]:
    """A training parameter as (text, number-or-None), so search can compare either way."""
    check_key(key, "parameter name")
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return json.dumps(value), float(value)
    if isinstance(value, str):
        try:
            number = float(value)
            return value, number if math.isfinite(number) else None
        except ValueError:
            return value, None
    return json.dumps(value, sort_keys=True), None


def param_value(text: str, number: float | None) -> Any:
    if number is not None:
        try:  # the number as it was given: 4 stays an int, 2e-4 a float
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return number
    if text in ("true", "false"):
        return text == "true"
    return text
