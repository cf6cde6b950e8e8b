#!/usr/bin/env python3
"""The governor's cost with nothing to govern: clean `cargo build --tests` builds of the project
with no memory cap, plain and with memsafe as `RUSTC_WRAPPER`, at the same job count (the
machine's cores unless `--jobs`), in turn, `--runs` rounds (the order swapped every round, so
that a machine whose speed drifts treats both alike). The governor's history starts empty and is
kept from one round to the next, as on a user's machine.

It prints each round's two wall times and their ratio, the median ratio (the issue's target:
within 2%), and memsafe's own CPU time per compilation in the governed builds, which every
governed compilation records in the history (`own_cpu_us`: starting, waiting, sampling, the
ledger; the target: under 5 ms). cargo starts each compilation with a `fork` of itself, and the
child's `exec` frees that copy: a cost any program cargo starts pays (rustc itself, without
memsafe), 2 to 3 ms in a real build, that lands in memsafe's count. Each record also says what
was used before memsafe's main (`start_cpu_us`), so memsafe's own cost is counted from its main
on, plus its own start measured from a small parent (this script, 100 calls around `true`).

Usage: sudo python3 bench/overhead.py [--project bench/mdbook-app] [--jobs N] [--runs 5]
       [--out bench/overhead-mdbook-app.csv]
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import run

run.WORK = run.WORK.with_name("memsafe-overhead")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=str(run.PROJECT))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=None)
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark makes a memory cgroup")
    if not run.MEMSAFE.exists():
        sys.exit("build memsafe first: cargo build --release")
    project = Path(options.project).resolve()
    run.WORK.mkdir(parents=True, exist_ok=True)
    history = run.WORK / "governor"
    shutil.rmtree(history, ignore_errors=True)
    history.mkdir(parents=True)
    governed = {"RUSTC_WRAPPER": str(run.MEMSAFE), "MEMSAFE_GOVERNOR_DIR": str(history)}
    profile_args = ["--config", 'profile.dev.package."*".debug=false']
    no_cap = 64 * run.GIB
    rows = []
    for number in range(1, options.runs + 1):
        turn = [("plain", {}), ("governed", governed)]
        if number % 2 == 0:
            turn.reverse()
        walls = {}
        for name, env in turn:
            row = run.run_build(name, no_cap, options.jobs, env, profile_args, project)
            if row["out_of_memory"]:
                sys.exit(f"the {name} build failed")
            walls[name] = row["wall_s"]
            rows.append({"run": number, "configuration": name, "jobs": options.jobs, "wall_s": row["wall_s"]})
            print(f"round {number} {name}: {row['wall_s']} s", flush=True)
        print(f"round {number}: governed / plain {walls['governed'] / walls['plain']:.3f}", flush=True)
    if options.out:
        with open(options.out, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=["run", "configuration", "jobs", "wall_s"])
            writer.writeheader()
            writer.writerows(rows)

    plain = [r["wall_s"] for r in rows if r["configuration"] == "plain"]
    wrapped = [r["wall_s"] for r in rows if r["configuration"] == "governed"]
    ratios = [w / p for p, w in zip(plain, wrapped)]
    own, start = own_cpu(history)
    idle_start = start_from_a_small_parent()
    print(f"\n{project.name}, no cap, {options.jobs} jobs, {options.runs} rounds")
    print(f"plain {plain} s, governed {wrapped} s")
    print(f"governed / plain by round: {', '.join(f'{r:.3f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.3f}, medians of the walls "
          f"{statistics.median(wrapped) / statistics.median(plain):.3f}")
    mine = None
    if own:
        print(f"memsafe's CPU per compilation as recorded ({len(own)} compilations): "
              f"mean {statistics.mean(own):.2f} ms, median {statistics.median(own):.2f} ms, "
              f"p90 {sorted(own)[int(len(own) * 0.9)]:.2f} ms")
    if start and idle_start is not None:
        after = [o - s for o, s in start]
        print(f"  of it before memsafe's main, under cargo: mean {statistics.mean(s for _, s in start):.2f} ms "
              f"(cargo forks itself for each compilation, and the exec frees that copy: any program cargo starts pays it)")
        print(f"  from memsafe's main on: mean {statistics.mean(after):.2f} ms, median {statistics.median(after):.2f} ms")
        print(f"  memsafe's own start (exec, loader), started by a small parent: mean {idle_start:.2f} ms")
        mine = statistics.mean(after) + idle_start
        print(f"memsafe's own CPU per compilation: {mine:.2f} ms (from main on, plus its own start)")
    failures = []
    if statistics.median(ratios) > 1.02:
        failures.append(f"the governed build's median ratio is {statistics.median(ratios):.3f}, over 1.02")
    if mine is None and own:
        # No record says what came before main: judge the whole count.
        mine = statistics.mean(own)
    if mine is not None and mine >= 5:
        failures.append(f"memsafe's own CPU is {mine:.2f} ms a compilation, not under 5")
    run.finish("targets:", failures)


def own_cpu(history):
    """memsafe's CPU time per governed compilation (ms) as the history records it, and the pairs
    (that, the part before memsafe's main) of the records that carry both."""
    own, start = [], []
    for name in os.listdir(history):
        if name.endswith(".jsonl"):
            for line in (history / name).read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if "own_cpu_us" in record:
                    own.append(record["own_cpu_us"] / 1000)
                    if "start_cpu_us" in record:
                        start.append((record["own_cpu_us"] / 1000, record["start_cpu_us"] / 1000))
    return own, start


def start_from_a_small_parent(calls=100):
    """The mean CPU time memsafe used before its main (ms) as a wrapper around `true`, started by
    this small process rather than by cargo: its exec and dynamic loader, without cargo's fork."""
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, MEMSAFE_GOVERNOR_DIR=folder, MEMSAFE_GOVERNOR_BUDGET="64GiB")
        env.pop("MEMSAFE_RUSTC_WRAPPER", None)
        args = ["--crate-name", "foo", "--crate-type", "lib", "-C", "metadata=0123456789abcdef", "--out-dir", folder]
        for _ in range(calls):
            subprocess.run([str(run.MEMSAFE), shutil.which("true"), *args], env=env, check=True)
        _, start = own_cpu(Path(folder))
    return statistics.mean(s for _, s in start) if start else None


if __name__ == "__main__":
    main()
