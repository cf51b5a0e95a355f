"""The artifact package is the one owner of the layout: no other module of `training`,
`backend` or `dashboard` spells one of its file names (outside docstrings). A line that names a
file of another format with the same name (a Hugging Face checkpoint's `tokenizer.json`) says so
with a `# not our layout` comment."""

import ast
import re
from pathlib import Path

from training.core.artifacts import layout

REPO = Path(__file__).resolve().parents[4]
OWNER = REPO / "training" / "core" / "artifacts"
FILE_NAMES = sorted(
    {v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str) and "." in v}
    | set(layout.TABLES.values())
)


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))]
    return {
        id(n.body[0].value)
        for n in nodes
        if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
    }


def layout_literals(path: Path, root: Path = REPO) -> list[str]:
    """`file:line: literal` for every string constant in `path` that names a file of the layout."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, str(path))
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if any(
                "# not our layout" in line for line in lines[node.lineno - 1 : node.end_lineno + 1]
            ):  # another format's file (a Hugging Face folder)
                continue
            # a name of the layout on its own, not the tail of another name (`model.safetensors.index.json`)
            hits = [name for name in FILE_NAMES if re.search(rf"(?<![\w.-]){re.escape(name)}", node.value)]
            if hits:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {hits[0]!r} in {node.value!r}")
    return found


def test_the_layout_names_only_files_that_exist_in_it():
    assert "manifest.json" in FILE_NAMES and "report.md" in FILE_NAMES and "before_after.json" in FILE_NAMES


def test_the_finder_sees_a_file_name_in_code_but_not_in_a_docstring(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        '"""Reads manifest.json."""\n\ndef f(p):\n    """Its train_loss.npy."""\n    return p / "manifest.json"\n'
    )
    found = [line.split(": ", 1)[1] for line in layout_literals(src, tmp_path)]
    assert found == ["'manifest.json' in 'manifest.json'"]


def test_no_module_outside_the_artifact_package_names_a_layout_file():
    modules = [
        p
        for package in ("training", "backend", "dashboard")
        for p in sorted((REPO / package).rglob("*.py"))
        if OWNER not in p.parents
    ]
    assert len(modules) > 50
    found = [hit for p in modules for hit in layout_literals(p)]
    assert not found, "layout file names spelled outside training/core/artifacts:\n" + "\n".join(found)
