"""The layers of netid/ point one way: read every import of every module and check the rules.

Rules (README "Layout"): the wallet and the relying party share ``netid.oid4vp`` and never import each
other; the verifier never imports the issuer's code; the card layer knows no credentials; the credential
primitives know none of the roles; nothing in ``netid`` imports the services built on it; and the
module import graph (imports that run at import time) has no cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "netid"


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(path: Path, root: Path = ROOT) -> tuple[set[str], set[str]]:
    """(every module imported anywhere in the file, those imported at import time)."""
    module = _module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    everything: set[str] = set()
    eager: set[str] = set()

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.body:  # type-only imports: a dependency, but never executed
                    visit_stmt(sub, top_level=False)
                for sub in child.orelse:
                    visit_stmt(sub, top_level)
                continue
            visit_stmt(child, top_level)

    def visit_stmt(child: ast.AST, top_level: bool) -> None:
        names: list[str] = []
        if isinstance(child, ast.Import):
            names = [alias.name for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            target = _resolve(module, child, path.name == "__init__.py")
            names = [target] + [f"{target}.{alias.name}" for alias in child.names]
        if names:
            everything.update(names)
            if top_level:
                eager.update(names)
            return
        nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        visit(child, top_level and not nested)

    visit(tree, top_level=True)
    return everything, eager


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# (importer package, forbidden package, why)
RULES = [
    ("netid.wallet", "netid.verifier", "the holder speaks netid.oid4vp, not the relying party's library"),
    ("netid.verifier", "netid.wallet", "the relying party never runs the holder's code"),
    ("netid.verifier", "netid.issuance", "an RP's library offers no issuer functions"),
    ("netid.wallet", "netid.issuance", "the holder never runs the issuer's code"),
    ("netid.oid4vp", "netid.verifier", "the shared protocol layer sits below both roles"),
    ("netid.oid4vp", "netid.wallet", "the shared protocol layer sits below both roles"),
    ("netid.oid4vp", "netid.issuance", "the shared protocol layer sits below the issuer"),
    ("netid.issuance", "netid.verifier", "the issuer mints; verifying is the RP's"),
    ("netid.issuance", "netid.wallet", "the issuer mints; presenting is the holder's"),
    *[("netid.credentials", role, "credential primitives know no roles") for role in
      ("netid.oid4vp", "netid.verifier", "netid.wallet", "netid.issuance", "netid.card", "netid.testing")],
    *[("netid.card", layer, "the card layer knows no credentials") for layer in
      ("netid.credentials", "netid.oid4vp", "netid.verifier", "netid.wallet", "netid.issuance")],
    *[(pkg, "netid.testing", "runtime code never imports the test kit") for pkg in
      ("netid.card", "netid.credentials", "netid.oid4vp", "netid.verifier", "netid.wallet",
       "netid.issuance")],
    *[("netid", service, "the SDK never imports what is built on it") for service in
      ("issuer_service", "relying_party_example")],
]  # fmt: skip


@pytest.mark.parametrize(("importer", "forbidden", "why"), RULES)
def test_layer_rule(importer: str, forbidden: str, why: str) -> None:
    offenders = sorted(
        f"{module} imports {target}"
        for module, (everything, _) in IMPORTS.items()
        if _within(module, importer)
        for target in everything
        if _within(target, forbidden)
    )
    assert not offenders, f"{why}:\n" + "\n".join(offenders)


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph (a package importing its own submodules, to re-export them, does not count)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if _within(nxt, node):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for module, (_, eager) in IMPORTS.items():
        graph[module] = {t for t in eager if t in MODULES and t != module}
    # Importing a submodule runs its package's __init__ first: count that edge too.
    for module in MODULES:
        parent = module.rpartition(".")[0]
        if parent in MODULES:
            graph[module].add(parent)
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _find_cycle({"a.x": {"b.y"}, "b.y": {"a.z"}, "a.z": {"a.x"}}) == ["a.x", "b.y", "a.z", "a.x"]
    assert _find_cycle({"a": {"a.x"}, "a.x": {"a"}}) is None  # a package re-exporting its submodule


def test_the_checker_sees_a_planted_violation(tmp_path: Path) -> None:
    """Positive control: the import reader finds every import form a violation could take."""
    planted = tmp_path / "netid" / "wallet"
    planted.mkdir(parents=True)
    source = (
        "from __future__ import annotations\n"
        "import netid.verifier.verify\n"
        "from ..verifier import Verifier\n"
        "def later():\n"
        "    from netid.verifier.build import build_request\n"
    )
    (planted / "evil.py").write_text(source, encoding="utf-8")
    everything, eager = _imports(planted / "evil.py", tmp_path)
    assert {"netid.verifier.verify", "netid.verifier", "netid.verifier.build"} <= everything
    assert "netid.verifier.build" not in eager
