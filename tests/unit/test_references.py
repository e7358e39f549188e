"""Every reference in the code and the docs points inside the repository (issue 11)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_cites_a_file_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    outside = [
        f"{name}:{number}"
        for name in tracked
        if name.endswith((".py", ".md", ".yml", ".yaml", ".toml", ".txt", ".html", ".json"))
        and name != Path(__file__).relative_to(ROOT).as_posix()
        for number, line in enumerate(
            (ROOT / name).read_text(errors="replace").splitlines(), start=1
        )
        if "../shared" in line
    ]
    assert outside == [], "references outside the repository (a clone has no ../shared)"
