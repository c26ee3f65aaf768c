"""bench/ and tests/ do not import each other's insides: what both need lives in tests/support/.

Read from the source (an AST walk), so an import anywhere in a module counts, at the top or inside a function, and
so does a module named in a string (`python -m tests...`, `python -c "from bench..."`) that would be imported in a
child process.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_NAME = re.compile(r"(?:bench|tests)(?:\.\w+)+")


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of each import in the file, and of each one in a string a child process would run."""
    yield from modules_in(ast.parse(path.read_text(), filename=str(path)))


def modules_in(tree: ast.AST, line: int | None = None) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield line or node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield line or node.lineno, node.module
            # `from tests.faults import conftest` names the module in the imported name.
            for alias in node.names:
                if is_module(f"{node.module}.{alias.name}"):
                    yield line or node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield from modules_in_text(node.value, line or node.lineno)


def modules_in_text(text: str, line: int) -> Iterator[tuple[int, str]]:
    """A module name (`python -m tests.support.servers.openai_server`, pytest_plugins) or code (`python -c`)."""
    if MODULE_NAME.fullmatch(text) and is_module(text):
        yield line, text
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a regex or prose is not code: its escapes are not worth a warning
            code = ast.parse(text)
    except SyntaxError:
        return  # prose, a path, a URL: nothing a process would import
    yield from modules_in(code, line)


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def sources(folder: str) -> list[Path]:
    """The folder's Python files, but this one: its example below names forbidden imports on purpose."""
    return sorted(path for path in (ROOT / folder).rglob("*.py") if path != Path(__file__).resolve())


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_nothing_under_tests_imports_bench() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources("tests")
        for line, module in imported_modules(path)
        if is_within(module, "bench")
    ]
    assert found == [], "tests/ must not import bench/ (move what both need to tests/support/):\n" + "\n".join(found)


def test_bench_imports_nothing_from_tests_but_the_support_package() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources("bench")
        for line, module in imported_modules(path)
        if is_within(module, "tests") and not is_within(module, "tests.support")
    ]
    assert found == [], "bench/ may import only tests.support:\n" + "\n".join(found)


def test_no_module_imports_a_conftest_or_a_test_module() -> None:
    """Fixtures stay in conftest.py files and helpers in tests/support/, so no test depends on another's file."""
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for folder in ("tests", "bench")
        for path in sources(folder)
        for line, module in imported_modules(path)
        if is_within(module, "tests")
        and any(part == "conftest" or part.startswith("test_") for part in module.split(".")[1:])
    ]
    assert found == [], "import helpers from tests.support, not from a conftest or a test module:\n" + "\n".join(found)


def test_the_support_package_imports_no_test_and_no_bench_module() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources("tests/support")
        for line, module in imported_modules(path)
        if is_within(module, "bench") or (is_within(module, "tests") and not is_within(module, "tests.support"))
    ]
    assert found == [], "tests/support/ is what tests and bench/ share; it depends on neither:\n" + "\n".join(found)


def test_the_walk_finds_imports_inside_functions_and_in_code_a_child_process_runs(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text(
        "import os\n"
        "def start():\n"
        "    from bench.common import flask_cli\n"
        "    run(['python', '-m', 'tests.support.servers.openai_server'])\n"
        "    run(['python', '-c', 'from tests.integration import test_cluster'])\n"
        "    return 'sqlite:///bench.db and prose that says import nothing from tests'\n"
    )
    assert [module for _, module in imported_modules(source)] == [
        "os",
        "bench.common",
        "tests.support.servers.openai_server",
        "tests.integration",
        "tests.integration.test_cluster",
    ]
