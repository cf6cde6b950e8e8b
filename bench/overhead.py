#!/usr/bin/env python3
"""The governor's cost with nothing to govern: clean `cargo build --tests` builds of the project
with no memory cap, plain and with memsafe as `RUSTC_WRAPPER`, at the same job count (the
machine's cores unless `--jobs`), in turn, `--runs` rounds (the order swapped every round, so
that a machine whose speed drifts treats both alike). The governor's history starts empty and is
kept from one round to the next, as on a user's machine.

It prints each round's two wall times and their ratio, the median ratio (the issue's target:
within 2%), and memsafe's own CPU time per compilation in the governed builds, which every
governed compilation records in the history (`own_cpu_us`: starting, waiting, sampling, the
ledger; the target: under 5 ms).

Usage: sudo python3 bench/overhead.py [--project bench/mdbook-app] [--jobs N] [--runs 5]
       [--out bench/overhead-mdbook-app.csv]
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import sys
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
    own = []
    for name in os.listdir(history):
        if name.endswith(".jsonl"):
            for line in (history / name).read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if "own_cpu_us" in record:
                    own.append(record["own_cpu_us"] / 1000)
    print(f"\n{project.name}, no cap, {options.jobs} jobs, {options.runs} rounds")
    print(f"plain {plain} s, governed {wrapped} s")
    print(f"governed / plain by round: {', '.join(f'{r:.3f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.3f}, medians of the walls "
          f"{statistics.median(wrapped) / statistics.median(plain):.3f}")
    if own:
        own.sort()
        print(f"memsafe's own CPU per compilation ({len(own)} compilations): mean {statistics.mean(own):.1f} ms, "
              f"median {statistics.median(own):.1f} ms, p90 {own[int(len(own) * 0.9)]:.1f} ms")
    failures = []
    if statistics.median(ratios) > 1.02:
        failures.append(f"the governed build's median ratio is {statistics.median(ratios):.3f}, over 1.02")
    if own and statistics.mean(own) >= 5:
        failures.append(f"memsafe's own CPU is {statistics.mean(own):.1f} ms a compilation, not under 5")
    run.finish("targets:", failures)


if __name__ == "__main__":
    main()
