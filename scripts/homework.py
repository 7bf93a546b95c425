"""Generate the course's autograded assignments and grade a class, offline and without Docker.

    python scripts/homework.py list
    python scripts/homework.py generate [NAME ...]          # all assignments when no name is given
    python scripts/homework.py check NAME                    # generate + grade solution and blank notebook
    python scripts/homework.py grade NAME SUBMISSIONS_DIR [--out DIR] [--jobs N]
                                     [--timeout S] [--cell-timeout S] [--call-timeout S]

An assignment is a folder ``homework/<NAME>/`` holding one master notebook in otter-grader's format
(see homework/README.md). ``generate`` runs ``otter assign`` and writes ``_build/homework/<NAME>/``:
``autograder/`` (solutions, all tests, ``autograder.zip``) and ``student/`` (student notebook, public
tests, ``<NAME>.zip`` to hand out); it also refreshes the website copy ``book/homework/<NAME>.ipynb``
and ``.zip``.

``grade`` grades every ``.ipynb`` in SUBMISSIONS_DIR, several at a time, and writes
``gradebook.csv`` (file, each question's score, total, max, error) and ``reports/<file>.json``.
Each submission is graded by a trusted process that holds the tests in memory and runs the student's
code in a separate worker process (``homework_worker.py``) in an empty temporary directory, with
time limits and capped output; see homework/README.md for why tests then cannot be fooled.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOMEWORK_DIR = REPO / "homework"
BUILD_DIR = REPO / "_build" / "homework"
BOOK_DIR = REPO / "book" / "homework"
WORKER = Path(__file__).resolve().parent / "homework_worker.py"

sys.path.insert(0, str(WORKER.parent))
from homework_worker import decode, encode, read_message, write_message  # noqa: E402

__all__ = [
    "Limits", "discover", "master_notebook", "generate", "load_autograder", "grade_submission",
    "grade_batch", "write_gradebook", "main",
]

OUTPUT_CAP_BYTES = 64 * 1024  # how much of a submission's printed output a report keeps
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: regenerating gives byte-identical archives
# Lines that only drive otter inside the student's kernel; the class grader does that itself.
OTTER_LINE = re.compile(
    r"^\s*(#\s*Initialize Otter|import otter|grader\s*=\s*otter\.Notebook\(.*\)|"
    r"grader\.(check|check_all|export)\(.*\))\s*;?\s*$")
AUTOGRADER_INFRA = {"run_autograder", "run_otter.py", "setup.sh", "environment.yml", "requirements.txt",
                    "requirements.r", "otter_config.json"}


class Limits:
    """Time limits (seconds) of one submission: whole submission, one cell, one call from a test."""

    def __init__(self, total: float = 300.0, cell: float = 60.0, call: float = 60.0, max_restarts: int = 3):
        for label, value in (("total", total), ("cell", cell), ("call", call)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"time limit {label!r} must be a positive number of seconds, got {value!r}")
        if not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValueError(f"max_restarts must be a non-negative int, got {max_restarts!r}")
        self.total, self.cell, self.call, self.max_restarts = float(total), float(cell), float(call), max_restarts

    def as_dict(self) -> dict:
        return {"total": self.total, "cell": self.cell, "call": self.call, "max_restarts": self.max_restarts}


# ----------------------------------------------------------------------------------------------------
# Discovery and generation
# ----------------------------------------------------------------------------------------------------

def discover(homework_dir: Path = HOMEWORK_DIR) -> list[str]:
    """Names of the assignments: every ``homework/<name>/`` folder with exactly one ``.ipynb``."""
    homework_dir = Path(homework_dir)
    if not homework_dir.is_dir():
        raise FileNotFoundError(f"homework folder not found: {homework_dir}")
    names = []
    for folder in sorted(p for p in homework_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        notebooks = [p for p in folder.glob("*.ipynb") if not p.name.startswith(".")]
        if len(notebooks) == 1:
            names.append(folder.name)
    return names


def master_notebook(name: str, homework_dir: Path = HOMEWORK_DIR) -> Path:
    """The master notebook of assignment ``name``; ValueError for an unknown name."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"assignment name must be a non-empty string, got {name!r}")
    known = discover(homework_dir)
    if name not in known:
        raise ValueError(f"unknown assignment {name!r}; expected one of {known}")
    (notebook,) = [p for p in (Path(homework_dir) / name).glob("*.ipynb") if not p.name.startswith(".")]
    return notebook


def _normalise_notebook(path: Path) -> None:
    """Deterministic cell ids and no outputs, so regenerated files do not differ from committed ones."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)


def _deterministic_zip(target: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[arcname])


def generate(name: str, out_root: Path = BUILD_DIR, book_dir: Path | None = BOOK_DIR,
             homework_dir: Path = HOMEWORK_DIR) -> Path:
    """Run ``otter assign`` for ``name``; return ``out_root/name`` (see the module docstring)."""
    master = master_notebook(name, homework_dir)
    target = Path(out_root) / name
    with tempfile.TemporaryDirectory(prefix="hw-assign-") as tmp:
        result = subprocess.run([str(Path(sys.executable).parent / "otter"), "assign", "--no-pdfs",
                                 str(master), str(Path(tmp) / "out")],
                                capture_output=True, text=True, cwd=tmp, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"otter assign failed for {name}:\n{result.stdout}\n{result.stderr}")
        out = Path(tmp) / "out"
        zips = list((out / "autograder").glob("*.zip"))
        if len(zips) != 1:
            raise RuntimeError(f"otter assign produced {len(zips)} autograder archives for {name}, expected 1")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(out, target)
    (target / "autograder" / zips[0].name).rename(target / "autograder" / "autograder.zip")
    student_nb = target / "student" / master.name
    _normalise_notebook(student_nb)
    _normalise_notebook(target / "autograder" / master.name)
    handout = {master.name: student_nb.read_bytes()}
    for test in sorted((target / "student" / "tests").glob("*.py")):
        handout[f"tests/{test.name}"] = test.read_bytes()
    _deterministic_zip(target / "student" / f"{name}.zip", handout)
    if book_dir is not None:
        _write_book_page(name, student_nb, target / "student" / f"{name}.zip", Path(book_dir))
    return target


def _write_book_page(name: str, student_nb: Path, handout_zip: Path, book_dir: Path) -> None:
    """The website copy: the student notebook plus a download box, never executed by the book build."""
    import nbformat

    book_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(student_nb, as_version=4)
    box = nbformat.v4.new_markdown_cell(
        "```{admonition} 下载与提交 (Download and hand-in)\n"
        f":class: tip\n\n"
        f"本页只供阅读，不会在网站上运行。请下载作业包 {{download}}`{name}.zip`，解压后在 JupyterLab 中"
        f"打开其中的笔记本作答；`tests/` 文件夹里是公开测试，供 `grader.check` 自查，必须和笔记本放在一起。"
        f"答题、自查与提交的步骤见 {{doc}}`../homework_students`。\n```")
    titles = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")]
    nb.cells.insert(titles[0] + 1 if titles else 0, box)
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"
    nbformat.write(nb, book_dir / f"{name}.ipynb")
    shutil.copyfile(handout_zip, book_dir / f"{name}.zip")


# ----------------------------------------------------------------------------------------------------
# The trusted grader of one submission
# ----------------------------------------------------------------------------------------------------

def load_autograder(zip_path: Path | bytes) -> dict:
    """Read an otter autograder archive into memory: {"tests": {name: source}, "files": {path: b64}}."""
    if isinstance(zip_path, (bytes, bytearray)):
        data = bytes(zip_path)
    else:
        zip_path = Path(zip_path)
        if not zip_path.is_file():
            raise FileNotFoundError(f"autograder archive not found: {zip_path} (run `make homework` first)")
        data = zip_path.read_bytes()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise ValueError(f"not an autograder zip archive: {err}") from err
    tests, files = {}, {}
    for info in archive.infolist():
        if info.is_dir():
            continue
        parts = Path(info.filename).parts
        if len(parts) == 2 and parts[0] == "tests" and parts[1].endswith(".py"):
            tests[parts[1][:-3]] = archive.read(info).decode("utf-8")
        elif info.filename not in AUTOGRADER_INFRA and ".." not in parts and not info.filename.startswith("/"):
            files[info.filename] = base64.b64encode(archive.read(info)).decode("ascii")
    if not tests:
        raise ValueError("the autograder archive contains no tests/*.py files")
    return {"tests": dict(sorted(tests.items())), "files": files}


class _Worker:
    """One untrusted worker process running a submission's code; restarted when it hangs or dies."""

    def __init__(self, sandbox: Path, limits: Limits, deadline: float):
        self.sandbox, self.limits, self.deadline = sandbox, limits, deadline
        self.process: subprocess.Popen | None = None
        self.output = bytearray()
        self.output_bytes = 0
        self.good_cells: list[str] = []
        self.restarts = 0
        self.failure = ""

    # -- process management
    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "JUPYTER_"))}
        env.update({"MPLBACKEND": "Agg", "TMPDIR": str(self.sandbox), "HOME": str(self.sandbox),
                    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                    "PYTHONDONTWRITEBYTECODE": "1", "LECTURES_RECORD_FILE": ""})

        def limit_resources() -> None:  # runs in the child before exec
            import resource
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 2**20, 256 * 2**20))

        self.process = subprocess.Popen([sys.executable, str(WORKER)], cwd=self.sandbox, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        start_new_session=True, preexec_fn=limit_resources)
        threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True).start()

    def _drain(self, stream) -> None:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            self.output_bytes += len(chunk)
            room = OUTPUT_CAP_BYTES - len(self.output)
            if room > 0:
                self.output += chunk[:room]

    def kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.process = None

    def restart(self) -> bool:
        """Kill, start afresh and replay the cells that had succeeded; False when out of restarts/time."""
        self.kill()
        if self.restarts >= self.limits.max_restarts or time.monotonic() >= self.deadline:
            return False
        self.restarts += 1
        self.start()
        replay, self.good_cells = self.good_cells, []
        for source in replay:
            reply = self.request({"op": "cell", "source": source}, self.limits.cell, restart_on_failure=False)
            if reply is None:
                return False
            if reply.get("ok"):
                self.good_cells.append(source)
        return True

    # -- requests
    def request(self, message: dict, limit: float, restart_on_failure: bool = True) -> dict | None:
        """Send a request, wait at most ``limit`` s (and not past the deadline); None when it failed."""
        if self.process is None:
            return None
        timeout = min(limit, self.deadline - time.monotonic())
        try:
            if timeout <= 0:
                raise TimeoutError
            write_message(self.process.stdin, message)
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            if not ready:
                raise TimeoutError
            # Once the first byte is there, the rest of the message follows at pipe speed.
            return read_message(self.process.stdout)
        except TimeoutError:
            self.failure = "timed out"
            self._after_failure(restart_on_failure)
            return None
        except (EOFError, OSError, ValueError) as err:
            try:
                status = self.process.wait(timeout=2)
                self.failure = f"ended the worker process (exit status {status})"
            except subprocess.TimeoutExpired:
                self.failure = f"broke the protocol ({type(err).__name__})"
            self._after_failure(restart_on_failure)
            return None

    def _after_failure(self, restart: bool) -> None:
        if restart:
            self.restart()
        else:
            self.kill()


class _RemoteFunction:
    """Stands for a student's function inside a test: each call runs in the untrusted worker."""

    def __init__(self, worker: _Worker, name: str):
        self._worker, self._name = worker, name
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        message = {"op": "call", "name": self._name, "args": encode(tuple(args)), "kwargs": encode(dict(kwargs))}
        reply = self._worker.request(message, self._worker.limits.call)
        if reply is None:
            raise TimeoutError(f"{self._name}(...) {getattr(self._worker, 'failure', 'failed')} "
                               f"(limit {self._worker.limits.call:g} s per call)")
        if not reply.get("ok"):
            raise RuntimeError(f"{self._name}(...) raised {reply.get('error', 'an error')}")
        try:
            return decode(reply.get("result"))
        except ValueError as err:
            raise TypeError(f"{self._name}(...) returned data that could not be decoded: {err}") from None

    def __repr__(self) -> str:
        return f"<submission function {self._name}>"


def _code_cells(notebook_bytes: bytes) -> list[str]:
    import nbformat

    nb = nbformat.reads(notebook_bytes.decode("utf-8"), as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        kept = "\n".join(line for line in source.splitlines() if not OTTER_LINE.match(line))
        if kept.strip():
            cells.append(kept)
    return cells


def _test_arguments(test_file) -> list[str]:
    names = []
    for case in test_file.test_cases:
        for arg in case.body._get_func_params():
            if arg != "env" and arg not in names:
                names.append(arg)
    return names


def grade_submission(notebook_bytes: bytes, filename: str, autograder: dict, limits: Limits | None = None,
                     work_dir: Path | None = None) -> dict:
    """Grade one submission (bytes of an .ipynb) against ``load_autograder``'s output; return its report.

    Runs the student's code in a worker subprocess; never raises for anything the submission does.
    """
    from otter.test_files import ExceptionTestFile

    limits = limits or Limits()
    started = time.monotonic()
    deadline = started + limits.total
    tests = {name: ExceptionTestFile.from_string(source, path=f"tests/{name}.py")
             for name, source in autograder["tests"].items()}  # in memory before any student code runs
    report: dict[str, Any] = {
        "file": filename, "scores": {n: 0.0 for n in tests},
        "possible": {n: float(t.possible) for n, t in tests.items()},
        "total": 0.0, "max_total": float(sum(t.possible for t in tests.values())),
        "errors": [], "cells": [], "tests": [], "output_head": "", "output_bytes": 0,
    }
    try:
        cells = _code_cells(notebook_bytes)
    except Exception as err:  # noqa: BLE001 - any unreadable notebook is the submission's problem
        report["errors"].append(f"notebook could not be read: {type(err).__name__}: {err}"[:500])
        report["wall_s"] = time.monotonic() - started
        return report

    sandbox = Path(tempfile.mkdtemp(prefix="hw-submission-", dir=work_dir))
    worker = _Worker(sandbox, limits, deadline)
    try:
        (sandbox / Path(filename).name).write_bytes(notebook_bytes)
        for rel, payload in autograder.get("files", {}).items():
            (sandbox / rel).parent.mkdir(parents=True, exist_ok=True)
            (sandbox / rel).write_bytes(base64.b64decode(payload))
        worker.start()
        for index, source in enumerate(cells):
            if worker.process is None:
                report["cells"].append({"cell": index, "status": "skipped", "error": "no worker left"})
                continue
            reply = worker.request({"op": "cell", "source": source}, limits.cell, restart_on_failure=False)
            if reply is None:
                status = worker.failure
                report["errors"].append(f"code cell {index} {status}")
                report["cells"].append({"cell": index, "status": status, "error": ""})
                worker.restart()
                continue
            if reply.get("ok"):
                worker.good_cells.append(source)
                report["cells"].append({"cell": index, "status": "ok", "error": ""})
            else:
                report["cells"].append({"cell": index, "status": "error", "error": str(reply.get("error"))[:500]})

        for name, test_file in tests.items():
            env: dict[str, Any] = {}
            for arg in _test_arguments(test_file):
                reply = worker.request({"op": "lookup", "name": arg}, limits.call)
                kind = (reply or {}).get("kind")
                if kind == "callable":
                    env[arg] = _RemoteFunction(worker, arg)
                elif kind == "value":
                    try:
                        env[arg] = decode(reply.get("value"))
                    except ValueError:
                        pass
            test_file.run(env)
            report["scores"][name] = float(test_file.score)
            for result in test_file.test_case_results:
                case = result.test_case
                report["tests"].append({"question": name, "test": case.name, "hidden": bool(case.hidden),
                                        "points": float(case.points), "passed": bool(result.passed),
                                        "message": (result.message or "")[:1500]})
    except Exception as err:  # noqa: BLE001 - a grader bug must still leave a row
        report["errors"].append(f"grader error: {type(err).__name__}: {err}"[:500])
    finally:
        worker.kill()
        shutil.rmtree(sandbox, ignore_errors=True)
    if time.monotonic() >= deadline:
        report["errors"].append(f"time limit of {limits.total:g} s reached")
    report["total"] = float(round(sum(report["scores"].values()), 6))
    report["output_head"] = bytes(worker.output).decode("utf-8", "replace")
    report["output_bytes"] = worker.output_bytes
    report["wall_s"] = round(time.monotonic() - started, 3)
    return report


def _grade_one_from_stdin() -> int:
    """Entry point of the trusted per-submission process: job JSON on stdin, report JSON on stdout."""
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    report = grade_submission(base64.b64decode(job["notebook"]), job["file"], job["autograder"],
                              Limits(**job["limits"]), Path(job["work_dir"]) if job.get("work_dir") else None)
    sys.stdout.write(json.dumps(report, ensure_ascii=False))
    return 0


# ----------------------------------------------------------------------------------------------------
# A class
# ----------------------------------------------------------------------------------------------------

def _failed_row(filename: str, autograder: dict, error: str) -> dict:
    from otter.test_files import ExceptionTestFile

    possible = {n: float(ExceptionTestFile.from_string(s, path=f"tests/{n}.py").possible)
                for n, s in autograder["tests"].items()}
    return {"file": filename, "scores": {n: 0.0 for n in possible}, "possible": possible, "total": 0.0,
            "max_total": float(sum(possible.values())), "errors": [error], "cells": [], "tests": [],
            "output_head": "", "output_bytes": 0, "wall_s": None}


def grade_batch(submissions: list[Path] | dict[str, bytes], autograder: dict, limits: Limits | None = None,
                jobs: int | None = None, work_dir: Path | None = None) -> list[dict]:
    """Grade many submissions, each in its own trusted process (in parallel); one report per submission.

    ``submissions`` are paths of .ipynb files or a {filename: bytes} mapping. All bytes are read before
    any student code runs, so one submission cannot alter another's file.
    """
    limits = limits or Limits()
    if isinstance(submissions, dict):
        items = list(submissions.items())
    else:
        items = []
        for path in submissions:
            path = Path(path)
            if not path.is_file():
                raise FileNotFoundError(f"submission not found: {path}")
            items.append((path.name, path.read_bytes()))
    if not items:
        raise ValueError("no submissions to grade (expected at least one .ipynb)")
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise ValueError("submission file names must be unique")
    jobs = jobs or os.cpu_count() or 1
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")

    def run_one(item: tuple[str, bytes]) -> dict:
        name, data = item
        job = {"notebook": base64.b64encode(data).decode("ascii"), "file": name, "autograder": autograder,
               "limits": limits.as_dict(), "work_dir": str(work_dir) if work_dir else None}
        try:
            proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "_grade-one"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, cwd=str(REPO),
                                    env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                                         "OPENBLAS_NUM_THREADS": "1"})
            try:
                out, err = proc.communicate(json.dumps(job).encode("utf-8"), timeout=limits.total + 120)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.communicate()
                return _failed_row(name, autograder, "the grader of this submission exceeded its time limit")
            if proc.returncode != 0:
                tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
                return _failed_row(name, autograder, f"grader process failed (status {proc.returncode}): {tail[0]}")
            return json.loads(out.decode("utf-8"))
        except Exception as error:  # noqa: BLE001
            return _failed_row(name, autograder, f"grader process failed: {type(error).__name__}: {error}")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run_one, items))


def write_gradebook(reports: list[dict], out_dir: Path) -> Path:
    """Write ``gradebook.csv`` and ``reports/<file>.json`` into ``out_dir``; return the CSV path."""
    if not reports:
        raise ValueError("no reports to write")
    out_dir = Path(out_dir)
    (out_dir / "reports").mkdir(parents=True, exist_ok=True)
    questions = list(reports[0]["possible"])
    path = out_dir / "gradebook.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", *questions, "total", "max_total", "error"])
        for report in sorted(reports, key=lambda r: r["file"]):
            writer.writerow([report["file"], *[f"{report['scores'].get(q, 0.0):g}" for q in questions],
                             f"{report['total']:g}", f"{report['max_total']:g}", "; ".join(report["errors"])])
            stem = Path(report["file"]).stem
            (out_dir / "reports" / f"{stem}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1),
                                                              encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------

def _autograder_for(name: str) -> dict:
    master_notebook(name)  # validates the name
    zip_path = BUILD_DIR / name / "autograder" / "autograder.zip"
    if not zip_path.is_file() or zip_path.stat().st_mtime < master_notebook(name).stat().st_mtime:
        generate(name)
    return load_autograder(zip_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the assignments")
    gen = sub.add_parser("generate", help="generate student notebooks and autograders")
    gen.add_argument("names", nargs="*")
    chk = sub.add_parser("check", help="generate, then grade the solution and the blank student notebook")
    chk.add_argument("name")
    grd = sub.add_parser("grade", help="grade every .ipynb in a folder")
    grd.add_argument("name")
    grd.add_argument("submissions", type=Path)
    grd.add_argument("--out", type=Path, default=None, help="output folder (default: SUBMISSIONS/grades)")
    grd.add_argument("--jobs", type=int, default=None, help="parallel submissions (default: CPU count)")
    grd.add_argument("--timeout", type=float, default=300.0, help="seconds per submission")
    grd.add_argument("--cell-timeout", type=float, default=60.0, help="seconds per code cell")
    grd.add_argument("--call-timeout", type=float, default=60.0, help="seconds per call from a test")
    sub.add_parser("_grade-one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.command == "_grade-one":
        return _grade_one_from_stdin()
    if args.command == "list":
        print("\n".join(discover()))
        return 0
    if args.command == "generate":
        for name in args.names or discover():
            target = generate(name)
            print(f"{name}: {target.relative_to(REPO)}/{{student,autograder}}, book/homework/{name}.ipynb")
        return 0
    if args.command == "check":
        target = generate(args.name)
        master = master_notebook(args.name)
        autograder = load_autograder(target / "autograder" / "autograder.zip")
        reports = grade_batch({"solution.ipynb": (target / "autograder" / master.name).read_bytes(),
                               "student.ipynb": (target / "student" / master.name).read_bytes()}, autograder)
        ok = True
        for report in reports:
            print(f"{report['file']}: {report['total']:g} / {report['max_total']:g} {report['scores']} "
                  f"({report['wall_s']} s) {'; '.join(report['errors'])}")
        ok &= reports[0]["total"] == reports[0]["max_total"]
        ok &= all(score == 0 for score in reports[1]["scores"].values())
        print("OK" if ok else "FAILED: the solution must score full marks and the blank notebook 0")
        return 0 if ok else 1
    if args.command == "grade":
        if not args.submissions.is_dir():
            raise FileNotFoundError(f"submissions folder not found: {args.submissions}")
        paths = sorted(args.submissions.glob("*.ipynb"))
        if not paths:
            raise ValueError(f"no .ipynb files in {args.submissions}")
        autograder = _autograder_for(args.name)
        limits = Limits(args.timeout, args.cell_timeout, args.call_timeout)
        start = time.perf_counter()
        reports = grade_batch(paths, autograder, limits, args.jobs)
        wall = time.perf_counter() - start
        path = write_gradebook(reports, args.out or args.submissions / "grades")
        print(f"graded {len(reports)} submissions in {wall:.1f} s ({wall / len(reports):.2f} s each); "
              f"gradebook: {path}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
