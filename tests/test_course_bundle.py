"""The course bundle (scripts/course_bundle.py): the zip that lets a student run the notebooks without
the repository. It is built here from the repository itself (no website needed); tests/test_site.py
checks that the built site has it and links it from every page."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


course_bundle = _load("course_bundle", REPO / "scripts" / "course_bundle.py")
ROOT = course_bundle.BUNDLE_ROOT


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return course_bundle.build_bundle(REPO, tmp_path_factory.mktemp("bundle") / "course_bundle.zip")


def _names(bundle: Path) -> list[str]:
    with zipfile.ZipFile(bundle) as archive:
        return archive.namelist()


def test_bundle_has_notebooks_homework_wheel_requirements_readme(bundle):
    names = _names(bundle)
    assert all(n.startswith(f"{ROOT}/") for n in names), names[:5]
    for nb in course_bundle.toc_notebooks(REPO):
        assert f"{ROOT}/{nb.as_posix()}" in names, f"{nb} missing from the bundle"
    for package in (REPO / "book" / "homework").glob("*.zip"):
        assert f"{ROOT}/homework/{package.name}" in names, f"homework package {package.name} missing"
    wheels = [n for n in names if n.startswith(f"{ROOT}/wheels/lectures_utils-") and n.endswith(".whl")]
    assert len(wheels) == 1, names
    assert f"{ROOT}/README.md" in names and f"{ROOT}/requirements.txt" in names
    with zipfile.ZipFile(bundle) as archive:
        readme = archive.read(f"{ROOT}/README.md").decode("utf-8")
        requirements = archive.read(f"{ROOT}/requirements.txt").decode("utf-8")
        wheel_files = zipfile.ZipFile(archive.open(wheels[0])).namelist()
    assert "安装" in readme and wheels[0].rsplit("/", 1)[-1] in readme
    lines = [ln.strip() for ln in requirements.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[-1] == wheels[0].split(f"{ROOT}/", 1)[1], lines[-1]
    assert not any(ln.startswith("-e") for ln in lines), "the editable repository install is still there"
    assert any(ln.startswith("torch==") for ln in lines) and any(ln.startswith("otter-grader==") for ln in lines)
    assert not any(ln.startswith(("jupyter-book", "playwright", "pytest")) for ln in lines)
    modules = {Path(n).name for n in wheel_files if n.startswith("lectures_utils/")}
    expected = {p.name for p in (REPO / "lectures_utils").glob("*.py")}
    assert expected <= modules, f"modules missing from the wheel: {expected - modules}"


def test_bundle_notebooks_have_no_outputs(bundle):
    with zipfile.ZipFile(bundle) as archive:
        for name in archive.namelist():
            if name.endswith(".ipynb"):
                nb = json.loads(archive.read(name))
                assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), name


def _lectures_utils_imports(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics
        return []
    return [ast.unparse(node) for node in ast.walk(tree)
            if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lectures_utils"))
            or (isinstance(node, ast.Import) and any(a.name.startswith("lectures_utils") for a in node.names))]


def test_notebook_imports_work_from_the_installed_wheel(bundle, tmp_path):
    """Install the bundle's wheel (offline, into a folder) and run every lectures_utils import of every
    bundled notebook, homework included, with that folder ahead of the repository's editable install."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path / "unzipped")
    base = tmp_path / "unzipped" / ROOT
    wheel = next((base / "wheels").glob("lectures_utils-*.whl"))
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           "--disable-pip-version-check", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    statements = set()
    notebooks = list((base / "notebooks").rglob("*.ipynb"))
    for package in (base / "homework").glob("*.zip"):
        with zipfile.ZipFile(package) as archive:
            for name in archive.namelist():
                if name.endswith(".ipynb") and "/tests/" not in name:
                    archive.extract(name, tmp_path / "homework" / package.stem)
                    notebooks.append(tmp_path / "homework" / package.stem / name)
    assert notebooks
    for path in notebooks:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                statements.update(_lectures_utils_imports("".join(cell["source"])))
    assert statements, "no notebook imports lectures_utils"
    script = "\n".join(["import lectures_utils, pathlib",
                        f"assert pathlib.Path(lectures_utils.__file__).is_relative_to({str(target)!r}), "
                        "lectures_utils.__file__", *sorted(statements),
                        "from lectures_utils import set_style; set_style()", "print('ok')"])
    env = {**os.environ, "PYTHONPATH": str(target), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]


def test_student_requirements_replace_the_editable_install():
    text = "# x\ntorch==2.13.0\njupyter-book==1.0.4.post1\npytest==9.2.0\n-e .\n"
    out = course_bundle.student_requirements(text, "lectures_utils-0.1.0-py3-none-any.whl")
    assert out.splitlines()[-1] == "wheels/lectures_utils-0.1.0-py3-none-any.whl"
    assert "torch==2.13.0" in out and "jupyter-book" not in out and "pytest" not in out and "-e ." not in out


def test_toc_notebooks_reads_the_toc(tmp_path):
    (tmp_path / "notebooks" / "a").mkdir(parents=True)
    (tmp_path / "notebooks" / "a" / "x.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "_toc.yml").write_text("root: intro\nparts:\n  - chapters:\n      - file: book/setup\n"
                                       "      - file: notebooks/a/x\n", encoding="utf-8")
    assert course_bundle.toc_notebooks(tmp_path) == [Path("notebooks/a/x.ipynb")]
    (tmp_path / "_toc.yml").write_text("root: intro\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no notebook"):
        course_bundle.toc_notebooks(tmp_path)
    with pytest.raises(FileNotFoundError):
        course_bundle.toc_notebooks(tmp_path / "nowhere")
