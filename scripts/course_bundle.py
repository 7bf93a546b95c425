"""Build the course bundle: everything a student needs to run the book's notebooks without the repository.

A notebook downloaded from the website imports ``lectures_utils``, which lives in this repository. The
bundle (a zip linked from every page of the site and from the setup page) holds

* ``notebooks/``: the lecture notebooks of the table of contents (_toc.yml), as committed (no outputs);
* ``homework/``: the students' homework packages (book/homework/*.zip: notebook + public tests);
* ``wheels/lectures_utils-<version>-py3-none-any.whl``: the helper package, built offline from a copy
  of the package's sources (``pip wheel --no-deps --no-build-isolation --no-index``);
* ``requirements.txt``: the course's requirements without the website and test tools, installing the
  wheel instead of the editable repository checkout;
* ``README.md``: how to install and start, in Chinese.

The book's Sphinx extension (book/_ext/course_site.py) writes it to ``course_bundle.zip`` at the root
of the built site after every HTML build. Standalone::

    python scripts/course_bundle.py OUT.zip
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["BUNDLE_ROOT", "SITE_ONLY_PACKAGES", "build_bundle", "build_wheel", "student_requirements",
           "toc_notebooks"]

REPO = Path(__file__).resolve().parent.parent
#: the folder every file of the zip is under
BUNDLE_ROOT = "ai-for-medicine-course"
#: requirements only the website, its tests or the repository checkout need
SITE_ONLY_PACKAGES = {"jupyter-book", "sphinxcontrib-bibtex", "jieba", "nbgitpuller", "playwright", "pytest"}
# a fixed time stamp for every zip entry, so that the same sources give the same bundle
_DATE = (2026, 1, 1, 0, 0, 0)

README = """# 医学人工智能课程包 (Course bundle)

这个压缩包让书中的笔记本脱离课程仓库也能运行。内容：

| 路径 | 内容 |
| --- | --- |
| `notebooks/` | 全部讲义笔记本（按章分文件夹，不含运行结果） |
| `homework/` | 各章作业包（`.zip`：作业笔记本和公开测试） |
| `wheels/{wheel}` | 笔记本共用的辅助包 `lectures_utils` |
| `requirements.txt` | 课程环境的软件包及其版本（包括上面的辅助包） |

## 安装（只需一次）

需要 Python 3.11。在**解压后的这个文件夹**里打开终端（Windows 用 PowerShell），依次运行：

```bash
python -m venv .venv
```

激活虚拟环境：Windows PowerShell 运行 `.venv\\Scripts\\Activate.ps1`，macOS、Linux 运行
`source .venv/bin/activate`。然后：

```bash
pip install -r requirements.txt
jupyter lab notebooks
```

`requirements.txt` 的最后一行从 `wheels/` 安装 `lectures_utils`，所以 `pip` 必须在这个文件夹里运行。
已经有课程环境、只缺辅助包时，只装它即可：`pip install wheels/{wheel}`。

有 NVIDIA GPU 时先安装同版本的 CUDA 版 PyTorch，再运行上面的命令，见书中“环境配置 (Setup)”一页。

## 作业

把 `homework/` 中对应的 `.zip` 解压到一个新文件夹，在同一个虚拟环境中用 JupyterLab 打开其中的笔记本。
步骤和提交方式见书中“学生指南：完成与提交作业”一页。
"""


def toc_notebooks(root: Path = REPO) -> list[Path]:
    """The notebooks (paths relative to ``root``) that _toc.yml lists under notebooks/, in its order."""
    toc = root / "_toc.yml"
    if not toc.is_file():
        raise FileNotFoundError(f"expected the table of contents {toc}, it does not exist")
    found = []
    for entry in re.findall(r"^\s*-?\s*file:\s*(\S+)", toc.read_text(encoding="utf-8"), re.MULTILINE):
        path = Path(entry if entry.endswith(".ipynb") else entry + ".ipynb")
        if path.parts[0] == "notebooks" and (root / path).is_file():
            found.append(path)
    if not found:
        raise ValueError(f"{toc} lists no notebook under notebooks/")
    return found


def student_requirements(requirements: str, wheel_name: str) -> str:
    """The repository's requirements.txt for students: no site/test tools, the wheel instead of ``-e .``."""
    lines = []
    for line in requirements.splitlines():
        stripped = line.strip()
        name = re.split(r"[=<>!~\[; ]", stripped, maxsplit=1)[0].lower()
        if stripped.startswith("-e") or name in SITE_ONLY_PACKAGES:
            continue
        if stripped.startswith(("# the book website", "# tests and benchmarks", "# the helper package")):
            continue
        lines.append(line)
    lines += ["# the course's helper package (notebooks import it)", f"wheels/{wheel_name}"]
    return "\n".join(lines).rstrip("\n") + "\n"


def build_wheel(root: Path, dest: Path) -> Path:
    """Build the ``lectures_utils`` wheel offline from a copy of its sources; returns the wheel's path."""
    with tempfile.TemporaryDirectory(prefix="course_wheel_") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            if not (root / name).is_file():
                raise FileNotFoundError(f"expected {root / name} to build the lectures_utils wheel")
            shutil.copy(root / name, src / name)
        shutil.copytree(root / "lectures_utils", src / "lectures_utils",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out = Path(tmp) / "dist"
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
             "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
            capture_output=True, text=True, check=False)
        wheels = sorted(out.glob("lectures_utils-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise RuntimeError(f"pip wheel failed ({proc.returncode}): {proc.stderr[-2000:]}")
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(wheels[0], dest / wheels[0].name))


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(f"{BUNDLE_ROOT}/{name}", date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def build_bundle(root: Path = REPO, out: Path = REPO / "_build" / "course_bundle.zip") -> Path:
    """Write the course bundle zip to ``out`` and return its path."""
    root, out = Path(root), Path(out)
    notebooks = toc_notebooks(root)
    with tempfile.TemporaryDirectory(prefix="course_bundle_") as tmp:
        wheel = build_wheel(root, Path(tmp))
        requirements = student_requirements((root / "requirements.txt").read_text(encoding="utf-8"),
                                            wheel.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        with zipfile.ZipFile(partial, "w") as archive:
            _add(archive, "README.md", README.format(wheel=wheel.name).encode("utf-8"))
            _add(archive, "requirements.txt", requirements.encode("utf-8"))
            _add(archive, f"wheels/{wheel.name}", wheel.read_bytes())
            for nb in notebooks:
                _add(archive, nb.as_posix(), (root / nb).read_bytes())
            for package in sorted((root / "book" / "homework").glob("*.zip")):
                _add(archive, f"homework/{package.name}", package.read_bytes())
        partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", default=REPO / "_build" / "course_bundle.zip")
    args = parser.parse_args(argv)
    print(build_bundle(REPO, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
