"""Run every benchmark in this folder (`benchmarks/bench_*.py`), one after another; `make bench` calls this.

    .venv/bin/python benchmarks/run.py            # full size
    .venv/bin/python benchmarks/run.py --quick    # smoke run (each script's --quick mode)
    .venv/bin/python benchmarks/run.py load       # only bench_load.py

Each script runs in its own process with this interpreter. Benchmarks print their figures as ratios
against a floor measured in the same run and never assert wall-clock limits; a script exits non-zero
only when its result is wrong (e.g. rows lost). This runner exits non-zero if any script did.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(names: list[str]) -> list[Path]:
    scripts = sorted(HERE.glob("bench_*.py"))
    if not names:
        return scripts
    wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
    return [s for s in scripts if s.stem.removeprefix("bench_") in wanted]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the longtail benchmarks.")
    ap.add_argument("--quick", action="store_true", help="pass --quick to every benchmark (small smoke run)")
    ap.add_argument("names", nargs="*", help="run only these benchmarks (e.g. load sim); default: all")
    args = ap.parse_args(argv)
    scripts = discover(args.names)
    if not scripts:
        print(f"run.py: no benchmark matches {' '.join(args.names) or '(none found)'} in {HERE}", file=sys.stderr)
        return 2
    outcomes: list[tuple[str, int, float]] = []
    for script in scripts:
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
        print(f"=== {script.name}{' --quick' if args.quick else ''}", flush=True)
        began = time.perf_counter()
        try:
            code = subprocess.run(cmd, check=False).returncode
        except KeyboardInterrupt:
            print(f"=== {script.name}: interrupted", flush=True)
            return 130
        outcomes.append((script.name, code, time.perf_counter() - began))
        print(flush=True)
    print("=== summary")
    for name, code, seconds in outcomes:
        status = "ok  " if code == 0 else "FAIL"
        print(f"  {status}  {name:<24} {seconds:7.1f} s" + (f"  (exit {code})" if code else ""))
    failed = [name for name, code, _ in outcomes if code != 0]
    if failed:
        print(f"run.py: {len(failed)} benchmark(s) failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
