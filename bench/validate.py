#!/usr/bin/env python3
"""Checks memsafe's model against the kernel: under small memory caps, which fixed job counts
survive, which job count the calibrated plan picks, and the predicted peak against the cgroup's
anonymous peak at every job count run.

It calibrates bench/mdbook-app once (uncapped, `memsafe calibrate`), then for each cap runs
clean `cargo build --tests` builds at fixed job counts in a memory cgroup with that cap and no
swap (bench/run.py's `run_build`, with the dependency profile memsafe's plan writes), and asks
`memsafe plan` inside the same cap for its job count. The predicted peak of `jobs` jobs is the
calibration's `peak_by_jobs`; its anonymous part is that less `shared_bytes`, rustc's shared
library counted once (file-backed: the cgroup's anonymous counter does not see it).

Usage: sudo python3 bench/validate.py [--caps 0.8,1.0,1.3] [--cpus 8] [--jobs 2,4,6,8]
"""

import argparse
import csv
import sys
import tomllib

import run

MIB = 1 << 20

# Folders and cgroups of its own, so that a bench/run.py running at the same time is not hit.
run.WORK = run.WORK.with_name("memsafe-validate")
_Cgroup = run.Cgroup
run.Cgroup = lambda name, cap: _Cgroup(name.replace("memsafe-bench", "memsafe-validate"), cap)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caps", default="0.8,1.0,1.3")
    parser.add_argument("--cpus", type=int, default=8)
    parser.add_argument("--jobs", default="2,4,6,8")
    parser.add_argument("--out", default=str(run.ROOT / "bench" / "validate-8cpu.csv"))
    options = parser.parse_args()
    run.WORK.mkdir(parents=True, exist_ok=True)
    print(f"calibrating {run.PROJECT.name} ...", flush=True)
    run.calibrate(options.cpus)
    calibration = tomllib.loads((run.PROJECT / "memsafe.toml").read_text())["calibration"]
    by_jobs = calibration["peak_by_jobs"]
    shared = calibration.get("shared_bytes", 0)
    print(f"calibrated: {calibration['crates']} compilations, shared part {shared // MIB} MiB, "
          f"predicted " + ", ".join(f"{j}: {by_jobs[j - 1] // MIB}" for j in range(1, 9)), flush=True)
    profile_args = ["--config", 'profile.dev.package."*".debug=false']
    rows = []
    for cap in [float(c) for c in options.caps.split(",")]:
        plan = run.memsafe_plan(cap, options.cpus, calibrated=True)
        counts = sorted({int(j) for j in options.jobs.split(",")} | {plan["jobs"]})
        for jobs in counts:
            row = run.run_build(f"jobs={jobs}", int(cap * run.GIB), jobs, {}, profile_args)
            row.update(
                planned_jobs=plan["jobs"],
                budget_mib=round(plan["budget_bytes"] / MIB),
                predicted_mib=round(by_jobs[jobs - 1] / MIB),
                predicted_anon_mib=round((by_jobs[jobs - 1] - shared) / MIB),
            )
            rows.append(row)
            print(f"cap {cap} GiB jobs {jobs}: peak {row['peak_mib']} MiB, predicted anon "
                  f"{row['predicted_anon_mib']} MiB, {row['wall_s']} s, "
                  f"{'OUT OF MEMORY' if row['out_of_memory'] else 'ok'} (plan: {plan['jobs']} jobs)", flush=True)
    fields = ["cap_gib", "configuration", "jobs", "planned_jobs", "budget_mib", "peak_mib",
              "predicted_mib", "predicted_anon_mib", "wall_s", "out_of_memory"]
    with open(options.out, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {options.out}\n")
    print("| cap | plan | jobs | survived | anonymous peak MiB | predicted anonymous MiB | error |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        error = (row["predicted_anon_mib"] - row["peak_mib"]) / max(row["peak_mib"], 1)
        print(f"| {row['cap_gib']:g} GiB | {row['planned_jobs']} | {row['jobs']} | "
              f"{'no' if row['out_of_memory'] else 'yes'} | {row['peak_mib']} | {row['predicted_anon_mib']} | "
              f"{'-' if row['out_of_memory'] else f'{error:+.0%}'} |")
    sys.exit(0)


if __name__ == "__main__":
    main()
