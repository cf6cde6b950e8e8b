#!/usr/bin/env python3
"""Checks memsafe's model against the kernel: under small memory caps, which fixed job counts
survive, which job count the calibrated plan picks, and the predicted peak against the cgroup's
anonymous peak at every job count run.

It calibrates the project once (uncapped, `memsafe calibrate`), then for each cap asks
`memsafe plan` inside a cgroup with that cap for its job count, and runs clean
`cargo build --tests` builds at fixed job counts in a memory cgroup with that cap and no swap
(bench/run.py's `run_build`, with the dependency profile memsafe's plan writes): the counts
given, and the plan's count and the one above it, so that "the largest count that survives"
is known around the plan. The predicted anonymous peak of `jobs` jobs is the calibration's
`peak_by_jobs`: with anonymous memory measured (Linux), that is what the cgroup counts; an
estimate from `ru_maxrss` also holds rustc's shared library once (`shared_bytes`), which is
taken off, since the library is file-backed and the cgroup's anonymous counter does not see it.

Builds are the slow part and do not depend on memsafe's model, so every build's result is kept
in a cache (`--cache`, one row per project, cap and job count) and reused by later runs: a
changed model is judged again by re-running this script, which then only calibrates and plans.

Targets, per cap: the plan's job count survives; it is the largest surviving count run, or one
less; the predicted anonymous peak is within 15% of the measured one at every count that
survived.

Usage: sudo python3 bench/validate.py [--project bench/mdbook-app] [--caps 0.8,1.0,1.3]
       [--cpus 8] [--jobs 2,4,6,8] [--cache bench/validate-cache.csv] [--out FILE.csv]
"""

import argparse
import csv
import sys
import tomllib
from pathlib import Path

import run

MIB = 1 << 20

# Folders and cgroups of its own, so that a bench/run.py running at the same time is not hit.
run.WORK = run.WORK.with_name("memsafe-validate")
_Cgroup = run.Cgroup
run.Cgroup = lambda name, cap: _Cgroup(name.replace("memsafe-bench", "memsafe-validate"), cap)

CACHE_FIELDS = ["project", "cap_gib", "jobs", "peak_mib", "wall_s", "out_of_memory"]


def read_cache(path):
    if not path.exists():
        return {}
    with open(path, newline="") as file:
        return {(r["project"], round(float(r["cap_gib"]), 3), int(r["jobs"])): r for r in csv.DictReader(file)}


def append_cache(path, row):
    new = not path.exists()
    with open(path, "a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CACHE_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def measured(cache, cache_path, project, cap, jobs, profile_args):
    """The build of `project` at `jobs` jobs under `cap` GiB: from the cache, else run now."""
    key = (project.name, cap, jobs)
    if key not in cache:
        row = run.run_build(f"jobs={jobs}", int(cap * run.GIB), jobs, {}, profile_args, project)
        row.update(project=project.name, cap_gib=cap)
        append_cache(cache_path, row)
        cache[key] = {k: str(v) for k, v in row.items()}
    row = cache[key]
    return int(row["peak_mib"]), float(row["wall_s"]), row["out_of_memory"] == "True"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=str(run.PROJECT))
    parser.add_argument("--caps", default="0.8,1.0,1.3")
    parser.add_argument("--cpus", type=int, default=8)
    parser.add_argument("--jobs", default="2,4,6,8")
    parser.add_argument("--build-args", default="--tests", help="what calibrate builds, after --profile dev")
    parser.add_argument("--cache", default=str(run.ROOT / "bench" / "validate-cache.csv"))
    parser.add_argument("--out", default=None, help="the judged table as CSV")
    parser.add_argument("--reuse-calibration", action="store_true",
                        help="judge the calibration the project's memsafe.toml holds, without calibrating again")
    parser.add_argument("--measure-only", action="store_true", help="run the builds, skip calibrate and plan")
    options = parser.parse_args()
    project = Path(options.project).resolve()
    cache_path = Path(options.cache)
    cache = read_cache(cache_path)
    run.WORK.mkdir(parents=True, exist_ok=True)
    profile_args = ["--config", 'profile.dev.package."*".debug=false']
    caps = [round(float(c), 3) for c in options.caps.split(",")]
    counts = sorted({int(j) for j in options.jobs.split(",")})
    if options.measure_only:
        for cap in caps:
            for jobs in counts:
                peak, wall, oom = measured(cache, cache_path, project, cap, jobs, profile_args)
                print(f"{project.name} cap {cap} GiB jobs {jobs}: peak {peak} MiB, {wall} s, "
                      f"{'OUT OF MEMORY' if oom else 'ok'}", flush=True)
        return

    if not options.reuse_calibration or not (project / "memsafe.toml").exists():
        print(f"calibrating {project.name} ...", flush=True)
        run.calibrate(options.cpus, project, tuple(options.build_args.split()))
    calibration = tomllib.loads((project / "memsafe.toml").read_text())["calibration"]
    by_jobs = calibration["peak_by_jobs"]
    # Estimates from anonymous memory are what the cgroup counts already; from ru_maxrss they
    # hold rustc's shared library once, which the cgroup's anonymous counter does not see.
    shared = 0 if calibration.get("anonymous") else calibration.get("shared_bytes", 0)
    print(f"calibrated: {calibration['crates']} compilations, shared part {calibration.get('shared_bytes', 0) // MIB} MiB"
          f"{' (not in the anonymous estimates)' if calibration.get('anonymous') else ''}, predicted "
          + ", ".join(f"{j}: {(by_jobs[j - 1] - shared) // MIB}" for j in range(1, options.cpus + 1)), flush=True)
    rows = []
    failures = []
    for cap in caps:
        plan = run.memsafe_plan(cap, options.cpus, calibrated=True, project=project)
        planned = plan["jobs"]
        at_cap = sorted(set(counts) | {planned, min(planned + 1, options.cpus)})
        results = {}
        for jobs in at_cap:
            peak, wall, oom = measured(cache, cache_path, project, cap, jobs, profile_args)
            predicted = round((by_jobs[jobs - 1] - shared) / MIB)
            results[jobs] = (peak, oom)
            rows.append({"project": project.name, "cap_gib": cap, "planned_jobs": planned,
                         "budget_mib": round(plan["budget_bytes"] / MIB), "jobs": jobs, "peak_mib": peak,
                         "predicted_anon_mib": predicted, "wall_s": wall, "out_of_memory": oom})
        survivors = [j for j, (_, oom) in results.items() if not oom]
        largest = max(survivors, default=0)
        if results[planned][1]:
            failures.append(f"cap {cap}: the plan's {planned} jobs ran out of memory")
        if planned < largest - 1:
            failures.append(f"cap {cap}: the plan's {planned} jobs, but {largest} survived")
        for jobs, (peak, oom) in results.items():
            predicted = round((by_jobs[jobs - 1] - shared) / MIB)
            if not oom and abs(predicted - peak) > 0.15 * peak:
                failures.append(f"cap {cap}, {jobs} jobs: predicted {predicted} MiB, measured {peak} MiB")
    if options.out:
        with open(options.out, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    print(f"\n{project.name}: {calibration['crates']} compilations, cargo {calibration.get('cargo_bytes', 0) // MIB} MiB, "
          f"rustc's shared library {calibration.get('shared_bytes', 0) // MIB} MiB\n")
    print("| cap | budget MiB | plan | jobs | survived | anonymous peak MiB | predicted MiB | error |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        error = (row["predicted_anon_mib"] - row["peak_mib"]) / max(row["peak_mib"], 1)
        print(f"| {row['cap_gib']:g} GiB | {row['budget_mib']} | {row['planned_jobs']} | {row['jobs']} | "
              f"{'no' if row['out_of_memory'] else 'yes'} | {row['peak_mib']}{' (at the kill)' if row['out_of_memory'] else ''} | "
              f"{row['predicted_anon_mib']} | {'-' if row['out_of_memory'] else f'{error:+.0%}'} |")
    run.finish("targets:", failures)


if __name__ == "__main__":
    main()
