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


# --- figures: every figure a cell shows has a numbered caption and a label ({numref}) ---------------

# pyplot calls that open a new figure, and the lectures_utils helpers that always open one
_NEW_FIGURE = {"plt.subplots", "plt.figure", "plt.subplot_mosaic"}
_FIGURE_HELPERS = {"image_grid", "three_plane", "overlay_mask", "plot_history"}
_FIGURE_NAME = re.compile(r"fig-[a-z0-9]+(-[a-z0-9]+)*")


def _cell_ast(source: str):
    import ast
    # IPython magics and shell escapes are not Python
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _called_names(node):
    import ast
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "plt":
                yield f"plt.{func.attr}"
            elif isinstance(func, ast.Name):
                yield func.id


def figure_cells(nb) -> dict[int, int]:
    """Code cells that show a figure when they run: {cell index: figures opened (2 = several)}.

    Found from the source, as the build would run it: a statement at the top level of the cell (not
    inside a def or class) calls plt.subplots/plt.figure/plt.subplot_mosaic, a lectures_utils plotting
    helper, or a function defined in the notebook that (directly or through another) does. A cell that
    only defines plotting functions, or passes one to a widget (``widgets.interactive(f, ...)``), shows
    no figure of its own. The count is of figure-opening calls; one inside a loop or comprehension
    counts as several.
    """
    import ast
    trees = {i: _cell_ast(c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    defined = {node.name: set(_called_names(node))
               for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    plotters = set(_FIGURE_HELPERS)
    grew = True
    while grew:
        grew = False
        for name, calls in defined.items():
            if name not in plotters and calls & (_NEW_FIGURE | plotters):
                plotters.add(name)
                grew = True
    loops = (ast.For, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    found = {}
    for i, tree in trees.items():
        shown, opened = False, 0
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            calls = set(_called_names(stmt))
            shown |= bool(calls & (_NEW_FIGURE | plotters))
            for node in ast.walk(stmt):
                if isinstance(node, ast.Call) and set(_called_names(node)) & (_NEW_FIGURE | {"image_grid", "three_plane"}):
                    direct = next(iter(_called_names(ast.Expr(node))))  # the call itself, not its arguments
                    if direct in _NEW_FIGURE | {"image_grid", "three_plane"}:
                        opened += 1
            for loop in (n for n in ast.walk(stmt) if isinstance(n, loops)):
                if any(name in _NEW_FIGURE | {"image_grid", "three_plane"} for name in _called_names(loop)):
                    opened += 1   # opens a figure on every pass
        if shown:
            found[i] = opened
    return found


def figure_caption_problems(nb) -> list[str]:
    """What is wrong with the captions of the figures a notebook shows (see figure_cells)."""
    problems = []
    for i, opened in figure_cells(nb).items():
        meta = nb.cells[i].metadata
        reason = meta.get("lectures", {}).get("no_figure_caption")
        if reason is not None:
            if not (isinstance(reason, str) and len(reason) > 10):
                problems.append(f"cell {i}: metadata lectures.no_figure_caption needs a reason")
            continue
        figure = meta.get("mystnb", {}).get("figure", {})
        caption, name = figure.get("caption"), figure.get("name")
        if not (isinstance(caption, str) and caption.strip()):
            problems.append(f"cell {i}: shows a figure without metadata mystnb.figure.caption")
        if not (isinstance(name, str) and _FIGURE_NAME.fullmatch(name)):
            problems.append(f"cell {i}: mystnb.figure.name must be a label like fig-01-3-rbf-panels, got {name!r}")
        if opened > 1:
            problems.append(f"cell {i}: opens {opened} figures; the caption attaches to each, so show one per cell")
    return problems


def test_figure_check_finds_a_figure_without_caption():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("def show(a=1):\n    fig, ax = plt.subplots()\n    ax.plot([a])\n"),  # defines only
        nbformat.v4.new_code_cell("widgets.interactive(show, a=(1, 3))"),                       # a widget
        nbformat.v4.new_code_cell("%matplotlib inline\nfig, ax = plt.subplots()\nax.plot([1, 2])"),
        nbformat.v4.new_code_cell("show(2)"),                                                  # via a helper
        nbformat.v4.new_code_cell("image_grid([x])\nthree_plane(v)"),                        # two figures
        nbformat.v4.new_code_cell("for a in (1, 2):\n    show(a)\nprint('x')"),
    ]
    assert sorted(figure_cells(nb)) == [2, 3, 4, 5]
    assert len(figure_caption_problems(nb)) == 2 * 4 + 1   # caption and name missing on 4 cells; 2 figures in one
    for i in (2, 3, 5):
        nb.cells[i].metadata["mystnb"] = {"figure": {"caption": "一张图。", "name": f"fig-test-{i}"}}
    nb.cells[4].metadata["lectures"] = {"no_figure_caption": "shown only to compare two helpers"}
    assert figure_caption_problems(nb) == []
    nb.cells[2].metadata["mystnb"]["figure"]["name"] = "Figure 2"
    assert len(figure_caption_problems(nb)) == 1


@pytest.mark.parametrize("path", LECTURE_NOTEBOOKS, ids=str)
def test_every_figure_has_a_caption_and_a_label(path):
    nb = nbformat.read(ROOT / path, as_version=4)
    problems = figure_caption_problems(nb)
    assert not problems, (f"{path}: " + "; ".join(problems) + ". Give the cell metadata "
                          '{"mystnb": {"figure": {"caption": "...", "name": "fig-..."}}} (see 4.1), or opt out with '
                          '{"lectures": {"no_figure_caption": "reason"}}')


def _figure_names(path: Path) -> list[str]:
    nb = nbformat.read(ROOT / path, as_version=4)
    names = [c.metadata.get("mystnb", {}).get("figure", {}).get("name") for c in nb.cells]
    names += [m for c in nb.cells if c.cell_type == "markdown" for m in re.findall(r"^:name:\s*(\S+)", c.source, re.M)]
    return [n for n in names if n]


def test_figure_labels_are_unique_and_every_figure_reference_resolves():
    owner: dict[str, list[str]] = {}
    for path in ALL_NOTEBOOKS:
        for name in _figure_names(path):
            owner.setdefault(name, []).append(str(path))
    duplicated = {name: paths for name, paths in owner.items() if len(paths) > 1}
    assert not duplicated, f"figure labels used more than once (Sphinx needs unique labels): {duplicated}"
    unresolved = []
    for path in ALL_NOTEBOOKS:
        nb = nbformat.read(ROOT / path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for ref in re.findall(r"\{numref\}`(?:[^`<]*<)?(fig-[^`>]+)>?`", cell.source):
                    if ref not in owner:
                        unresolved.append(f"{path}: {ref}")
    assert not unresolved, f"{{numref}} to figure labels that no notebook defines: {unresolved}"
