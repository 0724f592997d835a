"""The search language on a real registry: a table of queries and what they find,
malformed queries and where they break, and a property test that random queries
never reach SQL unparameterised and never crash."""
import re
import string
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_registry import found, hello

from llmesh.common.errors import InvalidArgument
from llmesh.common.names import parse_ref
from llmesh.coordinator.registry import Registry, search
from llmesh.coordinator.registry.search import COLUMNS as FIELDS
from llmesh.coordinator.registry.search import KEYED_TABLES as KEYED
from llmesh.coordinator.registry.search import ORDER_KEYS, QueryError, compile_query, compile_terms, parse
from llmesh.coordinator.registry.search import SETS as MULTI

NOBODY = frozenset()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    registry = Registry(tmp_path_factory.mktemp("query") / "registry.db")
    registry.hosts.host_hello(hello("id-a", "a"))
    registry.hosts.host_hello(hello("id-b", "b"))

    def add(host, name, content, kind="model", **spec):
        vid, _, _ = registry.catalog.register_run(host, found(f"/m/{name}-{content}", name, content, kind),
                                                  {"name": name, **spec})
        return vid

    add("id-a", "alpha", "a", roles=["asm"], tags={"production": "true"}, metrics={"accuracy": 0.9},
        params={"learning_rate": 2e-4, "optim": "adamw"}, capabilities={"vision": True}, base_model="meta/llama",
        datasets=[{"name": "oracle", "digest": ""}], framework="unsloth", semver="1.0.0")
    add("id-a", "alpha", "b", tags={"production": "false"}, metrics={"accuracy": 0.8},
        params={"learning_rate": 1e-4}, parents=["alpha:1"])
    registry.lifecycle.set_state(parse_ref("alpha:2"), "deprecated")
    add("id-b", "beta", "c", kind="lora", roles=["general"], tags={"production": "true", "stage": "2"},
        metrics={"accuracy": 0.86, "f1_score": 0.7}, backends=["ollama"])
    registry.aliases.set_alias(parse_ref("beta:1"), "prod", is_admin=True)
    add("id-b", "gamma", "d", kind="gguf", capabilities={"vision": False}, tags={"note": "it's"})
    yield registry
    registry.close()


def refs(registry, query, sort="", limit=0):
    return [f"{v['name']}:{v['version']}" for v in registry.search.search(NOBODY, query, sort=sort, limit=limit)]


QUERIES = [
    ("tag.production = true AND metric.accuracy > 0.85 AND (role = 'asm' OR kind = 'lora')", ["alpha:1", "beta:1"]),
    ("metric.accuracy > 0.85", ["alpha:1", "beta:1"]),
    ("NOT metric.accuracy > 0.85", ["alpha:2"]),                 # a missing metric matches neither way
    ("metric.accuracy IS NULL", ["gamma:1"]),
    ("metric.accuracy IS NOT NULL AND metric.accuracy <= 0.86", ["alpha:2", "beta:1"]),
    ("metric.f1_score >= 0.7", ["beta:1"]),                       # f1_score is the standard f1
    ("metric.nonexistent > 0", []),                               # missing keys are NULL, not errors
    ("role = 'asm'", ["alpha:1"]),
    ("role != 'asm'", ["alpha:2", "beta:1", "gamma:1"]),           # sets: "does not have the role"
    ("NOT role = 'asm'", ["alpha:2", "beta:1", "gamma:1"]),
    ("role IS NULL", ["alpha:2", "gamma:1"]),
    ("kind IN ('lora', 'gguf')", ["beta:1", "gamma:1"]),
    ("kind NOT IN ('lora', 'gguf')", ["alpha:1", "alpha:2"]),
    ("name LIKE 'al%'", ["alpha:1", "alpha:2"]),
    ("name NOT LIKE 'al%'", ["beta:1", "gamma:1"]),
    ("base_model IS NULL", ["alpha:2", "beta:1", "gamma:1"]),     # an empty column counts as NULL
    ("base_model = 'meta/llama'", ["alpha:1"]),
    ("state = 'deprecated'", ["alpha:2"]),
    ("capability = 'vision'", ["alpha:1"]),
    ("capability.vision = false", ["gamma:1"]),
    ("capability.vision IS NULL", ["alpha:2", "beta:1"]),
    ("param.learning_rate < 0.00015", ["alpha:2"]),
    ("param.optim = 'adamw'", ["alpha:1"]),
    ("host = 'b'", ["beta:1", "gamma:1"]),
    ("alias = 'prod'", ["beta:1"]),
    ("backend = 'ollama'", ["beta:1"]),
    ("version = 2", ["alpha:2"]),
    ("version = 'v2'", ["alpha:2"]),
    ("semver = '1.0.0'", ["alpha:1"]),
    ("created_at > '2000-01-01' AND created_at < 4102444800", ["alpha:1", "alpha:2", "beta:1", "gamma:1"]),
    ("tag.stage = 2", ["beta:1"]),
    ("tag.note = 'it''s'", ["gamma:1"]),
    ("dataset = 'oracle' OR framework = 'unsloth'", ["alpha:1"]),
    ("(kind = 'model' OR kind = 'lora') AND NOT state = 'deprecated'", ["alpha:1", "beta:1"]),
    ("NOT (kind = 'model' OR role = 'general')", ["gamma:1"]),
    ("NOT (kind = 'model' OR metric.accuracy > 0.5)", []),       # gamma's NULL metric: unknown, not true
    ("registered = true AND locked = false", ["alpha:1", "alpha:2", "beta:1", "gamma:1"]),
    ("KIND = 'lora' or Kind = 'gguf'", ["beta:1", "gamma:1"]),     # keywords and field names ignore case
]


@pytest.mark.parametrize("query,expected", QUERIES, ids=[q for q, _ in QUERIES])
def test_query_table(registry, query, expected):
    assert refs(registry, query) == expected


def test_sort_and_limit(registry):
    assert refs(registry, "metric.accuracy IS NOT NULL", sort="metric.accuracy:desc") == [
        "alpha:1", "beta:1", "alpha:2"]
    assert refs(registry, "kind != 'x'", sort="metric.accuracy", limit=4) == ["alpha:2", "beta:1", "alpha:1", "gamma:1"]
    assert refs(registry, "kind != 'x'", sort="name:desc", limit=2) == ["gamma:1", "beta:1"]
    with pytest.raises(InvalidArgument, match="cannot sort by 'role'"):
        refs(registry, "kind = 'lora'", sort="role")


SEMVERS = ["1.2", "1.9.0", "1.10.0-rc.1", "1.10.0-rc.2", "1.10.0-rc.10", "1.10.0", "2.0.0-alpha", "10.0.0"]


def test_semver_compares_and_sorts_as_versions_even_in_an_older_registry(tmp_path):
    import sqlite_utils

    from llmesh.coordinator.registry import migrations

    # A registry written before semver had an order (schema 21), then opened by this llmesh.
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    old["schema_migrations"].create({"version": int, "applied_at": float}, pk="version")
    for number, migration in migrations.MIGRATIONS.items():
        if number <= 21:
            migration(old)
            old["schema_migrations"].insert({"version": number, "applied_at": 0.0})
    old["models"].insert({"id": 1, "name": "m", "origin": "registered", "display_name": "", "description": "",
                          "created_at": 0.0, "updated_at": 0.0})
    for number, label in enumerate(SEMVERS[:4], 1):
        old["versions"].insert({"model_id": 1, "number": number, "digest": f"sha256:{number}", "kind": "model",
                                "format": "", "source": "", "size_bytes": 0, "file_count": 0, "metadata_json": "{}",
                                "base_model": "", "registered": 1, "notes": "", "created_by": "", "created_at": 0.0,
                                "updated_at": 0.0, "semver": label})
    old.conn.close()
    registry = Registry(path)
    try:
        registry.hosts.host_hello(hello("id-a", "a"))
        for number, label in enumerate(SEMVERS[4:], 5):  # and new ones, labelled by registration or by edit
            vid, _, _ = registry.catalog.register_run("id-a", found(f"/m/m{number}", "m", str(number)),
                                                      {"name": "m", **({"semver": label} if number % 2 else {})})
            if not number % 2:
                registry.catalog.edit(parse_ref(f"m:{number}"), {"semver": label})

        def labels(query, sort=""):
            return [v["semver"] for v in registry.search.search(NOBODY, query, sort=sort)]

        assert labels("semver > '1.9.0'", sort="semver") == SEMVERS[2:]
        assert labels("semver >= '1.10.0'") == ["1.10.0", "2.0.0-alpha", "10.0.0"]
        assert labels("semver < '1.10.0' AND semver > '1.10.0-rc.1'") == ["1.10.0-rc.2", "1.10.0-rc.10"]
        assert labels("semver <= 'v1.2.0'") == ["1.2"]
        assert labels("NOT semver > '2.0.0-alpha'", sort="semver:desc") == list(reversed(SEMVERS[:7]))
        assert labels("semver IS NOT NULL", sort="semver:desc") == list(reversed(SEMVERS))
        registry.catalog.edit(parse_ref("m:8"), {"semver": ""})  # unlabelled: no longer compared
        assert labels("semver > '9.0.0'") == []
        with pytest.raises(QueryError, match="semver > needs a version like '1.2.0', not 'latest'"):
            labels("semver > 'latest'")
    finally:
        registry.close()


def test_list_flags_run_on_the_same_engine(registry):
    names = lambda rows: [f"{v['name']}:{v['version']}" for v in rows]  # noqa: E731
    assert names(registry.models.list_versions(NOBODY, role="asm")) == ["alpha:1"]
    assert names(registry.models.list_versions(NOBODY, tags=["production=true"], backend="ollama")) == ["beta:1"]
    assert names(registry.models.list_versions(NOBODY, tags=["stage"], query="kind = 'lora'")) == ["beta:1"]
    assert names(registry.models.list_versions(NOBODY, host="a", kind="model")) == ["alpha:1", "alpha:2"]


MALFORMED = [
    ("metric.accuracy >", 18, "expected a value after '>'"),
    ("kind = 'lora' AND", 18, "expected a field name, found the end of the query"),
    ("(kind = 'lora'", 15, "expected ')' to close the '(' at position 1"),
    ("kind = 'lora", 8, "unterminated string"),
    ("bogus = 1", 1, "unknown field 'bogus'"),
    ("tag = 'x' AND flavour.x = 1", 15, "unknown field 'flavour.x'"),
    ("metric.accuracy > 'high'", 1, "metric.accuracy compares with numbers, not 'high'"),
    ("kind ~ 'x'", 6, "unexpected character '~'"),
    ("kind IN 'x'", 9, "expected '(' after IN"),
    ("kind IN ('a' 'b')", 14, "expected ',' or ')' in the IN list"),
    ("kind = NULL", 8, "compare with NULL using IS NULL"),
    ("kind IS 3", 9, "expected NULL after IS"),
    ("", 1, "empty query"),
    ("kind = 'a' extra = 1", 12, "expected AND, OR or the end of the query, found 'extra'"),
    ("created_at > 'yesterday'", 1, "created_at needs a date"),
    ("size LIKE 'x%'", 1, "LIKE needs a text field"),
    ("kind NOT = 'a'", 10, "expected IN or LIKE after NOT"),
    ("AND kind = 'a'", 1, "expected a field name, found 'AND'"),
    ("locked = 'maybe'", 1, "locked is true or false"),
]


@pytest.mark.parametrize("query,position,message", MALFORMED, ids=[q or "<empty>" for q, _, _ in MALFORMED])
def test_malformed_queries_say_where_and_why(registry, query, position, message):
    with pytest.raises(QueryError) as info:
        compile_query(query)
    assert str(info.value).startswith(f"query error at position {position}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


# -- property: never unparameterised, never a crash ------------------------------------------------

NASTY = ["'; DROP TABLE versions; --", "\" OR 1=1 --", "x' OR 'a'='a", "%", "_", "\\", "🙂", "", "0x10",
         "NULL", "1e309", "versions", "v.id"]
FIELD_NAMES = sorted(FIELDS) + sorted(MULTI) + [f"{k}.{key}" for k in KEYED for key in ("accuracy", "x-y", "a.b")]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


values = st.one_of(
    st.sampled_from(NASTY).map(_quote), st.text(max_size=12).map(_quote),
    st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false"]))
ops = st.sampled_from(["=", "!=", "<>", "<", "<=", ">", ">="])


@st.composite
def comparisons(draw):
    field = draw(st.sampled_from(FIELD_NAMES))
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return f"{field} {draw(ops)} {draw(values)}"
    if shape == 1:
        items = draw(st.lists(values, min_size=1, max_size=4))
        return f"{field} {draw(st.sampled_from(['IN', 'NOT IN']))} ({', '.join(items)})"
    if shape == 2:
        return f"{field} {draw(st.sampled_from(['LIKE', 'NOT LIKE']))} {draw(values)}"
    return f"{field} IS {draw(st.sampled_from(['NULL', 'NOT NULL']))}"


queries = st.recursive(comparisons(), lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(" ".join),
    inner.map(lambda q: f"NOT {q}"), inner.map(lambda q: f"({q})")), max_leaves=8)
noise = st.lists(st.one_of(st.sampled_from(FIELD_NAMES + ["AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "(", ")",
                                                         ",", "=", "<", ">=", "!", "~", ";"]), values, st.just("NULL")),
                 max_size=12).map(" ".join)


def _check(registry, query):
    versions_before = registry.db["versions"].count
    try:
        compiled = compile_query(query)
    except InvalidArgument as exc:
        assert str(exc).startswith("query error at position ") or "invalid metric" in str(exc)
        return
    # Nothing from the query is ever written into SQL: no quotes, no digits, one ? per value.
    assert "'" not in compiled.where and '"' not in compiled.where, compiled.where
    assert not re.search(r"\d", compiled.where), compiled.where
    assert compiled.where.count("?") == len(compiled.params)
    assert set(re.findall(r"[A-Za-z_]+", compiled.where)) <= SQL_WORDS, compiled.where
    for term in compile_terms(query):  # the index-driven forms too
        if term.driver:
            assert "'" not in term.driver and '"' not in term.driver and not re.search(r"\d", term.driver)
            assert term.driver.count("?") == len(term.driver_params)
            words = SQL_WORDS | {"UNION", "ALL", "versions", "models", "model_id"}
            assert set(re.findall(r"[A-Za-z_]+", term.driver)) <= words, term.driver
    try:
        registry.search.search(NOBODY, query, limit=5)
    except InvalidArgument:
        pass
    assert registry.db["versions"].count == versions_before


SQL_WORDS = {"v", "m", "c", "h", "id", "IN", "NOT", "AND", "OR", "IS", "NULL", "LIKE", "SELECT", "FROM", "WHERE", "EXISTS",
             "JOIN", "ON", "version_id", "key", "value", "num", "name", "role", "backend", "alias", "host_id",
             "copies", "hosts", "version_roles", "version_backends", "aliases", "version_datasets",
             "version_capabilities", "version_tags", "version_metrics", "version_params"} | {
    col.split(".")[1] for col, _, _ in FIELDS.values()} | {col.split(".")[1] for col, _, _ in ORDER_KEYS.values()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.one_of(queries, noise, st.text(alphabet=string.printable, max_size=40)))
def test_random_queries_are_parameterised_and_never_crash(registry, query):
    _check(registry, query)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=queries)
def test_well_formed_queries_only_fail_on_types(registry, query):
    """A query the grammar accepts either runs or names a type mismatch; it is never a syntax error."""
    try:
        parse(query)
    except QueryError as exc:
        if "LIKE needs a 'string' pattern" in str(exc):  # a type mismatch the parser already sees
            return
        raise AssertionError(f"grammar refused a well-formed query: {query!r}: {exc}")
    _check(registry, query)


def test_selective_terms_drive_the_search_through_an_index(registry):
    """A term that few versions match is looked up in its index first; the rest are probes."""
    for query, index in [("role = 'asm' AND metric.accuracy > 0.5", "idx_version_roles_role_version_id"),
                         ("metric.accuracy > 0.89 AND kind != 'gguf'", "idx_version_metrics_key_value"),
                         ("tag.stage = '2' OR alias = 'prod'", "idx_version_tags_key_value_version_id")]:
        plan = " | ".join(registry.search.explain(query))
        assert index in plan and "SCAN v" not in plan, plan


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=queries)
def test_index_driven_plans_find_what_filtering_every_version_finds(registry, query):
    """Driving by one term's index, with the other side-table terms checked on its ids before
    a version row is read, finds exactly what filtering every version in name order finds."""
    try:
        planned = refs(registry, query)
    except InvalidArgument:
        return
    with mock.patch.object(search, "DRIVER_CAP", 0):  # no term is selective enough to drive
        assert refs(registry, query) == planned


def test_the_most_selective_term_drives_and_the_others_are_checked_on_its_ids(registry):
    where, _ = registry.search._plan(compile_terms("tag.production = true AND role = 'asm' AND kind = 'model'"))
    # role (one version) drives; the tag is checked on its ids; kind needs the version row
    assert where.startswith("v.id IN (WITH d(id) AS (SELECT version_id FROM version_roles WHERE role = ?) "
                            "SELECT id FROM d WHERE EXISTS (SELECT version_id FROM version_tags WHERE version_id = d.id")
    assert where.endswith("AND +v.kind = ?"), where
