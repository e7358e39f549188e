"""Summarise a py-spy ``--format raw`` profile: top functions by self and by inclusive time.

``.venv/bin/python benchmarks/profile_summary.py .local/bench/<run id>/worker-profile.txt [N]``
"""

from __future__ import annotations

import re
import sys
from collections import Counter

_LINE = re.compile(r"\s*\(([^)]*?)(?::\d+)?\)$")


def _function(frame: str) -> str:
    """``name (path:line)`` -> ``name (short path)``, line numbers merged."""
    match = _LINE.search(frame)
    if match is None:
        return frame.strip()
    path = match.group(1)
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{frame[: match.start()].strip()} ({path})"


def summarise(path: str, top: int) -> None:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(path) as source:
        for line in source:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(count_text)
            frames = [_function(f) for f in stack.split(";") if f and not f.startswith("process ")]
            frames = [f for f in frames if not f.startswith("thread ")]
            if not frames:
                continue
            total += count
            self_time[frames[-1]] += count
            for name in set(frames):
                inclusive[name] += count
    print(f"{total:,} samples (CPU-active only)")
    for title, counter in (("inclusive", inclusive), ("self", self_time)):
        print(f"\ntop {top} by {title} share")
        for name, count in counter.most_common(top):
            print(f"{100 * count / total:6.1f} %  {name}")


if __name__ == "__main__":
    summarise(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25)
