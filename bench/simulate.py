#!/usr/bin/env python3
"""The governor on machines not at hand: `memsafe governor simulate`, checked against real
builds on this machine first.

1. Calibrates the project once (`memsafe calibrate`, uncapped, `--cpus 8` or
   `--calibrate-cpus`), with the
   governor's history in a folder of its own (`MEMSAFE_GOVERNOR_DIR`): calibrate's build is
   the recorded build the simulator replays (each compilation's CPU time, memory profile and
   place in cargo's graph).
2. Validation: real clean `cargo build --tests` builds on this machine's real CPUs, at fixed
   job counts without a cap (`--fixed`), and under the governor at cargo's 8 jobs in memory
   cgroups (`--governor-caps`), its history a copy of the calibrated one; then the simulator
   on as many CPUs as this machine has, for the same configurations. Target: the simulated
   wall time and peak within 15% of the real ones.
3. The larger machines, on paper: `--cpus` x `--memory`, fixed job counts against the
   governor.

Usage: sudo python3 bench/simulate.py [--project bench/mdbook-app] [--fixed 1,2,4,8]
       [--governor-caps 0.8,1.1] [--cpus 8,16,32] [--memory 4GiB,8GiB,16GiB] [--out FILE.csv]
       [--reuse-calibration] [--calibrate-cpus N] [--skip-real]
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import run

MIB = 1 << 20
run.WORK = run.WORK.with_name("memsafe-simulate")
_Cgroup = run.Cgroup
run.Cgroup = lambda name, cap: _Cgroup(name.replace("memsafe-bench", "memsafe-simulate"), cap)
UNCAPPED_GIB = 20


def simulate(project, history, cpus, memory, jobs, cargo_bytes, governor_jobs=None):
    env = dict(os.environ, MEMSAFE_GOVERNOR_DIR=str(history))
    args = [str(run.MEMSAFE), "governor", "simulate", "--json", "--cpus", cpus, "--memory", memory,
            "--cargo-memory", f"{max(cargo_bytes // MIB, 1)}MiB"]
    if jobs:
        args += ["--jobs", jobs]
    if governor_jobs:
        args += ["--governor-jobs", str(governor_jobs)]
    return json.loads(subprocess.run(args, cwd=project, env=env, check=True, capture_output=True, text=True).stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=str(run.PROJECT))
    parser.add_argument("--fixed", default="1,2,4,8")
    parser.add_argument("--governor-caps", default="0.8,1.1")
    parser.add_argument("--cpus", default="8,16,32")
    parser.add_argument("--memory", default="4GiB,8GiB,16GiB")
    parser.add_argument("--out", default=None, help="the validation table as CSV")
    parser.add_argument("--reuse-calibration", action="store_true")
    parser.add_argument("--calibrate-cpus", type=int, default=8,
                        help="the CPUs the calibration plans for, so its job count (8: as the other benchmarks "
                             "emulate; this machine's own count records each compilation's CPU time as a "
                             "machine of that many CPUs runs it, without 8 jobs sharing 2 cores)")
    parser.add_argument("--skip-real", action="store_true", help="only the larger machines")
    options = parser.parse_args()
    project = Path(options.project).resolve()
    if not run.MEMSAFE.exists():
        sys.exit("build memsafe first: cargo build --release")
    run.WORK.mkdir(parents=True, exist_ok=True)
    history = run.WORK / f"history-{project.name}"
    if not options.reuse_calibration or not history.exists():
        shutil.rmtree(history, ignore_errors=True)
        history.mkdir(parents=True)
        os.environ["MEMSAFE_GOVERNOR_DIR"] = str(history)
        print(f"calibrating {project.name} ...", flush=True)
        run.calibrate(options.calibrate_cpus, project)
    calibration = tomllib.loads((project / "memsafe.toml").read_text())["calibration"]
    cargo_bytes = calibration.get("cargo_bytes", 100 * MIB)
    cpus_here = os.cpu_count()
    profile_args = ["--config", 'profile.dev.package."*".debug=false']

    rows = []
    if not options.skip_real:
        fixed = options.fixed
        counts = [int(j) for j in fixed.split(",") if j]
        sim = simulate(project, history, str(cpus_here), f"{UNCAPPED_GIB}GiB", fixed, cargo_bytes)[0] if counts else {}
        for jobs in counts:
            real = run.run_build(f"jobs={jobs}", UNCAPPED_GIB * run.GIB, jobs, {}, profile_args, project)
            simulated = next(f for f in sim["fixed"] if f["jobs"] == jobs)
            rows.append(dict(configuration=f"fixed {jobs} jobs", cap_gib="none", real_wall_s=real["wall_s"],
                             real_peak_mib=real["peak_mib"], real_killed=real["out_of_memory"],
                             sim_wall_s=round(simulated["wall_ms"] / 1000, 1),
                             sim_peak_mib=simulated["peak_bytes"] // MIB, sim_killed=simulated["killed"]))
            print(rows[-1], flush=True)
        for cap in [float(c) for c in options.governor_caps.split(",") if c]:
            warm = run.WORK / "history-run"
            shutil.rmtree(warm, ignore_errors=True)
            shutil.copytree(history, warm)
            env = {"RUSTC_WRAPPER": str(run.MEMSAFE), "MEMSAFE_GOVERNOR_DIR": str(warm)}
            real = run.run_build("governor", int(cap * run.GIB), 8, env, profile_args, project)
            simulated = simulate(project, history, str(cpus_here), f"{int(cap * 1024)}MiB", "8", cargo_bytes,
                                 governor_jobs=8)[0]
            governor = simulated["governor"]
            rows.append(dict(configuration="governor, 8 jobs", cap_gib=cap, real_wall_s=real["wall_s"],
                             real_peak_mib=real["peak_mib"], real_killed=real["out_of_memory"],
                             sim_wall_s=round(governor["wall_ms"] / 1000, 1),
                             sim_peak_mib=governor["peak_bytes"] // MIB, sim_killed=governor["killed"]))
            print(rows[-1], flush=True)
        if options.out:
            with open(options.out, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)

    failures = []
    if rows:
        print(f"\n{project.name} on this machine ({cpus_here} CPUs): real against simulated\n")
        print("| configuration | cap | real wall s | simulated | error | real peak MiB | simulated | error |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in rows:
            wall_error = row["sim_wall_s"] / max(row["real_wall_s"], 0.1) - 1
            peak_error = row["sim_peak_mib"] / max(row["real_peak_mib"], 1) - 1
            cap = row["cap_gib"] if row["cap_gib"] == "none" else f"{row['cap_gib']:g} GiB"
            print(f"| {row['configuration']} | {cap} | {row['real_wall_s']} | {row['sim_wall_s']} | "
                  f"{wall_error:+.0%} | {row['real_peak_mib']} | {row['sim_peak_mib']} | {peak_error:+.0%} |")
            if row["real_killed"] != row["sim_killed"]:
                failures.append(f"{row['configuration']} at {cap}: killed {row['real_killed']}, simulated {row['sim_killed']}")
            elif not row["real_killed"]:
                if abs(wall_error) > 0.15:
                    failures.append(f"{row['configuration']} at {cap}: wall time {wall_error:+.0%}")
                if abs(peak_error) > 0.15:
                    failures.append(f"{row['configuration']} at {cap}: peak {peak_error:+.0%}")

    print(f"\n{project.name} on larger machines (simulated)\n")
    print(subprocess.run([str(run.MEMSAFE), "governor", "simulate", "--cpus", options.cpus, "--memory", options.memory,
                          "--cargo-memory", f"{max(cargo_bytes // MIB, 1)}MiB"], cwd=project,
                         env=dict(os.environ, MEMSAFE_GOVERNOR_DIR=str(history)), check=True,
                         capture_output=True, text=True).stdout)
    run.finish("validation targets:" if rows else "", failures)


if __name__ == "__main__":
    main()
