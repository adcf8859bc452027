"""The layering rules, read from the source: engine/ is a plain library, and no module
imports another that (directly or not) imports it back."""

import ast
from pathlib import Path

from tests.paths import REPO_ROOT

PACKAGES = ("engine", "bot")
FORBIDDEN_IN_ENGINE = ("discord", "praw", "prawcore", "sqlalchemy", "alembic", "bot")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (REPO_ROOT / pkg).rglob("*.py")}


def _imports(path: Path, name: str) -> set[str]:
    """Every module this file imports, at any depth of the file (lazy imports included)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: {m for m in _imports(path, name) if m in mods and m != name}
            for name, path in mods.items()}


def test_engine_imports_no_platform_database_or_bot_code():
    bad = {}
    for name, path in _modules().items():
        if name.split(".")[0] != "engine":
            continue
        hits = {m for m in _imports(path, name) if m.split(".")[0] in FORBIDDEN_IN_ENGINE}
        if hits:
            bad[name] = sorted(hits)
    assert bad == {}


def _package_of(module: str, graph: dict[str, set[str]]) -> str:
    """A module's own package (itself for a package's __init__)."""
    return module if any(m.startswith(module + ".") for m in graph) else module.rpartition(".")[0]


def test_no_import_cycles_between_modules():
    # A package's __init__ re-exporting its own modules is not a cycle; anything else is.
    graph = _graph()
    edges = {m: {d for d in deps if not m.startswith(_package_of(d, graph) + ".")
                 and _package_of(m, graph) != d}
             for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    assert cycles == []


def test_the_bot_process_does_not_import_matplotlib():
    """Charts are drawn in the helper process; the bot's own process (its adapters, the
    dispatcher, the stats service) starts without matplotlib (about a second and 30 MB)."""
    import subprocess
    import sys

    code = ("import sys, bot.app, bot.dispatch, bot.stats_service, bot.adapters.console, "
            "bot.cli.main; print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "False"


def test_a_bot_with_a_local_model_does_not_import_the_remote_backend():
    """The remote backend (httpx and what it pulls in) is imported only where a remote engine
    is configured: a local bot's queue setup and shutdown look for remote engines without it."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from bot.app import close_generators, queue_config\n"
            "from bot.config import Config\n"
            "cfg, local = Config(), [object()]\n"
            "assert queue_config(cfg, local) == cfg.queue\n"
            "close_generators(local)\n"
            "print('engine.generation.remote' in sys.modules, 'httpx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.split() == ["False", "False"]
