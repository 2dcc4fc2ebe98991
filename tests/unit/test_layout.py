"""The layout's rules, read from the source: no import circle between product modules (imports under
`if TYPE_CHECKING:` and inside functions count: each is a dependency a reader has to follow), a short top of
bot/, and no product module or class past the sizes a newcomer can read."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers")
MAX_TOP_ENTRIES = 12
MAX_MODULE_LINES = 900
MAX_CLASS_LINES = 500
# Test doubles and generated history, held to the product's sizes neither.
SIZE_EXEMPT = ("bot/sandbox/", "bot/store/migrations/")


def product_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, here: str, *, package: bool, modules: set[str]) -> set[str]:
    """Every product module the source of module `here` imports, wherever the import sits. `from x import y`
    is an import of x.y when y is a module, else of x; a relative import is resolved against `here`."""
    anchor_package = here if package else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = anchor_package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
    return {name for name in found if name in modules and name != here}


def import_graph() -> dict[str, set[str]]:
    files = product_files()
    modules = {module_name(p) for p in files}
    return {
        module_name(p): imported_modules(
            p.read_text(), module_name(p), package=p.name == "__init__.py", modules=modules
        )
        for p in files
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_graph_reads_every_kind_of_import():
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from bot.slack import contract\n"
        "from bot.domain import Category\n"
        "from . import safe_text\n"
        "if TYPE_CHECKING:\n"
        "    from bot.services import Services\n"
        "def later():\n"
        "    import handlers\n"
    )
    modules = {
        "bot.slack",
        "bot.slack.contract",
        "bot.slack.safe_text",
        "bot.domain",
        "bot.services",
        "handlers",
    }
    found = imported_modules(source, "bot.slack.probe", package=False, modules=modules)
    assert found == {"bot.slack.contract", "bot.slack.safe_text", "bot.domain", "bot.services", "handlers"}


def test_a_circle_is_found_and_named():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_between_product_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_bot_has_a_short_top():
    entries = sorted(p.name for p in (ROOT / "bot").iterdir() if p.name != "__pycache__")
    assert len(entries) <= MAX_TOP_ENTRIES, entries


def test_no_product_module_or_class_past_its_size():
    too_big = []
    for path in product_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(SIZE_EXEMPT):
            continue
        text = path.read_text()
        lines = text.count("\n") + (not text.endswith("\n"))
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{relative}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    too_big.append(f"{relative}: class {node.name}, {size} lines")
    assert too_big == [], "\n".join(too_big)
