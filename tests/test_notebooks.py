"""The book's notebooks: committed clean, listed in the table of contents, shaped as STYLE.md says,
and executed without error by the book build (`make book` runs before the tests in `make test`).

The execution itself happens once, in the book build (jupyter-book executes every notebook in the
table of contents and fails on the first error). These tests read what it produced, so no notebook
is executed twice.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "_build" / "jupyter_execute"


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files: list[str] = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", []))
    return files


TOC_FILES = _toc_files()
LECTURE_NOTEBOOKS = sorted(p.relative_to(ROOT) for p in (ROOT / "notebooks").rglob("*.ipynb")
                           if ".ipynb_checkpoints" not in p.parts)
ALL_NOTEBOOKS = sorted(
    p.relative_to(ROOT)
    for folder in ("notebooks", "homework", "book")
    for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)


def test_there_are_lecture_notebooks():
    assert LECTURE_NOTEBOOKS, "no notebooks under notebooks/"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=str)
def test_committed_notebooks_carry_no_outputs(path):
    nb = json.loads((ROOT / path).read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path}: cells {dirty} have outputs; run `jupyter nbconvert --clear-output --inplace {path}`"


def test_every_lecture_notebook_is_in_the_toc():
    listed = {f.removesuffix(".ipynb") for f in TOC_FILES}
    missing = [str(p) for p in LECTURE_NOTEBOOKS if str(p.with_suffix("")) not in listed]
    assert not missing, f"notebooks not in _toc.yml (the book would not build or show them): {missing}"


def test_every_toc_entry_exists():
    missing = [f for f in TOC_FILES
               if not any((ROOT / (f + ext)).exists() for ext in ("", ".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def _chapter_number(path: Path) -> str:
    match = re.match(r"(\d\d)_", path.parent.name)
    assert match, f"{path}: chapter folders are named NN_<name>"
    return str(int(match.group(1)))


@pytest.mark.parametrize("path", LECTURE_NOTEBOOKS, ids=str)
def test_lecture_notebook_follows_the_style(path):
    nb = nbformat.read(ROOT / path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    first = nb.cells[0]
    assert first.cell_type == "markdown", f"{path}: the first cell is the title"
    title = first.source.lstrip().splitlines()[0]
    assert re.match(rf"# {_chapter_number(path)}\.\d+ \S", title), f"{path}: title must read '# N.M 中文 (English)', got {title!r}"
    assert re.search(r"\([A-Za-z][^)]*\)", title), f"{path}: the title gives the English name in parentheses"
    for heading in ("学习目标", "小结", "练习"):
        assert heading in markdown, f"{path}: missing the {heading} section"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path}: no code cells"
    assert "lectures_utils" in code[0].source, f"{path}: the first code cell is the setup cell importing lectures_utils"
    assert re.search(r"^SEED = book_seed\(\)", code[0].source, re.M) and "seed_everything(SEED)" in code[0].source, \
        f"{path}: the setup cell reads the training seed with `SEED = book_seed()` and calls `seed_everything(SEED)`"
    assert "assert" in "\n".join(c.source for c in code), f"{path}: states no checked number"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path}: kernelspec must be python3"


_PROSE_NUMBER = re.compile(r"(?<![\w.])\d+\.\d{2,}(?![\w.])")


def prose_numbers_without_code(nb) -> list[str]:
    """Decimal numbers (two or more decimals) in the prose that appear in no code cell.

    A number the text states is computed and asserted in the notebook, so its value (or the bound
    that checks it) appears as a literal in the code. Formulas ($...$), inline code, links and
    citations are not prose numbers. A notebook may list exceptions, each with its reason, in its
    metadata: ``{"lectures": {"unchecked_prose_numbers": {"0.66": "why it needs no assert"}}}``.
    """
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    allowed = nb.metadata.get("lectures", {}).get("unchecked_prose_numbers", {})
    missing = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = re.sub(r"\$\$.*?\$\$", " ", cell.source, flags=re.S)
        text = re.sub(r"\$[^$\n]*\$|`[^`]*`|\]\([^)]*\)|\{(cite|numref|ref|doc|eq|term)\}`[^`]*`", " ", text)
        for match in _PROSE_NUMBER.finditer(text):
            value = match.group(0)
            if value not in code and value.rstrip("0").rstrip(".") not in code and value not in allowed:
                missing.append(value)
    return missing


def test_prose_number_check_finds_an_unchecked_number():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Dice 是 0.87，公式 $0.25 x$ 与 `lr=0.125` 不算。"),
                nbformat.v4.new_code_cell("assert abs(dice - 0.870) < 0.01")]
    assert prose_numbers_without_code(nb) == []
    nb.cells[0].source += " 灵敏度为 0.93。"
    assert prose_numbers_without_code(nb) == ["0.93"]
    nb.metadata["lectures"] = {"unchecked_prose_numbers": {"0.93": "quoted from a paper"}}
    assert prose_numbers_without_code(nb) == []


@pytest.mark.parametrize("path", LECTURE_NOTEBOOKS, ids=str)
def test_numbers_in_the_prose_appear_in_the_code(path):
    nb = nbformat.read(ROOT / path, as_version=4)
    missing = prose_numbers_without_code(nb)
    assert not missing, (f"{path}: the prose states {missing}, which no code cell computes or checks; assert "
                         "them, or list them with a reason under metadata lectures.unchecked_prose_numbers")
    for value, reason in nb.metadata.get("lectures", {}).get("unchecked_prose_numbers", {}).items():
        assert isinstance(reason, str) and len(reason) > 10, f"{path}: give a reason for leaving {value} unchecked"


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURE_NOTEBOOKS, ids=str)
def test_notebook_was_executed_by_the_book_build_without_errors(path):
    executed = EXECUTED / path
    assert executed.exists(), f"{executed} is missing: `make test` builds the book first (or run `make book`)"
    source = nbformat.read(ROOT / path, as_version=4)
    nb = nbformat.read(executed, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == sum(c.cell_type == "code" for c in source.cells), \
        f"{executed} is stale: rebuild the book"
    for cell, original in zip(code, (c for c in source.cells if c.cell_type == "code")):
        assert cell.source == original.source, f"{executed} is stale: rebuild the book"
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{path}: a cell raised {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert all(c.get("execution_count") for c in code if c.source.strip()), f"{path}: not every cell ran"
