"""The layers of the `fcc` package, enforced: who may import whom, and no imports hidden in functions.

Read every module under addon/fcc with `ast` (nothing is imported, so a module that would fail to import
is still checked). The rules, from the bottom up:

    fcc.core     sans-IO translation: stdlib, plus pydantic (the client's request is validated at the edge
                 with it; it does no I/O). Imports nothing else of fcc.
    config       fcc.config, fcc.router, fcc.claude_code, fcc.codex, fcc.users: routes.yaml, the request classes, Codex
                 requests, users and their tokens, the /model picker's ids, context windows
                 (model_picker, limits). fcc.core only.
    fcc.engine   exchange, admission, upstream I/O (httpx), the loopback sidecar (h11), shared state (redis, the
                 optional `team` extra), Prometheus metrics (prometheus_client, same extra). Never fcc.mitm or
                 fcc.record, never mitmproxy.
    fcc.record   recording and replay (replay plugs an httpx transport into the engine). Never fcc.mitm.
    fcc.mitm     the only code that imports mitmproxy; may use everything above.
    cli          fcc.cli, fcc.doctor, fcc.launch: the console script. Never the engine or mitmproxy (`fcc run` execs
                 mitmdump with the entry script instead).

A third-party import outside a layer's list fails too: adding a dependency to a layer is a decision, made
here, in the same commit. Imports inside functions (the usual way to dodge an import cycle) fail unless
LAZY_IMPORTS lists them with the reason.
"""

from __future__ import annotations

import ast
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "addon" / "fcc"
ENTRY_SCRIPT = PACKAGE_DIR.parent / "fcc.py"

CONFIG = ("fcc.config", "fcc.router", "fcc.claude_code", "fcc.codex", "fcc.users", "fcc.model_picker", "fcc.limits")
CLI = ("fcc.cli", "fcc.doctor", "fcc.launch")


@dataclass(frozen=True)
class Layer:
    name: str
    members: tuple[str, ...]  # module name prefixes
    may_import: tuple[str, ...]  # fcc module prefixes (its own members are always allowed)
    third_party: frozenset[str]  # top-level distributions' import names


LAYERS = (
    Layer("fcc.core", ("fcc.core",), (), frozenset({"pydantic"})),
    Layer("config", CONFIG, ("fcc.core",), frozenset({"pydantic", "yaml"})),
    Layer("fcc.engine", ("fcc.engine",), ("fcc.core", *CONFIG), frozenset({"httpx", "h11", "redis", "prometheus_client"})),
    Layer("fcc.record", ("fcc.record",), ("fcc.core", *CONFIG, "fcc.engine"), frozenset({"httpx", "yaml"})),
    Layer("fcc.mitm", ("fcc.mitm",), ("fcc",), frozenset({"mitmproxy"})),
    # yaml: `fcc run` reads mitmproxy's config.yaml so that it adds no flag contradicting it (fcc.launch).
    Layer("cli", CLI, ("fcc.core", *CONFIG), frozenset({"httpx", "yaml"})),
)

# Extras a module may need that a plain install lacks (the `team` extra).
OPTIONAL_DEPENDENCIES = frozenset({"redis", "prometheus_client"})

# (importing module, imported module) -> why it is imported inside a function.
LAZY_IMPORTS = {
    ("fcc.cli", "fcc.doctor"): "`fcc run` / `fcc claude` exec at once; only `fcc doctor` pays for httpx and asyncio",
    ("fcc.engine.shared_state", "fcc.engine.redis_state"): "redis-py is the optional `team` extra: imported only when routes.yaml names a Redis",
    ("fcc.engine.shared_state", "fcc.engine.failover"): "the failover wraps a Redis: loaded with it, and it imports shared_state's MemoryState",
}


def _is_member(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> Layer:
    for layer in LAYERS:
        if any(_is_member(module, prefix) for prefix in layer.members):
            return layer
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {Path(__file__).name}")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # absolute name of what is imported
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import statement in a module, with relative imports made absolute."""
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend(Import(module, alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = package[: len(package) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                if base == "__future__":
                    continue
                # `from fcc.mitm import runtime` imports the module fcc.mitm.runtime.
                targets = [f"{base}.{alias.name}" for alias in child.names]
                found.extend(Import(module, target, child.lineno, in_function) for target in targets)
            visit(child, nested)

    visit(ast.parse(source), False)
    return found


def package_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        found.extend(imports_of(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"))
    return found


def _listed_lazy(imp: Import) -> bool:
    return any(module == imp.module and _is_member(imp.target, target) for module, target in LAZY_IMPORTS)


def violations(imports: list[Import]) -> list[str]:
    problems: list[str] = []
    for imp in imports:
        layer = layer_of(imp.module)
        where = f"{imp.module} line {imp.line}: imports {imp.target}"
        top = imp.target.split(".")[0]
        if top == "fcc":
            allowed = (*layer.members, *layer.may_import)
            if not any(_is_member(imp.target, prefix) or _is_member(prefix, imp.target) for prefix in allowed):
                problems.append(f"{where}, but {layer.name} may import only {', '.join(allowed)}")
        elif top not in sys.stdlib_module_names and top not in layer.third_party:
            allowed = ", ".join(sorted(layer.third_party)) or "nothing"
            problems.append(f"{where}; {layer.name} may import the stdlib and {allowed} (a new dependency of "
                            f"this layer goes into LAYERS in tests/{Path(__file__).name}, with its reason)")
        if imp.in_function and not _listed_lazy(imp):
            problems.append(f"{where} inside a function; import at the top of the module (a cycle this "
                            f"dodges means a module is in the wrong layer)")
    return problems


# ------------------------------------------------------------------ the rules


def test_every_module_is_in_a_layer() -> None:
    modules = {module_name(path) for path in PACKAGE_DIR.rglob("*.py")} - {"fcc"}
    assert modules, f"no modules under {PACKAGE_DIR}"
    for module in sorted(modules):
        layer_of(module)


def test_the_package_keeps_its_layers() -> None:
    imports = package_imports()
    assert any(imp.target.startswith("mitmproxy") for imp in imports), "the scan found no mitmproxy import at all"
    problems = violations(imports)
    assert not problems, "layering broken:\n  " + "\n  ".join(problems)


def test_core_imports_neither_mitmproxy_nor_httpx() -> None:
    core = [imp for imp in package_imports() if _is_member(imp.module, "fcc.core")]
    assert core, "no imports found in fcc.core"
    bad = [f"{imp.module}: {imp.target}" for imp in core
           if imp.target.split(".")[0] in ("mitmproxy", "httpx", "h11", "yaml")
           or (imp.target.startswith("fcc") and not _is_member(imp.target, "fcc.core"))]
    assert not bad


def test_only_fcc_mitm_imports_mitmproxy() -> None:
    importers = {imp.module for imp in package_imports() if imp.target.split(".")[0] == "mitmproxy"}
    assert importers and all(_is_member(module, "fcc.mitm") for module in importers), importers


def test_engine_and_record_never_import_fcc_mitm() -> None:
    bad = [imp for imp in package_imports()
           if (_is_member(imp.module, "fcc.engine") or _is_member(imp.module, "fcc.record"))
           and _is_member(imp.target, "fcc.mitm")]
    assert not bad


def test_lazy_imports_listed_are_still_lazy() -> None:
    """An entry in LAZY_IMPORTS that no longer exists would silently widen the rules later."""
    lazy = [imp for imp in package_imports() if imp.in_function]
    stale = {(module, target) for module, target in LAZY_IMPORTS
             if not any(imp.module == module and _is_member(imp.target, target) for imp in lazy)}
    assert not stale, f"remove from LAZY_IMPORTS: {sorted(stale)}"


def test_entry_script_imports_only_the_mitm_layer() -> None:
    imports = imports_of(ENTRY_SCRIPT.read_text(encoding="utf-8"), "__entry_script__")
    fcc_targets = [imp.target for imp in imports if imp.target.split(".")[0] == "fcc"]
    assert fcc_targets and all(_is_member(target, "fcc.mitm") for target in fcc_targets), fcc_targets


@pytest.mark.parametrize("module", sorted({module_name(p) for p in PACKAGE_DIR.rglob("*.py")} - {"fcc", "fcc.mitm.entry_script"}))
def test_every_module_imports(module: str) -> None:
    """A name one module takes from another that no longer has it fails here, not at mitmdump's start."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        if exc.name in OPTIONAL_DEPENDENCIES:
            pytest.skip(f"{module} needs {exc.name} (optional)")
        raise


def test_no_module_shadows_the_stdlib() -> None:
    """mitmproxy puts the entry script's directory on sys.path; a module named like a stdlib one
    (inspect.py, profile.py) would then shadow it for everything in the process."""
    names = {path.stem for path in PACKAGE_DIR.rglob("*.py")} | {p.name for p in PACKAGE_DIR.rglob("*") if p.is_dir()}
    assert not names & set(sys.stdlib_module_names)


# --------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("module", "source", "needle"),
    [
        ("fcc.core.sse", "import httpx\n", "imports httpx"),
        ("fcc.core.sse", "from mitmproxy import http\n", "imports mitmproxy"),
        ("fcc.core.events", "from fcc.engine import exchange\n", "imports fcc.engine.exchange"),
        ("fcc.core.events", "from ..engine import exchange\n", "imports fcc.engine.exchange"),
        ("fcc.engine.exchange", "from fcc.mitm.runtime import USAGE\n", "imports fcc.mitm.runtime"),
        ("fcc.engine.exchange", "import mitmproxy.http\n", "imports mitmproxy.http"),
        ("fcc.record.recording", "from fcc.mitm import runtime\n", "imports fcc.mitm.runtime"),
        ("fcc.config", "from fcc.engine import upstream\n", "imports fcc.engine.upstream"),
        ("fcc.doctor", "from fcc.engine import upstream\n", "imports fcc.engine.upstream"),
        ("fcc.record.replay", "def f():\n    from fcc.engine import upstream\n", "inside a function"),
        ("fcc.mitm.inspector", "async def f():\n    import json\n", "inside a function"),
    ],
)
def test_the_checker_catches(module: str, source: str, needle: str) -> None:
    problems = violations(imports_of(source, module))
    assert any(needle in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("fcc.core.sse", "import json\nfrom fcc.core import events\nfrom . import tools\n"),
        ("fcc.core.client_request", "from pydantic import BaseModel\n"),
        ("fcc.engine.exchange", "import httpx\nfrom fcc.config import Target\nfrom fcc.router import Route\n"),
        ("fcc.mitm.addon", "from mitmproxy import http\nfrom fcc.record import recording\nfrom fcc.engine import exchange\n"),
        ("fcc.cli", "def main():\n    from fcc.doctor import doctor_main\n"),
    ],
)
def test_the_checker_allows(module: str, source: str) -> None:
    assert violations(imports_of(source, module)) == []
