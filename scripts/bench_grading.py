"""Benchmark of the class grader: grade 50 generated submissions of one assignment, print the times.

    python scripts/bench_grading.py [ASSIGNMENT] [--n 50] [--jobs N] [--unsafe-no-sandbox]

The submissions are a mix made from the generated notebooks: correct (the solution), blank (the
student notebook), partly wrong (the solution with one answer cell replaced by the blank one), and
broken (a syntax error, an exception, sys.exit). Not run by the tests; prints total and per-submission
wall time, one grader's wall and CPU time, and the score distribution. Each submission is graded in its
sandbox, as `make grade` does; --unsafe-no-sandbox measures the same grader without it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import homework as hw  # noqa: E402


def make_submissions(solution: bytes, student: bytes, n: int) -> dict[str, bytes]:
    sol = nbformat.reads(solution.decode("utf-8"), as_version=4)
    blank = nbformat.reads(student.decode("utf-8"), as_version=4)
    answer_cells = [i for i, (a, b) in enumerate(zip(sol.cells, blank.cells))
                    if a.cell_type == "code" and a.source != b.source]

    def variant(k: int) -> bytes:
        kind = k % 5
        nb = nbformat.reads(solution.decode("utf-8"), as_version=4)
        if kind == 1:
            return student
        if kind == 2 and answer_cells:  # one answer left blank: partly wrong
            i = answer_cells[(k // 5) % len(answer_cells)]
            nb.cells[i].source = blank.cells[i].source
        elif kind == 3:
            nb.cells.insert(2, nbformat.v4.new_code_cell(["def broken(:", "raise RuntimeError('boom')",
                                                          "import sys; sys.exit(1)"][(k // 5) % 3]))
        return nbformat.writes(nb).encode("utf-8")

    return {f"student_{k:03d}.ipynb": variant(k) for k in range(n)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", nargs="?", default="ch01_generative_discriminative")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--unsafe-no-sandbox", action="store_true", help="grade without the sandbox (to compare)")
    args = parser.parse_args()
    master = hw.master_notebook(args.assignment)
    target = hw.BUILD_DIR / args.assignment
    if not hw.autograder_hash_file(target / "autograder" / "autograder.zip").is_file():
        hw.generate(args.assignment)
    autograder = hw.load_autograder(target / "autograder" / "autograder.zip", require_hash=True)
    submissions = make_submissions((target / "autograder" / master.name).read_bytes(),
                                   (target / "student" / master.name).read_bytes(), args.n)
    start = time.perf_counter()
    reports = hw.grade_batch(submissions, autograder, jobs=args.jobs, unsafe_no_sandbox=args.unsafe_no_sandbox)
    wall = time.perf_counter() - start
    per = [r["wall_s"] for r in reports if r["wall_s"] is not None]
    totals = [r["total"] for r in reports]
    print(f"assignment: {args.assignment}; submissions: {len(reports)}; parallel jobs: {args.jobs or hw.os.cpu_count()}; "
          f"sandbox: {reports[0].get('sandbox')}")
    print(f"total wall time: {wall:.1f} s; per submission (wall / n): {wall / len(reports):.2f} s")
    print(f"one submission's grader: median {statistics.median(per):.2f} s, max {max(per):.2f} s")
    cpu = [r["cpu_s"] for r in reports if r.get("cpu_s") is not None]
    if cpu:
        print(f"CPU time of one submission's sandbox: median {statistics.median(cpu):.2f} s, max {max(cpu):.2f} s")
    print(f"scores: full {sum(t == reports[0]['max_total'] for t in totals)}, zero {sum(t == 0 for t in totals)}, "
          f"partial {sum(0 < t < reports[0]['max_total'] for t in totals)}; "
          f"rows with an error note: {sum(bool(r['errors']) for r in reports)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
