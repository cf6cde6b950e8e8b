#!/usr/bin/env python3
"""The governor's own cost per compilation: CPU time and wall time of `memsafe <rustc> <args>`
around a rustc that does nothing (`true`), against `true` alone, with an empty history and with
a full one (the history is compacted past 1 MiB, so a user who builds a lot always has about
that much).

It prints, per case, the mean wall time and the mean CPU time (user + system, memsafe and its
child) over `--runs` calls. The governor's target: under 5 ms of CPU a compilation.

Usage: python3 bench/wrapper_cost.py [--runs 200]   (build memsafe first: cargo build --release)
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEMSAFE = ROOT / "target" / "release" / "memsafe"
TRUE = shutil.which("true")


def measure(command, env, runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    for _ in range(runs):
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = (time.monotonic() - start) / runs
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / runs
    return wall * 1000, cpu * 1000


def full_history(path, records):
    """About 1 MiB of history: `records` compilations of 500 crates, as the governor writes them."""
    with open(path, "w") as file:
        for i in range(records):
            file.write(json.dumps({
                "crate": f"crate_{i % 500}", "kind": "lib", "metadata": f"{i:016x}",
                "rustc": "/toolchain/bin/rustc", "peak_bytes": (50 + i % 300) << 20,
                "duration_ms": 1000 + i, "at_ms": 1_800_000_000_000 + i * 100,
                "out_dir": "/home/user/project/target/debug/deps",
            }) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--detect", action="store_true",
                        help="detect the budget in every call, as a user's wrapper does (no MEMSAFE_GOVERNOR_BUDGET)")
    options = parser.parse_args()
    if not MEMSAFE.exists():
        raise SystemExit("build memsafe first: cargo build --release")
    args = ["--crate-name", "foo", "--crate-type", "lib", "-C", "metadata=0123456789abcdef", "--out-dir", "/tmp"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, MEMSAFE_GOVERNOR_DIR=folder, MEMSAFE_GOVERNOR_BUDGET="64GiB")
        if options.detect:
            env.pop("MEMSAFE_GOVERNOR_BUDGET")
        env.pop("MEMSAFE_RUSTC_WRAPPER", None)
        rows.append(("true alone", *measure([TRUE, *args], env, options.runs)))
        history = Path(folder) / "governor-history.jsonl"
        history.unlink(missing_ok=True)
        rows.append(("governed, empty history", *measure([str(MEMSAFE), TRUE, *args], env, options.runs)))
        full_history(history, 5_000)
        size = history.stat().st_size
        rows.append((f"governed, {size >> 10} KiB history", *measure([str(MEMSAFE), TRUE, *args], env, options.runs)))
    base_wall, base_cpu = rows[0][1], rows[0][2]
    print(f"{options.runs} calls each\n")
    print("| case | wall ms | CPU ms | memsafe's own CPU ms |")
    print("| --- | --- | --- | --- |")
    for name, wall, cpu in rows:
        own = "-" if name == "true alone" else f"{cpu - base_cpu:.2f}"
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {own} |")


if __name__ == "__main__":
    main()
