"""Generate the course's autograded assignments and grade a class, offline, one sandbox per submission.

    python scripts/homework.py list
    python scripts/homework.py generate [NAME ...]          # all assignments when no name is given
    python scripts/homework.py check NAME                    # generate + grade solution and blank notebook
    python scripts/homework.py grade NAME SUBMISSIONS_DIR [--out DIR] [--jobs N] [--timeout CPU_S]
                                     [--cell-timeout CPU_S] [--call-timeout CPU_S] [--wall-factor F]
                                     [--memory-mb MB] [--processes N] [--unsafe-no-sandbox]

An assignment is a folder ``homework/<NAME>/`` holding one master notebook in otter-grader's format
(see homework/README.md). ``generate`` runs ``otter assign`` and writes ``_build/homework/<NAME>/``:
``autograder/`` (solutions, all tests, ``autograder.zip`` and its SHA-256 in ``autograder.zip.sha256``)
and ``student/`` (student notebook, public tests, ``<NAME>.zip`` to hand out); it also refreshes the
website copy ``book/homework/<NAME>.ipynb`` and ``.zip``.

``grade`` checks the autograder archive against the hash recorded when it was generated, then grades
every ``.ipynb`` in SUBMISSIONS_DIR, several at a time, and writes ``gradebook.csv`` (file, each
question's score, total, max, error) and ``reports/<file>.json``, atomically, once every sandbox is gone.
Each submission is graded by a trusted process (``python -I``, an allow-listed environment) that holds
the tests in memory, imports what the tests import, and runs the student's code in a worker process
(``homework_worker.py``) inside a bubblewrap sandbox: own user, mount, PID, network, IPC and UTS
namespaces, the Python environment read-only, a private empty home and /tmp, no network, limits on
memory, processes, CPU time, file size and open files. Time limits are CPU seconds, with a wall-clock
backstop. Without a working sandbox ``grade`` refuses, unless ``--unsafe-no-sandbox`` is given.
See homework/README.md for what this protects against and what it does not.
"""

from __future__ import annotations

import argparse
import ast
import base64
import csv
import functools
import hashlib
import importlib
import io
import json
import math
import os
import platform
import re
import secrets
import select
import shutil
import signal
import struct
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
from homework_worker import MAX_MESSAGE_BYTES, decode, encode  # noqa: E402

__all__ = [
    "Limits", "SandboxUnavailable", "sandbox_status", "discover", "master_notebook", "generate",
    "load_autograder", "grade_submission", "grade_batch", "write_gradebook", "main",
]

OUTPUT_CAP_BYTES = 64 * 1024  # how much of a submission's printed output a report keeps
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: regenerating gives byte-identical archives
# Lines that only drive otter inside the student's kernel; the class grader does that itself.
OTTER_LINE = re.compile(
    r"^\s*(#\s*Initialize Otter|import otter|grader\s*=\s*otter\.Notebook\(.*\)|"
    r"grader\.(check|check_all|export)\(.*\))\s*;?\s*$")
AUTOGRADER_INFRA = {"run_autograder", "run_otter.py", "setup.sh", "environment.yml", "requirements.txt",
                    "requirements.r", "otter_config.json"}

# Inside the sandbox
SANDBOX_HOME = "/home/student"
SANDBOX_WORKER = "/opt/grader/homework_worker.py"
SANDBOX_UID = 1000
# The few files of /etc that Python, numpy/scipy (BLAS alternatives) and matplotlib (fonts) read.
SANDBOX_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "localtime",
               "nsswitch.conf", "mime.types")
# Environment of the trusted grader: only these variables of the instructor's environment pass.
TRUSTED_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "USER", "LOGNAME", "PYTHONHASHSEED")
COMMON_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg",
              "LECTURES_DEVICE": "cpu", "LECTURES_RECORD_FILE": "", "PYTHONDONTWRITEBYTECODE": "1"}
KILL_WAIT_S = 10.0  # how long to wait for a killed sandbox to be gone


class SandboxUnavailable(RuntimeError):
    """No operating-system sandbox (bubblewrap with user namespaces) can be started on this machine."""


class Limits:
    """Limits of one submission's sandbox.

    Times are CPU seconds used by all processes of the sandbox, so that an honest slow submission on a
    loaded machine is not cut short: ``total`` for the whole submission (all cells, all calls from the
    tests, replays after restarts), ``cell`` per code cell, ``call`` per call from a test. Each has a
    wall-clock backstop of ``wall_factor`` times its CPU limit (for code that sleeps or waits).
    ``max_restarts``: worker restarts after a crash or time-out. ``memory_mb``: address space of each
    process (RLIMIT_AS). ``processes``: processes and threads in the sandbox (a pids cgroup when the
    grader runs as root, RLIMIT_NPROC otherwise). ``file_mb``: largest file a process may write
    (RLIMIT_FSIZE) and size of the private home and /tmp (tmpfs). ``open_files``: RLIMIT_NOFILE.
    """

    def __init__(self, total: float = 300.0, cell: float = 60.0, call: float = 60.0, max_restarts: int = 3,
                 wall_factor: float = 3.0, memory_mb: int = 4096, processes: int = 128, file_mb: int = 256,
                 open_files: int = 512):
        for label, value in (("total", total), ("cell", cell), ("call", call)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"time limit {label!r} must be a positive number of seconds, got {value!r}")
        if not isinstance(max_restarts, int) or isinstance(max_restarts, bool) or max_restarts < 0:
            raise ValueError(f"max_restarts must be a non-negative int, got {max_restarts!r}")
        if not isinstance(wall_factor, (int, float)) or isinstance(wall_factor, bool) or not wall_factor >= 1:
            raise ValueError(f"wall_factor must be a number >= 1, got {wall_factor!r}")
        for label, value, least in (("memory_mb", memory_mb, 256), ("processes", processes, 8),
                                    ("file_mb", file_mb, 1), ("open_files", open_files, 64)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{label} must be an int >= {least}, got {value!r}")
        self.total, self.cell, self.call = float(total), float(cell), float(call)
        self.max_restarts, self.wall_factor = max_restarts, float(wall_factor)
        self.memory_mb, self.processes, self.file_mb, self.open_files = memory_mb, processes, file_mb, open_files

    def as_dict(self) -> dict:
        return {"total": self.total, "cell": self.cell, "call": self.call, "max_restarts": self.max_restarts,
                "wall_factor": self.wall_factor, "memory_mb": self.memory_mb, "processes": self.processes,
                "file_mb": self.file_mb, "open_files": self.open_files}


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
    zip_path = target / "autograder" / "autograder.zip"
    (target / "autograder" / zips[0].name).rename(zip_path)
    # the hash that `grade` checks the archive against before it trusts it
    autograder_hash_file(zip_path).write_text(f"{_sha256(zip_path.read_bytes())}  autograder.zip\n", encoding="utf-8")
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

def autograder_hash_file(zip_path: Path) -> Path:
    """Where ``generate`` records the SHA-256 of an autograder archive."""
    return Path(zip_path).with_name(Path(zip_path).name + ".sha256")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_autograder(zip_path: Path | bytes, require_hash: bool = False) -> dict:
    """Read an otter autograder archive into memory: {"tests": {name: source}, "files": {path: b64}, "sha256"}.

    For a path, the archive must match the hash that ``generate`` recorded next to it (ValueError
    otherwise); with ``require_hash`` a missing hash file is an error too.
    """
    if isinstance(zip_path, (bytes, bytearray)):
        data = bytes(zip_path)
    else:
        zip_path = Path(zip_path)
        if not zip_path.is_file():
            raise FileNotFoundError(f"autograder archive not found: {zip_path} (run `make homework` first)")
        data = zip_path.read_bytes()
        hash_file = autograder_hash_file(zip_path)
        if hash_file.is_file():
            recorded = (hash_file.read_text(encoding="utf-8").split() or [""])[0]
            if _sha256(data) != recorded:
                raise ValueError(f"{zip_path} has changed since it was generated (SHA-256 {_sha256(data)[:16]}..., "
                                 f"recorded {recorded[:16]}...): regenerate it with `make homework` before grading")
        elif require_hash:
            raise ValueError(f"no recorded hash {hash_file.name} next to {zip_path}: regenerate with `make homework`")
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
        elif (info.filename not in AUTOGRADER_INFRA and ".." not in parts and not info.filename.startswith("/")
              and all(re.fullmatch(r"[\w.+-]+", part) for part in parts)):
            files[info.filename] = base64.b64encode(archive.read(info)).decode("ascii")
    if not tests:
        raise ValueError("the autograder archive contains no tests/*.py files")
    return {"tests": dict(sorted(tests.items())), "files": files, "sha256": _sha256(data)}


# ----------------------------------------------------------------------------------------------------
# The sandbox: bubblewrap namespaces, resource limits, a pids cgroup when root
# ----------------------------------------------------------------------------------------------------

def _python_mounts() -> list[str]:
    """Folders the worker's interpreter needs, mounted read-only at the same paths: the base Python,
    the virtual environment, and the course package when it is installed in editable mode."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent}
    if (REPO / "lectures_utils").is_dir():
        paths.add(REPO / "lectures_utils")
    keep = sorted(str(p) for p in paths if not str(p).startswith("/usr/"))
    # drop a folder that sits inside another mounted one
    return [p for p in keep if not any(p != q and p.startswith(q + "/") for q in keep)]


def _bwrap_command(bwrap: str, stage: Path, files: list[str], limits: Limits, argv: list[str]) -> list[str]:
    """The bubblewrap command line of one sandbox (see the module docstring)."""
    cmd = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
           "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox",
           "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib32", "lib64", "libx32", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            cmd += ["--ro-bind", str(path), str(path)]
    for name in SANDBOX_ETC:
        if (Path("/etc") / name).exists():
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    cmd += ["--ro-bind", str(stage / "passwd"), "/etc/passwd", "--ro-bind", str(stage / "group"), "/etc/group"]
    size = str(limits.file_mb * 2**20)
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(64 * 2**20), "--tmpfs", "/dev/shm",
            "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", SANDBOX_HOME,
            "--ro-bind", str(WORKER), SANDBOX_WORKER]
    # After the private /tmp, so that a course environment that lives under /tmp (a clone there) stays visible.
    for path in _python_mounts():
        cmd += ["--ro-bind", path, path]
    for rel in files:
        cmd += ["--ro-bind", str(stage / "files" / rel), f"{SANDBOX_HOME}/{rel}"]
    cmd += ["--remount-ro", "/", "--chdir", SANDBOX_HOME, "--clearenv"]  # writable: home, /tmp, /dev/shm only
    for key, value in _worker_env(sandboxed=True, home=SANDBOX_HOME).items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *argv]


def _worker_env(sandboxed: bool, home: str) -> dict[str, str]:
    """The whole environment of the untrusted worker: nothing of the instructor's environment."""
    bin_dir = str(Path(sys.executable).parent)
    return {"HOME": home, "PATH": f"{bin_dir}:/usr/bin:/bin", "TMPDIR": "/tmp" if sandboxed else home,
            "LANG": "C.UTF-8", "USER": "student", "LOGNAME": "student", "PYTHONHASHSEED": "0", **COMMON_ENV}


def _stage_identity(stage: Path) -> None:
    (stage / "passwd").write_text(f"root:x:0:0:root:/root:/usr/sbin/nologin\nstudent:x:{SANDBOX_UID}:"
                                  f"{SANDBOX_UID}:student:{SANDBOX_HOME}:/usr/sbin/nologin\n", encoding="utf-8")
    (stage / "group").write_text(f"root:x:0:\nstudent:x:{SANDBOX_UID}:\n", encoding="utf-8")


@functools.lru_cache(maxsize=1)
def sandbox_status() -> tuple[bool, str]:
    """(True, path of bwrap) when a sandbox can be started here, else (False, why not)."""
    if not sys.platform.startswith("linux"):
        return False, (f"this is {platform.system()}, and the sandbox needs Linux namespaces (bubblewrap)")
    bwrap = shutil.which("bwrap") or ("/usr/bin/bwrap" if Path("/usr/bin/bwrap").is_file() else None)
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="hw-probe-") as tmp:
        stage = Path(tmp)
        _stage_identity(stage)
        (stage / "files").mkdir()
        cmd = _bwrap_command(bwrap, stage, [], Limits(), [sys.executable, "-I", "-c", "import os; os.getcwd()"])
        try:
            result = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as err:
            return False, f"bubblewrap could not be started: {err}"
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        return False, (f"bubblewrap cannot create its namespaces here ({message[0]}); the kernel or the "
                       "container may not allow user namespaces")
    return True, bwrap


def _refusal(reason: str) -> str:
    return (f"refusing to grade: no sandbox is available ({reason}).\n"
            "Grading runs every student's code. Without the sandbox a submission can read the solutions and "
            "hidden tests, change other students' grades, and read or write anything the grading user can.\n"
            "Grade on a Linux machine (or a Linux VM, or a container that allows user namespaces) with "
            "bubblewrap installed: `apt-get install bubblewrap` (as root: `make sandbox`).\n"
            "Only for notebooks you trust (e.g. your own solution): `make grade ... UNSAFE_NO_SANDBOX=1` or "
            "`scripts/homework.py grade ... --unsafe-no-sandbox`.")


class _PidsCgroup:
    """A pids cgroup holding one submission's sandbox (root only): caps its processes, lists and kills them.

    RLIMIT_NPROC does not bind processes of root (even when they are an unprivileged user inside a user
    namespace), so when the grader runs as root the number of processes is capped by the cgroup."""

    ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, limit: int) -> "_PidsCgroup | None":
        if os.geteuid() != 0:
            return None
        for root in map(Path, cls.ROOTS):
            if not (root / "cgroup.procs").is_file():
                continue
            path = root / f"hw-grading-{os.getpid()}-{secrets.token_hex(6)}"
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                (path / "pids.max").write_text(str(limit))
                return cls(path)
            except OSError:
                try:
                    path.rmdir()
                except OSError:
                    pass
        return None

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def destroy(self, timeout: float = KILL_WAIT_S) -> bool:
        """Kill everything in the cgroup and remove it; False when something survived ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                try:
                    self.path.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.05)
                    continue
                return True
            _sigkill(pids)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _sigkill(pids) -> None:
    """SIGKILL each pid; one that is already gone (or never ours) is skipped."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of its reaped children) from /proc, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        fields = data[data.rindex(b")") + 2:].split()
        return int(fields[1]), sum(int(f) for f in fields[11:15]) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return None


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (a /proc walk)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class _Failure(Exception):
    """The worker did not answer a request properly (time-out, death, protocol violation)."""


class _Worker:
    """One untrusted worker process (in its sandbox) running a submission's code; restarted when it
    hangs or dies. Every wait is bounded by CPU-time limits and a wall-clock backstop."""

    def __init__(self, stage: Path, files: list[str], limits: Limits, bwrap: str | None,
                 cgroup: _PidsCgroup | None, wall_deadline: float):
        self.stage, self.files, self.limits, self.bwrap = stage, files, limits, bwrap
        self.cgroup, self.wall_deadline = cgroup, wall_deadline
        self.process: subprocess.Popen | None = None
        self.output = bytearray()
        self.output_bytes = 0
        self.good_cells: list[str] = []
        self.restarts = 0
        self.failure = ""
        self.context = ""  # what the grader is doing, for the error column ("test q3")
        self.events: list[str] = []  # worker deaths and restarts during the tests
        self.cpu_spent = 0.0  # CPU seconds of earlier incarnations
        self._cpu_now = 0.0  # CPU seconds of the current incarnation (the largest value seen)
        self._drainer: threading.Thread | None = None

    # -- process management
    def start(self) -> None:
        limits, cgroup = self.limits, self.cgroup
        nproc = limits.processes
        if os.geteuid() != 0:  # RLIMIT_NPROC counts all processes of the user, so allow for the existing ones
            nproc += sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owned(p))
        cpu = math.ceil(limits.total) + 1
        rlimits = {"RLIMIT_CORE": (0, 0), "RLIMIT_AS": (limits.memory_mb * 2**20,) * 2,
                   "RLIMIT_CPU": (cpu, cpu + 5), "RLIMIT_FSIZE": (limits.file_mb * 2**20,) * 2,
                   "RLIMIT_NOFILE": (limits.open_files,) * 2, "RLIMIT_NPROC": (nproc, nproc)}
        procs_file = str(cgroup.path / "cgroup.procs") if cgroup else None

        def launcher() -> None:  # in the child between fork and exec: bwrap and all it starts inherit this
            import resource
            if procs_file:
                with open(procs_file, "w") as handle:
                    handle.write(str(os.getpid()))
            for name, value in rlimits.items():
                resource.setrlimit(getattr(resource, name), value)

        if self.bwrap:
            cmd = _bwrap_command(self.bwrap, self.stage, self.files, limits, [sys.executable, "-I", "-B", SANDBOX_WORKER])
            cwd, env = str(self.stage), {}
        else:  # unsafe: the old, unsandboxed worker in a writable copy of the files
            home = self.stage / f"home-{self.restarts}"
            shutil.copytree(self.stage / "files", home)
            cmd, cwd, env = [sys.executable, "-I", "-B", str(WORKER)], str(home), _worker_env(False, str(home))
        self.process = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True, preexec_fn=launcher)
        os.set_blocking(self.process.stdin.fileno(), False)
        self._cpu_now = 0.0
        self._drainer = threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True)
        self._drainer.start()

    def _drain(self, stream) -> None:
        while True:
            try:
                chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            self.output_bytes += len(chunk)
            room = OUTPUT_CAP_BYTES - len(self.output)
            if room > 0:
                self.output += chunk[:room]

    def _pids(self) -> list[int]:
        if self.process is None:
            return []
        pids = set(self.cgroup.pids()) if self.cgroup else set()
        if not self.cgroup or not pids:
            pids.update(_descendants(self.process.pid))
        return sorted(pids)

    def cpu(self) -> float:
        """CPU seconds used by the submission so far (all processes of all incarnations)."""
        if self.process is not None:
            now = sum(stat[1] for stat in map(_proc_stat, self._pids()) if stat is not None)
            self._cpu_now = max(self._cpu_now, now)
        return self.cpu_spent + self._cpu_now

    def kill(self) -> None:
        """Kill every process of the sandbox and wait (bounded) until they are gone."""
        if self.process is None:
            return
        process = self.process
        pids = set() if self.cgroup is not None else set(_descendants(process.pid))
        self.cpu()  # the final CPU time of this incarnation
        self.process = None
        self.cpu_spent += self._cpu_now
        self._cpu_now = 0.0
        _sigkill(sorted(pids | {process.pid}))
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            self.events.append("the worker process could not be killed")
        gone = True
        if self.cgroup is not None:
            deadline = time.monotonic() + KILL_WAIT_S
            while self.cgroup.pids() and time.monotonic() < deadline:
                _sigkill(self.cgroup.pids())
                time.sleep(0.02)
            gone = not self.cgroup.pids()
        else:
            deadline = time.monotonic() + KILL_WAIT_S
            while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
                time.sleep(0.02)
            gone = not any(_proc_stat(pid) for pid in pids if pid != process.pid)
        if not gone:
            self.events.append("some processes of the sandbox survived being killed")
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self._drainer is not None:
            self._drainer.join(timeout=2)  # the pipe closes with the sandbox; never wait for ever
        try:
            process.stderr.close()
        except OSError:
            pass

    def restart(self) -> bool:
        """Kill, start afresh and replay the cells that had succeeded; False when out of restarts/time."""
        self.kill()
        if (self.restarts >= self.limits.max_restarts or time.monotonic() >= self.wall_deadline
                or self.cpu() >= self.limits.total):
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
        """Send a request and wait for the answer, at most ``limit`` CPU seconds (and ``wall_factor``
        times that in wall-clock time, and not past the submission's budgets); None when it failed."""
        if self.process is None:
            return None
        try:
            return self._exchange(message, limit)
        except _Failure as failure:
            self.failure = str(failure)
        if restart_on_failure:
            what = f"{self.context}: " if self.context else ""
            if self.restart():
                self.events.append(f"{what}the worker {self.failure}; restarted it (restart {self.restarts})")
            else:
                self.events.append(f"{what}the worker {self.failure}; not restarted (no restarts or time left)")
        else:
            self.kill()
        return None

    def _exchange(self, message: dict, cpu_limit: float) -> dict:
        limits, process = self.limits, self.process
        start_wall, start_cpu = time.monotonic(), self.cpu()
        wall_end = min(start_wall + cpu_limit * limits.wall_factor, self.wall_deadline)
        next_check = start_wall

        def check() -> None:
            now = time.monotonic()
            if now >= wall_end:
                if now >= self.wall_deadline:
                    raise _Failure(f"timed out: the submission's wall-clock backstop of "
                                   f"{limits.total * limits.wall_factor:g} s was reached")
                raise _Failure(f"timed out: no answer within {cpu_limit * limits.wall_factor:g} s of wall-clock "
                               f"time ({limits.wall_factor:g} x the {cpu_limit:g} s CPU-time limit)")
            used = self.cpu()
            if used - start_cpu > cpu_limit:
                raise _Failure(f"timed out: used more than {cpu_limit:g} s of CPU time")
            if used > limits.total:
                raise _Failure(f"timed out: the submission's CPU-time budget of {limits.total:g} s is used up")

        payload = json.dumps(message, allow_nan=False).encode("utf-8")
        outgoing = memoryview(struct.pack(">Q", len(payload)) + payload)
        out_fd, in_fd = process.stdin.fileno(), process.stdout.fileno()
        incoming, size = bytearray(), None
        while True:
            now = time.monotonic()
            if now >= next_check:
                check()
                next_check = now + 0.25
            wait = max(0.0, min(next_check, wall_end) - now)
            readable, writable, _ = select.select([in_fd], [out_fd] if outgoing else [], [], wait)
            if writable:
                try:
                    sent = os.write(out_fd, outgoing[:1 << 16])
                except BlockingIOError:
                    sent = 0
                except OSError:
                    raise _Failure(self._death()) from None
                outgoing = outgoing[sent:]
            if readable:
                chunk = os.read(in_fd, 1 << 20)
                if not chunk:
                    raise _Failure(self._death())
                if outgoing:
                    raise _Failure("broke the protocol (answered before the request was sent)")
                incoming += chunk
                if size is None and len(incoming) >= 8:
                    (size,) = struct.unpack(">Q", bytes(incoming[:8]))
                    if size > MAX_MESSAGE_BYTES:
                        raise _Failure(f"broke the protocol (a message of {size} bytes, more than "
                                       f"{MAX_MESSAGE_BYTES})")
                if size is not None and len(incoming) >= 8 + size:
                    if len(incoming) > 8 + size:
                        raise _Failure("broke the protocol (unrequested data)")
                    try:
                        reply = json.loads(bytes(incoming[8:]).decode("utf-8"))
                    except ValueError:
                        raise _Failure("broke the protocol (a message that is not JSON)") from None
                    if not isinstance(reply, dict):
                        raise _Failure("broke the protocol (a message that is not a JSON object)")
                    return reply

    def _death(self) -> str:
        try:
            status = self.process.wait(timeout=2)
            return f"ended the worker process (exit status {status})"
        except subprocess.TimeoutExpired:
            return "ended the worker process (closed its pipe)"


def _owned(proc_dir: Path) -> bool:
    try:
        return proc_dir.stat().st_uid == os.geteuid()
    except OSError:
        return False


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
                               f"(limit {self._worker.limits.call:g} CPU s per call)")
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


def _test_dependencies(sources) -> list[str]:
    """Modules the tests import (absolute imports anywhere in their source)."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return sorted(names)


def _import_test_dependencies(sources) -> None:
    """Import, in the trusted process and before any student code runs, everything the tests import."""
    for name in _test_dependencies(sources):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a test importing something missing fails when it runs
            pass


def grade_submission(notebook_bytes: bytes, filename: str, autograder: dict, limits: Limits | None = None,
                     work_dir: Path | None = None, unsafe_no_sandbox: bool = False, cgroup: str | None = None,
                     bwrap: str | None = None) -> dict:
    """Grade one submission (bytes of an .ipynb) against ``load_autograder``'s output; return its report.

    Runs the student's code in a sandboxed worker process (SandboxUnavailable when there is no sandbox,
    unless ``unsafe_no_sandbox``); never raises for anything the submission does.
    """
    from otter.test_files import ExceptionTestFile

    limits = limits or Limits()
    if unsafe_no_sandbox:
        bwrap = None
    elif bwrap is None:
        available, detail = sandbox_status()
        if not available:
            raise SandboxUnavailable(_refusal(detail))
        bwrap = detail
    started = time.monotonic()
    wall_deadline = started + limits.total * limits.wall_factor
    tests = {name: ExceptionTestFile.from_string(source, path=f"tests/{name}.py")
             for name, source in autograder["tests"].items()}  # in memory before any student code runs
    _import_test_dependencies(autograder["tests"].values())
    report: dict[str, Any] = {
        "file": filename, "scores": {n: 0.0 for n in tests},
        "possible": {n: float(t.possible) for n, t in tests.items()},
        "total": 0.0, "max_total": float(sum(t.possible for t in tests.values())),
        "errors": [], "cells": [], "tests": [], "output_head": "", "output_bytes": 0,
        "sandbox": "bubblewrap" if bwrap else "none (unsafe)", "limits": limits.as_dict(),
        "autograder_sha256": autograder.get("sha256"),
    }
    try:
        cells = _code_cells(notebook_bytes)
    except Exception as err:  # noqa: BLE001 - any unreadable notebook is the submission's problem
        report["errors"].append(f"notebook could not be read: {type(err).__name__}: {err}"[:500])
        report["wall_s"], report["cpu_s"] = round(time.monotonic() - started, 3), 0.0
        return report

    stage = Path(tempfile.mkdtemp(prefix="hw-stage-", dir=work_dir))  # trusted; the sandbox sees copies only
    files = {Path(filename).name: notebook_bytes}
    files.update({rel: base64.b64decode(payload) for rel, payload in autograder.get("files", {}).items()})
    for rel, data in files.items():
        (stage / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / "files" / rel).write_bytes(data)
    _stage_identity(stage)
    group = _PidsCgroup(Path(cgroup)) if cgroup else None
    worker = _Worker(stage, sorted(files), limits, bwrap, group, wall_deadline)
    try:
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
            worker.context = f"test {name}"
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
        worker.kill()  # every process of the sandbox is gone before the report is made
        shutil.rmtree(stage, ignore_errors=True)
    for event in worker.events:
        if event not in report["errors"]:
            report["errors"].append(event[:500])
    if worker.cpu_spent >= limits.total:
        report["errors"].append(f"CPU-time budget of {limits.total:g} s per submission used up")
    elif time.monotonic() >= wall_deadline:
        report["errors"].append(f"wall-clock backstop of {limits.total * limits.wall_factor:g} s reached")
    report["total"] = float(round(sum(report["scores"].values()), 6))
    report["output_head"] = bytes(worker.output).decode("utf-8", "replace")
    report["output_bytes"] = worker.output_bytes
    report["wall_s"] = round(time.monotonic() - started, 3)
    report["cpu_s"] = round(worker.cpu_spent, 3)
    return report


def _grade_one_from_stdin() -> int:
    """Entry point of the trusted per-submission process: job JSON on stdin, report JSON on stdout."""
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    report = grade_submission(base64.b64decode(job["notebook"]), job["file"], job["autograder"],
                              Limits(**job["limits"]), Path(job["work_dir"]) if job.get("work_dir") else None,
                              unsafe_no_sandbox=job["unsafe_no_sandbox"], cgroup=job.get("cgroup"), bwrap=job.get("bwrap"))
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
            "output_head": "", "output_bytes": 0, "wall_s": None, "cpu_s": None}


def _trusted_env() -> dict[str, str]:
    env = {key: os.environ[key] for key in TRUSTED_ENV_KEYS if key in os.environ}
    return {**env, **COMMON_ENV}


def grade_batch(submissions: list[Path] | dict[str, bytes], autograder: dict, limits: Limits | None = None,
                jobs: int | None = None, work_dir: Path | None = None, unsafe_no_sandbox: bool = False) -> list[dict]:
    """Grade many submissions, each by its own trusted process and in its own sandbox (several at a
    time); one report per submission, returned once every sandbox is gone.

    ``submissions`` are paths of .ipynb files or a {filename: bytes} mapping. All bytes are read before
    any student code runs. SandboxUnavailable when no sandbox can be started, unless ``unsafe_no_sandbox``.
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
    bwrap = None
    if not unsafe_no_sandbox:
        available, detail = sandbox_status()
        if not available:
            raise SandboxUnavailable(_refusal(detail))
        bwrap = detail
    env = _trusted_env()
    batch_dir = Path(tempfile.mkdtemp(prefix="hw-batch-", dir=work_dir))
    # the trusted side's wait for one submission: its wall-clock backstop plus room for kills and imports
    wait_s = limits.total * limits.wall_factor + (limits.max_restarts + 2) * KILL_WAIT_S + 120

    def run_one(item: tuple[str, bytes]) -> dict:
        name, data = item
        cgroup = _PidsCgroup.create(limits.processes)
        job = {"notebook": base64.b64encode(data).decode("ascii"), "file": name, "autograder": autograder,
               "limits": limits.as_dict(), "work_dir": str(batch_dir), "unsafe_no_sandbox": unsafe_no_sandbox,
               "cgroup": str(cgroup.path) if cgroup else None, "bwrap": bwrap}
        proc = None
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-B", str(Path(__file__).resolve()), "_grade-one"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, cwd=str(batch_dir), env=env)
            try:
                out, err = proc.communicate(json.dumps(job).encode("utf-8"), timeout=wait_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                row = _failed_row(name, autograder, f"the grader of this submission exceeded {wait_s:g} s")
            else:
                if proc.returncode != 0:
                    tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
                    row = _failed_row(name, autograder, f"grader process failed (status {proc.returncode}): {tail[0]}")
                else:
                    row = json.loads(out.decode("utf-8"))
        except Exception as error:  # noqa: BLE001
            row = _failed_row(name, autograder, f"grader process failed: {type(error).__name__}: {error}")
        finally:
            if proc is not None:
                _kill_group(proc)
        if cgroup is not None and not cgroup.destroy():
            row["errors"].append("some processes of this submission's sandbox could not be killed")
        return row

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(run_one, items))
    finally:
        shutil.rmtree(batch_dir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=KILL_WAIT_S)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file and a rename: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_gradebook(reports: list[dict], out_dir: Path) -> Path:
    """Write ``reports/<file>.json`` and then ``gradebook.csv`` into ``out_dir``, each file atomically;
    return the CSV path."""
    if not reports:
        raise ValueError("no reports to write")
    out_dir = Path(out_dir)
    (out_dir / "reports").mkdir(parents=True, exist_ok=True)
    questions = list(reports[0]["possible"])
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["file", *questions, "total", "max_total", "error"])
    for report in sorted(reports, key=lambda r: r["file"]):
        writer.writerow([report["file"], *[f"{report['scores'].get(q, 0.0):g}" for q in questions],
                         f"{report['total']:g}", f"{report['max_total']:g}", "; ".join(report["errors"])])
        stem = Path(report["file"]).stem
        _atomic_write(out_dir / "reports" / f"{stem}.json",
                      json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"))
    path = out_dir / "gradebook.csv"
    _atomic_write(path, table.getvalue().encode("utf-8"))
    return path


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------

def _autograder_for(name: str) -> dict:
    master_notebook(name)  # validates the name
    zip_path = BUILD_DIR / name / "autograder" / "autograder.zip"
    if (not zip_path.is_file() or not autograder_hash_file(zip_path).is_file()
            or zip_path.stat().st_mtime < master_notebook(name).stat().st_mtime):
        generate(name)
    return load_autograder(zip_path, require_hash=True)


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
    defaults = Limits()
    grd.add_argument("--out", type=Path, default=None, help="output folder (default: SUBMISSIONS/grades)")
    grd.add_argument("--jobs", type=int, default=None, help="parallel submissions (default: CPU count)")
    grd.add_argument("--timeout", type=float, default=defaults.total, help="CPU seconds per submission")
    grd.add_argument("--cell-timeout", type=float, default=defaults.cell, help="CPU seconds per code cell")
    grd.add_argument("--call-timeout", type=float, default=defaults.call, help="CPU seconds per call from a test")
    grd.add_argument("--wall-factor", type=float, default=defaults.wall_factor,
                     help="wall-clock backstop as a multiple of each CPU-time limit")
    grd.add_argument("--memory-mb", type=int, default=defaults.memory_mb, help="address space per process (MiB)")
    grd.add_argument("--processes", type=int, default=defaults.processes, help="processes+threads per sandbox")
    grd.add_argument("--unsafe-no-sandbox", action="store_true",
                     help="UNSAFE: grade without the sandbox (only for notebooks you trust)")
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
        autograder = load_autograder(target / "autograder" / "autograder.zip", require_hash=True)
        available, detail = sandbox_status()
        if not available:  # only the instructor's own generated notebooks are run here
            print(f"warning: no sandbox ({detail}); checking the instructor's own notebooks without one")
        reports = grade_batch({"solution.ipynb": (target / "autograder" / master.name).read_bytes(),
                               "student.ipynb": (target / "student" / master.name).read_bytes()}, autograder,
                              unsafe_no_sandbox=not available)
        ok = True
        for report in reports:
            print(f"{report['file']}: {report['total']:g} / {report['max_total']:g} {report['scores']} "
                  f"({report['wall_s']} s wall, {report['cpu_s']} s CPU) {'; '.join(report['errors'])}")
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
        if not args.unsafe_no_sandbox:
            available, detail = sandbox_status()
            if not available:
                print(_refusal(detail), file=sys.stderr)
                return 3
        else:
            print("WARNING: grading WITHOUT a sandbox (--unsafe-no-sandbox): the submissions' code runs with "
                  "your permissions. Use this only for notebooks you trust.", file=sys.stderr)
        autograder = _autograder_for(args.name)
        limits = Limits(args.timeout, args.cell_timeout, args.call_timeout, wall_factor=args.wall_factor,
                        memory_mb=args.memory_mb, processes=args.processes)
        start = time.perf_counter()
        reports = grade_batch(paths, autograder, limits, args.jobs, unsafe_no_sandbox=args.unsafe_no_sandbox)
        wall = time.perf_counter() - start
        path = write_gradebook(reports, args.out or args.submissions / "grades")
        print(f"graded {len(reports)} submissions in {wall:.1f} s ({wall / len(reports):.2f} s each, "
              f"{'sandboxed' if not args.unsafe_no_sandbox else 'UNSANDBOXED'}); gradebook: {path}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
