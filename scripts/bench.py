"""Benchmark the book: execute every lecture notebook in table-of-contents order, one at a time, in a
fresh kernel, and tabulate wall time, kernel CPU time, peak memory and the figures it asserts.

    make bench                       # all notebooks, table to the screen and _build/bench.md
    python scripts/bench.py --repeat 2            # also check that two runs record the same figures
    python scripts/bench.py notebooks/06_segmentation/06_4_*.ipynb

Targets (the course's promise to a student with a 2-core laptop): each notebook at most 180 s and
3 GB, the whole book at most 15 minutes. A notebook over a target is marked and the exit status is 1.
Run it on an otherwise idle machine; the device is whatever get_device() picks (LECTURES_DEVICE
overrides it).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_notebook import run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_NOTEBOOK_S = 180.0
MAX_NOTEBOOK_MB = 3 * 1024.0
MAX_BOOK_S = 15 * 60.0


def toc_notebooks() -> list[Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_notebooks import TOC_FILES  # the one parser of _toc.yml

    return [ROOT / (f + ".ipynb") for f in TOC_FILES
            if f.startswith("notebooks/") and (ROOT / (f + ".ipynb")).exists()]


def same_figures(a: list[dict], b: list[dict]) -> bool:
    if [r["name"] for r in a] != [r["name"] for r in b]:
        return False
    return all(math.isclose(x["value"], y["value"], rel_tol=1e-9, abs_tol=1e-12) for x, y in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml")
    parser.add_argument("--repeat", type=int, default=1, help="runs per notebook (2 checks reproducibility)")
    parser.add_argument("--output", type=Path, default=ROOT / "_build" / "bench.md")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or toc_notebooks()
    if not notebooks:
        parser.error("no notebooks to run")

    rows, total, status = [], 0.0, 0
    for path in notebooks:
        runs = [run(path) for _ in range(max(1, args.repeat))]
        first = runs[0]
        wall = min(r["wall_s"] for r in runs)
        total += wall
        problems = [f"FAILED: {r['error']}" for r in runs if r["error"]][:1]
        if wall > MAX_NOTEBOOK_S:
            problems.append(f"over {MAX_NOTEBOOK_S:.0f} s")
        if max(r["peak_mb"] for r in runs) > MAX_NOTEBOOK_MB:
            problems.append(f"over {MAX_NOTEBOOK_MB:.0f} MB")
        if len(runs) > 1 and not all(same_figures(first["records"], r["records"]) for r in runs[1:]):
            problems.append("figures differ between runs")
        status |= bool(problems)
        figures = "; ".join(f"{r['name']} = {r['value']:.4g}{(' ' + r['unit']) if r['unit'] else ''}"
                            for r in first["records"])
        rows.append({"notebook": str(path.relative_to(ROOT)), "wall_s": wall, "cpu_s": first["cpu_s"],
                     "peak_mb": max(r["peak_mb"] for r in runs), "status": ", ".join(problems) or "ok",
                     "figures": figures, "records": first["records"]})
        print(f"{rows[-1]['notebook']}: {wall:.1f} s, {rows[-1]['peak_mb']:.0f} MB, {rows[-1]['status']}", flush=True)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    lines = [
        f"# Benchmark: {len(rows)} notebooks on {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, device {device}",
        "",
        "| notebook | wall (s) | kernel CPU (s) | peak memory (MB) | status | asserted figures |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    lines += [f"| {r['notebook']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_mb']:.0f} | {r['status']} | "
              f"{r['figures']} |" for r in rows]
    book_ok = total <= MAX_BOOK_S
    status |= not book_ok
    lines += ["", f"Whole book: {total:.0f} s ({total / 60:.1f} min; target {MAX_BOOK_S / 60:.0f} min: "
              f"{'ok' if book_ok else 'OVER'})."]
    table = "\n".join(lines)
    print("\n" + table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table + "\n", encoding="utf-8")
    args.output.with_suffix(".json").write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())
