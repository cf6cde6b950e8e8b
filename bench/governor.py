#!/usr/bin/env python3
"""The governor under a memory cap: does a build at cargo's full job count survive where the
same fixed job count is killed?

For each cap it runs clean `cargo build --tests` builds of the project at `--jobs` jobs (8 by
default) with memsafe as `RUSTC_WRAPPER` (the governor) in a memory cgroup with that cap and
no swap, `--runs` times in a row. The governor's history starts empty in a folder of its own
(`MEMSAFE_GOVERNOR_DIR`) and is kept from one run to the next, as on a user's machine: the
first run learns with the default prediction, the next ones use what it measured. No
`memsafe calibrate` is run. The fixed job counts to compare with come from bench/validate.py's
cache (the same builds, the same dependency profile), run now where missing.

This is the first part of the governor's benchmark: survival and peak under caps. Times here
are not meaningful when the job count is above the machine's real cores.

Usage: sudo python3 bench/governor.py [--project bench/mdbook-app] [--caps 0.8] [--jobs 8]
       [--runs 3] [--fixed 5,8] [--out bench/governor-mdbook-app.csv]
"""

import argparse
import csv
import shutil
import sys
from pathlib import Path

import run
import validate

MIB = 1 << 20


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=str(run.PROJECT))
    parser.add_argument("--caps", default="0.8")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fixed", default="5,8", help="fixed job counts to show beside the governor")
    parser.add_argument("--cache", default=str(run.ROOT / "bench" / "validate-cache.csv"))
    parser.add_argument("--out", default=None)
    options = parser.parse_args()
    project = Path(options.project).resolve()
    if not run.MEMSAFE.exists():
        sys.exit("build memsafe first: cargo build --release")
    run.WORK.mkdir(parents=True, exist_ok=True)
    profile_args = ["--config", 'profile.dev.package."*".debug=false']
    cache_path = Path(options.cache)
    cache = validate.read_cache(cache_path)
    rows = []
    for cap in [round(float(c), 3) for c in options.caps.split(",")]:
        history = run.WORK / f"governor-{project.name}-{cap}"
        shutil.rmtree(history, ignore_errors=True)
        history.mkdir(parents=True)
        env = {"RUSTC_WRAPPER": str(run.MEMSAFE), "MEMSAFE_GOVERNOR_DIR": str(history)}
        for number in range(1, options.runs + 1):
            row = run.run_build(f"governor run {number}", int(cap * run.GIB), options.jobs, env, profile_args, project)
            row["cap_gib"] = cap
            rows.append(row)
            print(f"{project.name} cap {cap} GiB governor run {number} at {options.jobs} jobs: peak {row['peak_mib']} MiB, "
                  f"{row['wall_s']} s, {'OUT OF MEMORY' if row['out_of_memory'] else 'ok'}", flush=True)
        for jobs in sorted({int(j) for j in options.fixed.split(",")}):
            peak, wall, oom = validate.measured(cache, cache_path, project, cap, jobs, profile_args)
            rows.append({"cap_gib": cap, "configuration": f"jobs={jobs}", "jobs": jobs, "peak_mib": peak,
                         "wall_s": wall, "out_of_memory": oom})
    if options.out:
        with open(options.out, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=["cap_gib", "configuration", "jobs", "peak_mib", "wall_s",
                                                      "out_of_memory"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    print(f"\n{project.name}\n")
    print("| cap | configuration | jobs | peak MiB | wall s | out of memory |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['cap_gib']:g} GiB | {row['configuration']} | {row['jobs']} | {row['peak_mib']} | "
              f"{row['wall_s']} | {'yes' if row['out_of_memory'] else 'no'} |")
    killed = [r for r in rows if r["configuration"].startswith("governor") and r["out_of_memory"]]
    print("\ntarget:", "the governor was never killed" if not killed else f"FAIL: {len(killed)} governed builds killed")
    sys.exit(1 if killed else 0)


if __name__ == "__main__":
    main()
