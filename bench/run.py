"""Run every benchmark in bench/ (`make bench`) and print their figures.

Each `bench_*.py` module has `run() -> list[tuple[str, float, str]]` (label, value, unit) and
measures its baseline in the same run, so ratios compare like with like on this machine.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    """Run the named benchmarks (all when none are named)."""
    modules = sorted(HERE.glob("bench_*.py"))
    if names:
        modules = [m for m in modules if any(n in m.stem for n in names)]
    for path in modules:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"\n== {path.stem} ==", flush=True)
        started = time.monotonic()
        for label, value, unit in module.run():
            print(f"  {label:<62} {value:>14,.2f} {unit}", flush=True)
        print(f"  ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
