"""Execute one or more notebooks in a fresh kernel, from their own folder, and report the cost.

    python scripts/run_notebook.py notebooks/01_generative_discriminative/01_1_bayes.ipynb [...]

Prints wall time, the kernel's CPU time and peak memory, and the figures the notebook recorded
(``lectures_utils.record``). The source notebook is not modified; pass ``--save OUT.ipynb`` to keep
the executed copy of a single notebook. Exit status 1 if a cell fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def _watch_memory(pid_getter, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        pid = pid_getter()
        if pid:
            try:
                proc = psutil.Process(pid)
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
        time.sleep(0.1)


def run(path: Path, timeout: int = 600, save: Path | None = None) -> dict:
    """Execute ``path``; return a dict with wall_s, cpu_s, peak_mb, records, error."""
    nb = nbformat.read(path, as_version=4)
    record_file = Path(tempfile.mkstemp(suffix=".jsonl")[1])
    os.environ["LECTURES_RECORD_FILE"] = str(record_file)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    peak = [0]
    stop = threading.Event()

    def pid():
        km = client.km
        prov = getattr(km, "provisioner", None) if km is not None else None
        proc = getattr(prov, "process", None)
        return getattr(proc, "pid", None)

    watcher = threading.Thread(target=_watch_memory, args=(pid, stop, peak), daemon=True)
    watcher.start()
    error = None
    cpu = 0.0
    start = time.perf_counter()
    try:
        with client.setup_kernel():
            kernel_pid = pid()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
                if kernel_pid:
                    try:
                        t = psutil.Process(kernel_pid).cpu_times()
                        cpu = t.user + t.system
                    except psutil.Error:
                        pass
    except CellExecutionError as err:
        error = str(err).splitlines()[-1] if str(err) else "cell failed"
    wall = time.perf_counter() - start
    stop.set()
    watcher.join()
    records = [json.loads(line) for line in record_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    record_file.unlink(missing_ok=True)
    if save is not None:
        nbformat.write(nb, save)
    return {"notebook": str(path), "wall_s": wall, "cpu_s": cpu, "peak_mb": peak[0] / 2**20,
            "records": records, "error": error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--save", type=Path, help="write the executed notebook here (one notebook only)")
    args = parser.parse_args(argv)
    if args.save and len(args.notebooks) != 1:
        parser.error("--save takes exactly one notebook")
    failed = False
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"no such notebook: {path}")
        result = run(path, args.timeout, args.save)
        print(f"{path}: wall {result['wall_s']:.1f} s, kernel CPU {result['cpu_s']:.1f} s, "
              f"peak {result['peak_mb']:.0f} MB" + (f", FAILED: {result['error']}" if result["error"] else ""))
        for rec in result["records"]:
            print(f"    {rec['name']} = {rec['value']:.6g} {rec['unit']}".rstrip())
        failed |= result["error"] is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
