"""The README's main command, as a user runs it (console script, fresh work directory)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_end_to_end(tmp_path):
    script = Path(sys.executable).with_name("aktrec")
    command = [str(script) if script.exists() else shutil.which("aktrec"), "demo", "--workdir", str(tmp_path / "work"),
               "--users", "200", "--items", "100", "--interactions", "5000"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Data card" in result.stdout
    assert (tmp_path / "work" / "data" / "card.json").is_file()
    assert (tmp_path / "work" / "data" / "validation" / "summary.json").is_file()
    for half in ("item", "user"):
        assert (tmp_path / "work" / "emb" / f"{half}_embeddings.parquet").is_file()
    assert "held-out pair recall@10" in result.stdout
    assert (tmp_path / "work" / "sid" / "item_semantic_ids.parquet").is_file()
    assert "Semantic IDs (items)" in result.stdout
    assert (tmp_path / "work" / "feature_repo" / "online_store.db").is_file()
    assert "Online features for user" in result.stdout
