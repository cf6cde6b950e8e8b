#!/usr/bin/env python3
"""The governor's benchmark: under each memory cap, the governor against memsafe's static plans
and a sweep of fixed job counts, each run several times.

For each cap (cgroup v1, no swap), clean `cargo build --tests` builds of the project, with the
dependency profile memsafe writes:
- the governor: cargo at `--jobs` jobs (8: the CPUs memsafe plans for with `--cpus 8`) with
  memsafe as `RUSTC_WRAPPER`; its history starts empty in a folder of its own at each cap and
  is kept from one run to the next, as on a user's machine (no `memsafe calibrate`);
- the static plans: the job count `memsafe plan --cpus 8` writes inside the cap, with the
  project's calibration (its memsafe.toml, from bench/validate.py or bench/simulate.py) and
  without (the preset's guess); their runs are the sweep's at that count, run now where the
  count is not in the sweep;
- the sweep: fixed job counts (`--fixed`).
`--runs` runs of each. Targets, as issue 12 states them: the governor is never killed; fixed 8
jobs is killed under at least one cap; the governor's median wall time is at most 1.05x the
fastest fixed job count that passed all its runs under that cap.

Usage: sudo python3 bench/matrix.py [--project bench/mdbook-app] [--caps 0.7,0.9,1.1]
       [--fixed 8,2,3,4,6,1] [--runs 3] [--out bench/matrix-mdbook-app.csv]
"""

import argparse
import csv
import os
import shutil
import statistics
import sys
from pathlib import Path

import run

run.WORK = run.WORK.with_name("memsafe-matrix")
_Cgroup = run.Cgroup
run.Cgroup = lambda name, cap: _Cgroup(name.replace("memsafe-bench", "memsafe-matrix"), cap)


def guessed_plan(cap, cpus, project):
    """The static plan without any measurement: no calibration (memsafe.toml moved aside) and
    no governed build either (an empty governor folder), the preset's guess."""
    empty = run.WORK / "no-history"
    shutil.rmtree(empty, ignore_errors=True)
    empty.mkdir(parents=True)
    saved = os.environ.get("MEMSAFE_GOVERNOR_DIR")
    os.environ["MEMSAFE_GOVERNOR_DIR"] = str(empty)
    try:
        return run.memsafe_plan(cap, cpus, calibrated=False, project=project)["jobs"]
    finally:
        if saved is None:
            del os.environ["MEMSAFE_GOVERNOR_DIR"]
        else:
            os.environ["MEMSAFE_GOVERNOR_DIR"] = saved


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=str(run.PROJECT))
    parser.add_argument("--caps", default="0.7,0.9,1.1")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--fixed", default="8,2,3,4,6,1", help="the sweep, in the order run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=None)
    parser.add_argument("--interleave", action="store_true",
                        help="run the configurations in turn (governor, then each fixed count; each round "
                             "starting one later), --runs rounds, so that a machine whose speed drifts treats "
                             "them alike")
    parser.add_argument("--only-governor", action="store_true",
                        help="run the governor's rows again, keeping the other rows --out holds")
    options = parser.parse_args()
    project = Path(options.project).resolve()
    if not run.MEMSAFE.exists():
        sys.exit("build memsafe first: cargo build --release")
    if not (project / "memsafe.toml").exists():
        sys.exit(f"calibrate {project.name} first: sudo python3 bench/validate.py --project {project}")
    run.WORK.mkdir(parents=True, exist_ok=True)
    profile_args = ["--config", 'profile.dev.package."*".debug=false']
    caps = [round(float(c), 3) for c in options.caps.split(",")]
    rows = []
    if options.only_governor and options.out and Path(options.out).exists():
        with open(options.out, newline="") as file:
            for row in csv.DictReader(file):
                if row["configuration"] != "governor" or round(float(row["cap_gib"]), 3) not in caps:
                    rows.append(dict(row, cap_gib=float(row["cap_gib"]), jobs=int(row["jobs"]),
                                     peak_mib=int(row["peak_mib"]), wall_s=float(row["wall_s"]),
                                     out_of_memory=row["out_of_memory"] == "True", run=int(row["run"])))

    def build(cap, configuration, jobs, env, number):
        row = run.run_build(configuration, int(cap * run.GIB), jobs, env, profile_args, project)
        row.update(cap_gib=cap, configuration=configuration, run=number)
        rows.append(row)
        print(f"cap {cap} GiB {configuration} run {number}: {jobs} jobs, peak {row['peak_mib']} MiB, "
              f"{row['wall_s']} s, CPU {row['cpu_s']} s, {row['major_faults']} major faults"
              f"{', KILLED' if row['out_of_memory'] else ''}", flush=True)
        if options.out:
            with open(options.out, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=["cap_gib", "configuration", "run", "jobs", "peak_mib",
                                                          "wall_s", "out_of_memory", "cpu_s", "major_faults"],
                                        extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)

    sweep = [int(j) for j in options.fixed.split(",")]
    plans = {}
    for cap in caps:
        calibrated = run.memsafe_plan(cap, options.jobs, calibrated=True, project=project)["jobs"]
        guessed = guessed_plan(cap, options.jobs, project)
        plans[cap] = (calibrated, guessed)
        history = run.WORK / f"governor-{cap}"
        shutil.rmtree(history, ignore_errors=True)
        history.mkdir(parents=True)
        env = {"RUSTC_WRAPPER": str(run.MEMSAFE), "MEMSAFE_GOVERNOR_DIR": str(history)}
        if options.interleave:
            turn = [("governor", options.jobs, env)] + [(f"fixed {jobs}", jobs, {}) for jobs in sweep]
            for number in range(1, options.runs + 1):
                # Each round starts one later in the turn, so that no configuration always
                # runs first (on a machine warming up) or last.
                shift = (number - 1) % len(turn)
                for configuration, jobs, extra in turn[shift:] + turn[:shift]:
                    build(cap, configuration, jobs, extra, number)
            continue
        for number in range(1, options.runs + 1):
            build(cap, "governor", options.jobs, env, number)
        if options.only_governor:
            continue
        for jobs in sweep + [j for j in (calibrated, guessed) if j not in sweep]:
            if any(r["cap_gib"] == cap and r["configuration"] == f"fixed {jobs}" for r in rows):
                continue
            for number in range(1, options.runs + 1):
                build(cap, f"fixed {jobs}", jobs, {}, number)

    for cap in sorted({r["cap_gib"] for r in rows} - set(caps)):
        plans[cap] = (run.memsafe_plan(cap, options.jobs, calibrated=True, project=project)["jobs"],
                      guessed_plan(cap, options.jobs, project))
    caps = sorted(plans)
    failures = []
    print(f"\n{project.name}, cargo at {options.jobs} jobs on this machine; {options.runs} clean builds each\n")
    print("| cap | configuration | jobs | killed | median wall s | walls s | peak MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    eight_killed = False
    for cap in caps:
        calibrated, guessed = plans[cap]
        results = {}
        for configuration in dict.fromkeys(r["configuration"] for r in rows if r["cap_gib"] == cap):
            mine = [r for r in rows if r["cap_gib"] == cap and r["configuration"] == configuration]
            killed = sum(r["out_of_memory"] for r in mine)
            walls = [r["wall_s"] for r in mine]
            results[configuration] = (mine[0]["jobs"], killed, statistics.median(walls))
            labels = [configuration]
            jobs = mine[0]["jobs"]
            if configuration.startswith("fixed") and jobs == calibrated:
                labels.append("static plan, calibrated")
            if configuration.startswith("fixed") and jobs == guessed:
                labels.append("static plan, guessed")
            print(f"| {cap:g} GiB | {'; '.join(labels)} | {jobs} | {killed} of {len(mine)} | "
                  f"{'-' if killed else statistics.median(walls)} | {', '.join(str(w) for w in walls)} | "
                  f"{max(r['peak_mib'] for r in mine)} |")
        if results.get("fixed 8", (8, 0, 0))[1]:
            eight_killed = True
        if results["governor"][1]:
            failures.append(f"cap {cap}: the governor was killed in {results['governor'][1]} runs")
        passed = [(wall, c) for c, (_, killed, wall) in results.items() if c.startswith("fixed") and not killed]
        if passed and not results["governor"][1]:
            best_wall, best = min(passed)
            ratio = results["governor"][2] / best_wall
            print(f"|  | governor / fastest fixed ({best}) | | | {ratio:.2f} | | |")
            if ratio > 1.05:
                failures.append(f"cap {cap}: the governor's median is {ratio:.2f}x {best}'s")
    if not eight_killed:
        failures.append("fixed 8 jobs was never killed")
    run.finish("targets:", failures)


if __name__ == "__main__":
    main()
