"""`ddblake demo` end to end: the product's whole story, checked (the demo exits non-zero
unless the live table ends equal to the first snapshot)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_story_runs_and_verifies(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-m", "ddblake", "demo", "--users", "300",
                           "--lake", str(tmp_path / "demo-lake")], capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Verified: the live table equals the first snapshot again" in done.stdout
    assert "$ ddblake restore users" in done.stdout


def test_demo_refuses_to_clear_a_folder_it_did_not_create(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    done = subprocess.run([sys.executable, "-m", "ddblake", "demo", "--lake", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0 and "is not a demo lake" in done.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
