"""The role-policy table names every RPC the coordinator serves, once, and nothing else."""
import ast
import importlib
import pkgutil
from pathlib import Path

import llmesh.v1
from llmesh.coordinator import policy


def _services():
    """Every service declared in the llmesh.v1 protos, from the generated descriptors."""
    found = {}
    for module in pkgutil.iter_modules(llmesh.v1.__path__):
        if module.name.endswith("_pb2"):
            descriptor = importlib.import_module(f"llmesh.v1.{module.name}").DESCRIPTOR
            found.update(descriptor.services_by_name)
    return {service.full_name: service for service in found.values()}


def _coordinator_methods() -> set[str]:
    return {f"/{name}/{method.name}" for name, service in _services().items()
            if name not in policy.SERVED_BY_AGENTS for method in service.methods}


def test_every_coordinator_method_has_a_policy():
    missing = _coordinator_methods() - set(policy.METHOD_POLICY)
    assert not missing, f"RPCs without a policy entry (refused to everyone): {sorted(missing)}"


def test_the_table_names_only_methods_that_exist():
    unknown = set(policy.METHOD_POLICY) - _coordinator_methods()
    assert not unknown, f"policy entries for RPCs that no coordinator service has: {sorted(unknown)}"


def test_each_method_appears_once_in_the_table():
    """A repeated key in the dict literal would silently override the first entry."""
    tree = ast.parse(Path(policy.__file__).read_text(encoding="utf-8"))
    table = next(node.value for node in ast.walk(tree)
                 if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "METHOD_POLICY")
    keys = [key.value for key in table.keys]
    assert sorted(keys) == sorted(set(keys)), f"repeated: {sorted({k for k in keys if keys.count(k) > 1})}"


def test_every_policy_is_a_role_or_a_kind_of_caller():
    allowed = {*policy.ROLES, policy.PUBLIC, policy.AGENT}
    wrong = {method: role for method, role in policy.METHOD_POLICY.items() if role not in allowed}
    assert not wrong


def test_services_served_by_agents_exist():
    assert set(policy.SERVED_BY_AGENTS) <= set(_services())
