"""Options of the catalog shared by `models register` and `models edit`, and their parsing
(tags, durations, metrics, parameters, capabilities, datasets)."""
from __future__ import annotations

import json

import click

from llmesh.common import units
from llmesh.common.errors import InvalidArgument

# -- option parsing (shared with `models register`) -------------------------------------------

def parse_duration(text: str | None) -> float | None:
    """Seconds (common.units.parse_duration), None when not given."""
    return units.parse_duration(text) if text else None


def parse_numbers(pairs, what: str = "metric") -> dict[str, float]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            out[key] = float(value) if sep and key else None
        except ValueError:
            out[key] = None
        if out[key] is None:
            raise InvalidArgument(f"invalid {what} {pair!r}: expected KEY=NUMBER, e.g. accuracy=0.85")
    return out


def parse_params(pairs) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"invalid parameter {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def parse_capabilities(items) -> dict[str, bool]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep and value.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise InvalidArgument(f"invalid capability {item!r}: expected NAME or NAME=true|false")
        out[key] = not sep or value.lower() in ("true", "yes", "1")
    return out


def parse_datasets(items) -> list[dict]:
    return [{"name": name, "digest": digest} for name, _, digest in (item.partition("@") for item in items)]


def catalog_facts(semver, capabilities, parents, relation, datasets, framework, hardware, duration, cost,
                  commit, params, metrics, backends, description) -> dict:
    """The catalog options of register/edit, as the SDK takes them (only those given)."""
    facts = {"semver": semver, "capabilities": parse_capabilities(capabilities), "parents": list(parents),
             "relation": relation, "datasets": parse_datasets(datasets), "framework": framework,
             "hardware": hardware, "duration_s": parse_duration(duration), "cost_usd": cost,
             "code_commit": commit, "params": parse_params(params), "metrics": parse_numbers(metrics),
             "description": description}
    if backends:
        facts["backends"] = list(backends)
    return {k: v for k, v in facts.items() if v not in (None, "", [], {})}


def catalog_options(fn):
    """--semver, --capability, --parent, … shared by `register` and `edit`."""
    options = [
        click.option("--semver", default=None, help="A semver label, unique within the model (e.g. 1.2.0)."),
        click.option("--capability", "capabilities", multiple=True, metavar="NAME[=false]",
                     help="A capability such as vision or text (repeatable)."),
        click.option("--parent", "parents", multiple=True, metavar="NAME:VER",
                     help="A parent version (repeatable; NAME@alias works too)."),
        click.option("--relation", type=click.Choice(["finetune", "adapter", "merge", "quantized", "convert"]),
                     default=None, help="How it derives from its parents (default: from the kind)."),
        click.option("--dataset", "datasets", multiple=True, metavar="NAME[@DIGEST]",
                     help="A training dataset (repeatable)."),
        click.option("--framework", default=None, help="Training framework (unsloth, mlx, huggingface, …)."),
        click.option("--hardware", default=None, help="Hardware it was trained on."),
        click.option("--duration", default=None, help="Training time: seconds, or 75m, 3h, '4h 32m'."),
        click.option("--cost", type=click.FloatRange(min=0), default=None, help="Training cost in USD."),
        click.option("--commit", default=None,
                     help="Git commit of the training code (read from PATH's checkout otherwise)."),
        click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                     help="A training hyperparameter (repeatable)."),
        click.option("--metric", "metrics", multiple=True, metavar="KEY=NUMBER", help="A metric (repeatable)."),
        click.option("--backend", "backends", multiple=True, help="A serving backend it is set up for (repeatable)."),
        click.option("--description", default=None, help="Description of the model."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def parse_tags(tags) -> dict[str, str]:
    out = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not key or not key.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise InvalidArgument(f"invalid tag {tag!r}: expected KEY or KEY=VALUE with KEY of letters, digits, '-', '_', '.'")
        out[key] = value if sep else "true"
    return out
