"""The seed sweep: re-execute notebooks with training seeds 0..N-1 and tabulate how much every
recorded figure moves, and which asserts fail on which seed.

    make seeds                                            # every notebook in _toc.yml, seeds 0-4, CPU
    make seeds NOTEBOOKS="notebooks/06_segmentation/06_4_training_unet.ipynb" SEEDS=3
    python scripts/seeds.py --device cuda --jobs 4        # the same table on a GPU
    python scripts/seeds.py --page-only                   # rebuild the appendix page from the stored results

How it works. A notebook reads its training seed with ``SEED = book_seed()``; this script sets the
environment variable ``LECTURES_SEED`` (and ``LECTURES_DEVICE``) for each run, so the notebooks are not
edited. Each run executes in a fresh kernel from the notebook's own folder. Before the first cell, an
IPython AST transformer turns every ``assert`` of the notebook's own code into a check that writes the
failure down and carries on, so one run lists every assert that fails on that seed, not only the first;
errors of other kinds are collected too (the run goes on with the next cell). Figures come from
``record()``.

Results go to ``book/seed_sweep/<device>.json`` (merged per notebook with earlier sweeps, each notebook
keeping its own provenance: commit, date, machine, device, seeds, run time), and the appendix page
``book/seed_sweep.md`` is regenerated from all of them. The sweep is long (every notebook times every
seed) and is not part of CI; its run time is printed and stored.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "book" / "seed_sweep"
PAGE = ROOT / "book" / "seed_sweep.md"
ASSERT_ENV_VAR = "LECTURES_ASSERT_FILE"

# Runs in the kernel before the notebook's first cell. It must not print and must not leave names
# other than the one failure hook in the user's namespace.
SOFT_ASSERT_CELL = r'''
def _lectures_install_soft_asserts():
    import ast, json, os
    from IPython import get_ipython

    shell = get_ipython()
    path = os.environ["LECTURES_ASSERT_FILE"]
    executed = [0]  # code cells of the notebook run so far; this cell is not counted

    def count_cell(*_):
        executed[0] += 1

    shell.events.register("pre_run_cell", count_cell)

    def fail(source, message, line):
        try:
            text = repr(message) if message is not None else ""
        except Exception as err:  # a message whose repr fails still counts as a failure
            text = f"<repr failed: {type(err).__name__}>"
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"code_cell": executed[0], "line": line,
                                     "assert": source, "message": text[:300]}) + "\n")

    class SoftAssert(ast.NodeTransformer):
        def visit_Assert(self, node):
            self.generic_visit(node)
            call = ast.Call(func=ast.Name("__lectures_soft_fail__", ast.Load()),
                            args=[ast.Constant(ast.unparse(node.test)),
                                  node.msg if node.msg is not None else ast.Constant(None),
                                  ast.Constant(node.lineno)], keywords=[])
            check = ast.If(test=ast.UnaryOp(ast.Not(), node.test), body=[ast.Expr(call)], orelse=[])
            return ast.fix_missing_locations(ast.copy_location(check, node))

    shell.user_ns["__lectures_soft_fail__"] = fail
    shell.ast_transformers.append(SoftAssert())


_lectures_install_soft_asserts()
del _lectures_install_soft_asserts
'''


def relative(path: str | Path) -> str:
    """``path`` relative to the repository when it is inside it (how the results name notebooks)."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def toc_notebooks() -> list[Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_notebooks import TOC_FILES  # the one parser of _toc.yml

    return [ROOT / (f + ".ipynb") for f in TOC_FILES
            if f.startswith("notebooks/") and (ROOT / (f + ".ipynb")).exists()]


def run_one(notebook: str, seed: int, device: str, timeout: int) -> dict:
    """Execute ``notebook`` with ``LECTURES_SEED=seed``; return figures, failed asserts and errors.

    Runs in a worker process (the environment variables reach the kernel it starts).
    """
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    path = Path(notebook)
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(SOFT_ASSERT_CELL))
    record_file = Path(tempfile.mkstemp(suffix=".jsonl")[1])
    assert_file = Path(tempfile.mkstemp(suffix=".jsonl")[1])
    os.environ.update({"LECTURES_SEED": str(seed), "LECTURES_RECORD_FILE": str(record_file),
                       ASSERT_ENV_VAR: str(assert_file), "PYTHONHASHSEED": "0"})
    if device:
        os.environ["LECTURES_DEVICE"] = device
    # IPC sockets in a private folder instead of TCP ports: kernels started at the same moment by
    # parallel jobs cannot race for a port.
    sockets = Path(tempfile.mkdtemp(prefix="lectures-kernel-"))
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel"))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.perf_counter()
    fatal = None
    try:
        client.execute()
    except Exception as err:  # a timeout or a dead kernel ends the run; keep what was collected
        fatal = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    finally:
        # the client does not own a kernel manager it was given: stop the kernel here, or every run
        # leaves an idle kernel (and its memory) behind until the sweep ends
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    wall = time.perf_counter() - start
    for leftover in sockets.glob("*"):
        leftover.unlink(missing_ok=True)
    sockets.rmdir()

    def read_jsonl(file: Path) -> list[dict]:
        rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        file.unlink(missing_ok=True)
        return rows

    # The k-th code cell run -> its place in the notebook as a reader counts cells (1 = first cell;
    # the injected cell sits at index 0, so list indices are already the reader's numbers).
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"][1:]
    failures = read_jsonl(assert_file)
    for item in failures:
        k = item.pop("code_cell")
        item["cell"] = code_cells[k - 1] if 1 <= k <= len(code_cells) else None
    errors = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                errors.append({"cell": i, "error": f"{out.get('ename')}: {str(out.get('evalue'))[:300]}"})
    if fatal:
        errors.append({"cell": None, "error": fatal})
    return {"seed": seed, "wall_s": round(wall, 2), "records": read_jsonl(record_file),
            "failed_asserts": failures, "errors": errors}


def machine_description(device: str) -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    described = device or "auto"
    if device.startswith("cuda") and torch.cuda.is_available():
        described = f"{device} ({torch.cuda.get_device_name(0)})"
    return {"cpu": cpu, "cores": os.cpu_count(), "device": described, "torch": torch.__version__,
            "python": platform.python_version()}


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (head + ("+changes" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def figure_table(runs: list[dict]) -> list[dict]:
    """One row per recorded figure: its value on every seed and min / median / max.

    A name recorded twice in one run (a loop) becomes ``name (#2)``, so rows line up across seeds.
    """
    rows: dict[str, dict] = {}
    for run in runs:
        seen: dict[str, int] = {}
        for rec in run["records"]:
            seen[rec["name"]] = seen.get(rec["name"], 0) + 1
            key = rec["name"] if seen[rec["name"]] == 1 else f"{rec['name']} (#{seen[rec['name']]})"
            row = rows.setdefault(key, {"name": key, "unit": rec.get("unit", ""), "values": {}})
            row["values"][str(run["seed"])] = rec["value"]
    for row in rows.values():
        values = list(row["values"].values())
        row.update(min=min(values), median=statistics.median(values), max=max(values))
    return list(rows.values())


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0 or (1e-3 <= abs(value) < 1e5):
        return f"{value:.4g}"
    return f"{value:.3e}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_page(results: dict[str, dict]) -> str:
    """The appendix page (MyST markdown) from ``{device: {notebook: entry}}``."""
    lines = [
        "# 附录：种子扫描 (Seed sweep)",
        "",
        "书中的训练结果取决于随机种子 (random seed)：权重初始化、小批量的顺序、dropout 都由它决定。",
        "本页由 `make seeds`（`scripts/seeds.py`）生成：它用训练种子 0, 1, …, N−1 重新执行每个 notebook"
        "（数据集本身不变），收集每个用 `record()` 记录的数值，并列出在哪个种子上哪条断言不成立。",
        "读者可以据此判断书中每个数字的波动有多大；正文中“在所有种子上成立”的结论，指的就是这里的种子。",
        "评估的规则见 {doc}`evaluation`。自己试一个种子：`LECTURES_SEED=3 jupyter lab`，或在终端",
        "`LECTURES_SEED=3 python scripts/run_notebook.py notebooks/...`。",
        "",
    ]
    if not results:
        lines += ["还没有扫描结果：运行 `make seeds`。", ""]
        return "\n".join(lines)
    for device in sorted(results):
        entries = results[device]
        lines += [f"## 设备 (device)：{device}", ""]
        total = sum(e["duration_s"] for e in entries.values())
        failing = sorted(nb for nb, e in entries.items()
                         if any(r["failed_asserts"] or r["errors"] for r in e["runs"]))
        lines += [f"{len(entries)} 个 notebook，扫描共用时 {total / 60:.1f} 分钟（各 notebook 的用时相加）。"
                  + (f"有断言失败或出错的 notebook：{', '.join('`' + Path(n).stem + '`' for n in failing)}。"
                     if failing else "所有断言在所有种子上都成立。"), ""]
        for notebook in sorted(entries):
            entry = entries[notebook]
            seeds = [r["seed"] for r in entry["runs"]]
            meta = entry["meta"]
            lines += [f"### {Path(notebook).stem}", "",
                      f"提交 (commit) `{meta['commit']}`，{meta['date']}，{meta['device']}，"
                      f"{meta['cpu']}（{meta['cores']} 核），torch {meta['torch']}；"
                      f"种子 {', '.join(map(str, seeds))}；"
                      f"每次运行 {min(r['wall_s'] for r in entry['runs']):.0f}–"
                      f"{max(r['wall_s'] for r in entry['runs']):.0f} 秒。", ""]
            table = figure_table(entry["runs"])
            if table:
                lines += ["| figure | unit | " + " | ".join(f"seed {s}" for s in seeds) + " | min | median | max |",
                          "| --- | --- | " + " | ".join("---:" for _ in seeds) + " | ---: | ---: | ---: |"]
                for row in table:
                    values = " | ".join(_fmt(row["values"].get(str(s))) for s in seeds)
                    lines.append(f"| {_cell(row['name'])} | {_cell(row['unit'])} | {values} | {_fmt(row['min'])} | "
                                 f"{_fmt(row['median'])} | {_fmt(row['max'])} |")
                lines.append("")
            else:
                lines += ["（这个 notebook 没有记录数值。）", ""]
            problems = [(r["seed"], f) for r in entry["runs"] for f in r["failed_asserts"]]
            errors = [(r["seed"], e) for r in entry["runs"] for e in r["errors"]]
            if problems or errors:
                lines += ["不成立的断言与错误："]
                lines += [f"- seed {s}, cell {f['cell']}: `{_cell(f['assert'])}`"
                          + (f" ({_cell(f['message'])})" if f["message"] else "") for s, f in problems]
                lines += [f"- seed {s}, cell {e['cell']}: {_cell(e['error'])}" for s, e in errors]
                lines.append("")
    return "\n".join(lines)


def load_results() -> dict[str, dict]:
    results = {}
    for file in sorted(RESULTS_DIR.glob("*.json")):
        results[file.stem] = json.loads(file.read_text(encoding="utf-8"))
    return results


def device_key(device: str) -> str:
    key = (device or "auto").split(":")[0]
    if key not in {"cpu", "cuda", "mps", "auto"}:
        raise ValueError(f"unknown device {device!r}: expected cpu, cuda, cuda:N or mps")
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml")
    parser.add_argument("--seeds", type=int, default=5, help="training seeds 0..N-1 (default 5)")
    parser.add_argument("--seed-list", help="explicit comma-separated seeds instead of --seeds, e.g. 1,3")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or mps")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    parser.add_argument("--page-only", action="store_true", help="only rebuild book/seed_sweep.md")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                        help="where <device>.json goes (default book/seed_sweep; the page is rebuilt only then)")
    parser.add_argument("--no-store", action="store_true",
                        help="print the table, leave book/seed_sweep/ and the page as they are")
    args = parser.parse_args(argv)

    if args.page_only:
        results = load_results()
        for device, entries in results.items():  # notebooks renamed or removed since their sweep
            gone = [nb for nb in entries if not (ROOT / nb).is_file()]
            for nb in gone:
                print(f"dropping {nb} from {device}.json: the notebook no longer exists")
                del entries[nb]
            if gone:
                (RESULTS_DIR / f"{device}.json").write_text(
                    json.dumps(entries, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        PAGE.write_text(render_page(results), encoding="utf-8")
        print(f"wrote {relative(PAGE)}")
        return 0
    try:
        key = device_key(args.device)
    except ValueError as err:
        parser.error(str(err))
    if args.seed_list:
        try:
            seeds = [int(s) for s in args.seed_list.split(",") if s.strip()]
        except ValueError:
            parser.error(f"--seed-list must be integers separated by commas, got {args.seed_list!r}")
    else:
        seeds = list(range(args.seeds))
    if not seeds or any(s < 0 for s in seeds):
        parser.error("need at least one seed, all >= 0")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    notebooks = [p.resolve() for p in args.notebooks] or toc_notebooks()
    for path in notebooks:
        if not path.is_file():
            parser.error(f"no such notebook: {path}")

    results_dir = args.results_dir.resolve()
    store = results_dir / f"{key}.json"
    meta = {"commit": git_commit(), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            **machine_description(args.device)}

    def store_notebook(nb: str, runs: list[dict]) -> None:
        """Merge one finished notebook into the stored results, so an interrupted sweep keeps it."""
        results_dir.mkdir(parents=True, exist_ok=True)
        merged = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {}
        merged[relative(nb)] = {"meta": meta, "duration_s": round(sum(r["wall_s"] for r in runs), 1),
                                "runs": sorted(runs, key=lambda r: r["seed"])}
        tmp = store.with_suffix(".tmp")
        tmp.write_text(json.dumps(merged, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(store)

    started = time.perf_counter()
    jobs = [(str(p), s) for p in notebooks for s in seeds]
    by_notebook: dict[str, list[dict]] = {str(p): [] for p in notebooks}
    with futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        pending = {pool.submit(run_one, nb, s, args.device, args.timeout): (nb, s) for nb, s in jobs}
        for done in futures.as_completed(pending):
            nb, s = pending[done]
            result = done.result()
            by_notebook[nb].append(result)
            flags = len(result["failed_asserts"]), len(result["errors"])
            print(f"{relative(nb)} seed {s}: {result['wall_s']:.0f} s, "
                  f"{flags[0]} failed asserts, {flags[1]} errors", flush=True)
            if len(by_notebook[nb]) == len(seeds) and not args.no_store:
                store_notebook(nb, by_notebook[nb])
    elapsed = time.perf_counter() - started

    entries = {relative(nb): {"meta": meta, "duration_s": round(sum(r["wall_s"] for r in runs), 1),
                              "runs": sorted(runs, key=lambda r: r["seed"])}
               for nb, runs in by_notebook.items()}
    print(render_page({key: entries}))
    print(f"\nseed sweep: {len(jobs)} runs in {elapsed / 60:.1f} min wall ({args.jobs} at a time)")
    if not args.no_store:
        if results_dir == RESULTS_DIR.resolve():
            PAGE.write_text(render_page(load_results()), encoding="utf-8")
            print(f"wrote {relative(store)} and {relative(PAGE)}")
        else:
            print(f"wrote {store}; copy it to {relative(RESULTS_DIR)}/ and run --page-only to update the page")
    return 1 if any(r["failed_asserts"] or r["errors"] for runs in by_notebook.values() for r in runs) else 0

if __name__ == "__main__":
    sys.exit(main())
