"""Tests for lectures_utils.reporting.record."""

import json
import math

import numpy as np
import pytest
import torch

from lectures_utils import RECORD_ENV_VAR, record


def test_record_prints_and_appends_json(tmp_path, monkeypatch, capsys):
    path = tmp_path / "records.jsonl"
    monkeypatch.setenv(RECORD_ENV_VAR, str(path))
    record("dice", np.float32(0.9125), "")
    record("loss", torch.tensor(0.2984), "nats")
    assert "dice = 0.9125" in capsys.readouterr().out
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["name"] for r in rows] == ["dice", "loss"]
    assert math.isclose(rows[0]["value"], 0.9125, rel_tol=1e-6)
    assert rows[1]["unit"] == "nats" and math.isclose(rows[1]["value"], 0.2984, rel_tol=1e-6)


def test_record_returns_none_so_a_cell_shows_no_stray_value(monkeypatch):
    """A cell ending in record(...) must not display the full-precision value as its output."""
    monkeypatch.delenv(RECORD_ENV_VAR, raising=False)
    assert record("x", 55.05302355200001, "s", quiet=True) is None


def test_record_without_env_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(RECORD_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    record("x", 1.0, quiet=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, value, error", [("", 1.0, ValueError), ("x", "1", TypeError),
                                                 ("x", float("nan"), ValueError), ("x", True, TypeError)])
def test_record_rejects_bad_input(name, value, error):
    with pytest.raises(error):
        record(name, value)
