"""The seed sweep (scripts/seeds.py): it must run a notebook with each seed, keep going past a failed
assert, name every failed assert with its cell, and tabulate the recorded figures per seed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import seeds  # noqa: E402


def _notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A notebook whose results depend on the seed"),
        nbformat.v4.new_code_cell("from lectures_utils import book_seed, record\nSEED = book_seed()\n"
                                  "record('twice the seed', 2 * SEED)"),
        nbformat.v4.new_code_cell("assert SEED < 1, f'seed {SEED}'\n\n\ndef check(v):\n"
                                  "    assert v > 100, v\n    return v\n\n\ncheck(SEED)\n"
                                  "record('after the asserts', SEED + 1)"),
        nbformat.v4.new_code_cell("1 / 0"),
        nbformat.v4.new_code_cell("record('last cell', 5.0, 'mm')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "seeded.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_sweep_collects_figures_and_every_failed_assert(tmp_path):
    path = _notebook(tmp_path)
    runs = [seeds.run_one(str(path), seed, "cpu", timeout=120) for seed in (0, 2)]
    assert [r["seed"] for r in runs] == [0, 2]
    # Each run stops its kernel: a sweep of many notebooks must not pile up idle kernels.
    kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert not kernels, kernels
    # Execution went on past the failed asserts and the error: the last cell's figure is there.
    assert [rec["name"] for rec in runs[1]["records"]] == ["twice the seed", "after the asserts", "last cell"]
    assert [rec["value"] for rec in runs[1]["records"]] == [4.0, 3.0, 5.0]
    assert [(f["cell"], f["assert"]) for f in runs[0]["failed_asserts"]] == [(3, "v > 100")]
    assert [(f["cell"], f["assert"], f["message"]) for f in runs[1]["failed_asserts"]] == [
        (3, "SEED < 1", "'seed 2'"), (3, "v > 100", "2")]
    assert [(e["cell"], e["error"].split(":")[0]) for e in runs[1]["errors"]] == [(4, "ZeroDivisionError")]
    # The source notebook is not modified.
    assert "LECTURES" not in path.read_text(encoding="utf-8")

    table = {row["name"]: row for row in seeds.figure_table(runs)}
    assert table["twice the seed"]["values"] == {"0": 0.0, "2": 4.0}
    assert (table["twice the seed"]["min"], table["twice the seed"]["median"], table["twice the seed"]["max"]) == (0, 2, 4)
    assert table["last cell"]["unit"] == "mm"


def test_figure_table_numbers_a_name_recorded_twice():
    runs = [{"seed": s, "records": [{"name": "loss", "value": v, "unit": ""}, {"name": "loss", "value": 2 * v, "unit": ""}]}
            for s, v in ((0, 1.0), (1, 3.0))]
    rows = {row["name"]: row for row in seeds.figure_table(runs)}
    assert set(rows) == {"loss", "loss (#2)"}
    assert rows["loss (#2)"]["values"] == {"0": 2.0, "1": 6.0}
    assert rows["loss"]["median"] == 2.0


def test_page_lists_failures_and_provenance():
    meta = {"commit": "abc1234", "date": "2026-01-01 00:00 UTC", "device": "cpu", "cpu": "test cpu",
            "cores": 2, "torch": "2.13.0", "python": "3.11"}
    runs = [{"seed": 0, "wall_s": 1.0, "records": [{"name": "dice", "value": 0.9, "unit": ""}],
             "failed_asserts": [], "errors": []},
            {"seed": 1, "wall_s": 2.0, "records": [{"name": "dice", "value": 0.7, "unit": ""}],
             "failed_asserts": [{"cell": 7, "line": 2, "assert": "dice > 0.8", "message": "0.7"}], "errors": []}]
    page = seeds.render_page({"cpu": {"notebooks/x/x_1_y.ipynb": {"meta": meta, "duration_s": 3.0, "runs": runs}}})
    assert "abc1234" in page and "test cpu" in page
    assert "| dice |  | 0.9 | 0.7 | 0.7 | 0.8 | 0.9 |" in page
    assert "seed 1, cell 7: `dice > 0.8` (0.7)" in page
    assert "`x_1_y`" in page  # named among the notebooks with failures
    assert "还没有扫描结果" in seeds.render_page({})


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "at least one seed"),
    (["--seed-list", "1,x"], "integers"),
    (["--device", "tpu"], "unknown device"),
    (["--jobs", "0"], "--jobs"),
    (["no/such/notebook.ipynb"], "no such notebook"),
])
def test_bad_arguments_are_refused_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit):
        seeds.main(argv + ["--no-store"])
    assert message in capsys.readouterr().err


def test_stored_results_render_to_the_committed_page():
    """book/seed_sweep.md is generated: it must be what the stored results give."""
    stored = seeds.load_results()
    assert seeds.PAGE.read_text(encoding="utf-8") == seeds.render_page(stored)
    for device, entries in stored.items():
        assert device in {"cpu", "cuda", "mps", "auto"}
        for notebook in entries:
            assert (ROOT / notebook).is_file(), f"{notebook} in book/seed_sweep/{device}.json no longer exists"
    json.dumps(stored)  # serialisable as stored
