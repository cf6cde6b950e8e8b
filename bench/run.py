#!/usr/bin/env python3
"""memsafe's benchmark: is the plan safe, and is it fast?

For each memory cap it does clean `cargo build --tests` builds of a real project
(bench/mdbook-app: mdBook 0.5.4, 216 crates) in a memory cgroup of its own (v1 or
v2; root needed) with that cap and no swap, and records the wall time, the peak
anonymous memory of the whole build (sampled at 10 Hz, as REFERENCE.md F1 says
the cgroup's own peak counter also counts page cache) and whether the build ran
out of memory. Configurations:

  defaults     cargo's defaults, jobs = CPUs
  recipe       the fixed recipe from blog posts: jobs 4, test codegen-units 2,
               debug 1, incremental off
  memsafe      memsafe's plan for the cap and CPUs, with its per-preset guess
  calibrated   memsafe's plan after `memsafe calibrate` measured the project
  jobs=N       a sweep from 1 to the CPU count, cargo defaults otherwise

Smaller machines are emulated with the cap and `--cpus`: memsafe itself runs in a
cgroup with the cap and plans for it as for a container's limit. Jobs above the
real core count still show the real memory peak, but not the real time, so the
time target is only judged when --cpus is at most the real core count. It prints a table and writes it
as CSV, then checks memsafe's targets: no plan runs out of memory, the calibrated
plan's peak stays in its budget, its time is within 10% of the fastest
configuration that stays under the cap, and its predicted peak is within 25% of
the measured one.

Usage: sudo python3 bench/run.py [--caps 1.5,3,6] [--cpus 8] [--out bench/results.csv]
Build memsafe first (cargo build --release); this is not part of .ci/run.
"""

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "bench" / "mdbook-app"
MEMSAFE = ROOT / "target" / "release" / "memsafe"
WORK = Path("/tmp/memsafe-bench")
GIB = 1 << 30


class Cgroup:
    """A memory cgroup with a cap and no swap, v1 or v2."""

    def __init__(self, name, cap_bytes):
        v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        self.v2 = v2
        base = Path("/sys/fs/cgroup") if v2 else Path("/sys/fs/cgroup/memory")
        self.path = base / name
        if self.path.exists():
            self.path.rmdir()
        self.path.mkdir()
        if v2:
            (self.path / "memory.max").write_text(str(cap_bytes))
            (self.path / "memory.swap.max").write_text("0")
        else:
            (self.path / "memory.limit_in_bytes").write_text(str(cap_bytes))
            memsw = self.path / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                memsw.write_text(str(cap_bytes))

    def anonymous_bytes(self):
        stat = (self.path / "memory.stat").read_text().split("\n")
        key = "anon" if self.v2 else "total_rss"
        for line in stat:
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
        return 0

    def major_faults(self):
        """Pages read back from disk by the group's processes (page cache evicted, then needed)."""
        key = "pgmajfault" if self.v2 else "total_pgmajfault"
        for line in (self.path / "memory.stat").read_text().split("\n"):
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
        return 0

    def oom_kills(self):
        if self.v2:
            for line in (self.path / "memory.events").read_text().split("\n"):
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
            return 0
        for line in (self.path / "memory.oom_control").read_text().split("\n"):
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def remove(self):
        try:
            self.path.rmdir()
        except OSError:
            pass


def run_build(label, cap_bytes, jobs, env_extra, config_args, project=None):
    """One clean `cargo build --tests` of `project` (default bench/mdbook-app) under the cap;
    returns a result row."""
    target = WORK / "target"
    shutil.rmtree(target, ignore_errors=True)
    group = Cgroup("memsafe-bench", cap_bytes)
    env = dict(os.environ, CARGO_TARGET_DIR=str(target), CARGO_TERM_COLOR="never")
    env.pop("RUSTC_WRAPPER", None)
    env.update(env_extra)
    command = ["cargo", "build", "--tests", "--offline", "--jobs", str(jobs)] + config_args
    peak = 0
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cgroup_procs = group.path / "cgroup.procs"

    def enter_cgroup():
        cgroup_procs.write_text(str(os.getpid()))

    process = subprocess.Popen(
        command, cwd=project or PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=enter_cgroup,
    )
    stderr_chunks = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(process.stderr.read()))
    reader.start()
    while process.poll() is None:
        peak = max(peak, group.anonymous_bytes())
        time.sleep(0.1)
    reader.join()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    oom = group.oom_kills() > 0 or process.returncode != 0
    major_faults = group.major_faults()
    group.remove()
    stderr = b"".join(stderr_chunks).decode(errors="replace")
    if process.returncode != 0 and "SIGKILL" not in stderr and "signal: 9" not in stderr:
        print(f"  {label}: cargo failed without an OOM kill:\n{stderr[-2000:]}", file=sys.stderr)
    return {
        "cap_gib": cap_bytes / GIB,
        "configuration": label,
        "jobs": jobs,
        "peak_mib": round(peak / (1 << 20)),
        "wall_s": round(wall, 1),
        "out_of_memory": oom,
        # CPU time of cargo and every process it waited for (rustc, the linker, a wrapper).
        "cpu_s": round(cpu, 1),
        "major_faults": major_faults,
    }


def memsafe_plan(cap_gib, cpus, calibrated, project=None):
    """memsafe's plan, with or without the project's calibration, run inside a cgroup with the
    cap: memsafe sees a container's memory limit, as on a CI runner, and plans for it."""
    project = project or PROJECT
    project_record = project / "memsafe.toml"
    aside = WORK / "memsafe.toml.aside"
    args = [str(MEMSAFE), "plan", "--json", "--cpus", str(cpus), "--editor", "none"]
    if not calibrated and project_record.exists():
        project_record.rename(aside)
    group = Cgroup("memsafe-bench-plan", int(cap_gib * GIB))
    procs = group.path / "cgroup.procs"
    try:
        output = subprocess.run(args, cwd=project, check=True, capture_output=True, text=True,
                                preexec_fn=lambda: procs.write_text(str(os.getpid()))).stdout
    finally:
        group.remove()
        if aside.exists():
            aside.rename(project_record)
    plan = json.loads(output)
    assert plan["hardware"]["memory_source"] == "cgroup-limit", plan["hardware"]
    return plan


def calibrate(cpus, project=None, extra=("--tests",)):
    """`memsafe init` + `memsafe calibrate` on the project, uncapped, once; then `memsafe
    remove` puts the project back, and only memsafe.toml (the measurements) stays for
    `memsafe plan`."""
    project = project or PROJECT
    record = project / "memsafe.toml"
    # A record left by an earlier run holds only its measurements (the project was put back).
    record.unlink(missing_ok=True)
    common = ["--ram", "24GiB", "--cpus", str(cpus)]
    subprocess.run([str(MEMSAFE), "init", "--yes", "-q", "--editor", "none", "--script", "none", *common],
                   cwd=project, check=True)
    try:
        subprocess.run([str(MEMSAFE), "calibrate", "-q", "--profile", "dev", *common, "--", *extra, "--offline"],
                       cwd=project, check=True)
        text = record.read_text()
    finally:
        # Put the project back whatever happened, so every build below starts from it as it is.
        subprocess.run([str(MEMSAFE), "remove", "-q"], cwd=project, check=True)
    record.write_text(text)


def finish(heading, failures):
    """Prints the targets' verdict under `heading` and leaves: 0 when all were met."""
    print(f"\n{heading}", "all met" if not failures else "")
    for failure in failures:
        print(f"  FAIL {failure}")
    sys.exit(1 if failures else 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caps", default="1.5,3,6", help="memory caps in GiB, comma-separated")
    parser.add_argument("--cpus", type=int, default=8, help="CPUs to plan for (jobs above the real cores still show memory)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.csv"))
    parser.add_argument("--sweep", default=None, help="job counts for the sweep (default 1..CPUs)")
    parser.add_argument("--no-extras", action="store_true", help="skip the wrapper-overhead builds and plan timing")
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark makes a memory cgroup per build")
    if not MEMSAFE.exists():
        sys.exit("build memsafe first: cargo build --release")
    WORK.mkdir(parents=True, exist_ok=True)
    caps = [float(c) for c in options.caps.split(",")]
    sweep = [int(j) for j in options.sweep.split(",")] if options.sweep else list(range(1, options.cpus + 1))

    print(f"calibrating {PROJECT.name} ...", flush=True)
    calibrate(options.cpus)
    record = (PROJECT / "memsafe.toml").read_text()

    rows = []
    profile_args = ["--config", 'profile.dev.package."*".debug=false']
    for cap in caps:
        cap_bytes = int(cap * GIB)
        guess = memsafe_plan(cap, options.cpus, calibrated=False)
        measured = memsafe_plan(cap, options.cpus, calibrated=True)
        configurations = [
            ("defaults", options.cpus, {}, []),
            ("recipe", 4, {"CARGO_PROFILE_TEST_CODEGEN_UNITS": "2", "CARGO_PROFILE_DEV_DEBUG": "1",
                           "CARGO_INCREMENTAL": "0"}, []),
            ("memsafe", guess["jobs"], {}, profile_args),
            ("calibrated", measured["jobs"], {}, profile_args),
        ] + [(f"jobs={jobs}", jobs, {}, []) for jobs in sweep]
        for label, jobs, env, config in configurations:
            row = run_build(label, cap_bytes, jobs, env, config)
            if label == "calibrated":
                row["budget_mib"] = round(measured["budget_bytes"] / (1 << 20))
                row["predicted_mib"] = round(int(next(
                    line.split("=")[1].strip().strip("[]").split(",")[jobs - 1]
                    for line in record.splitlines() if line.startswith("peak_by_jobs")
                )) / (1 << 20))
            rows.append(row)
            print(f"cap {cap:>4} GiB  {label:<11} jobs {jobs:>2}  peak {row['peak_mib']:>6} MiB  "
                  f"wall {row['wall_s']:>6} s  {'OUT OF MEMORY' if row['out_of_memory'] else 'ok'}", flush=True)

    overhead = plan_ms = None
    if not options.no_extras:
        # The wrapper's cost: the same uncapped build at 2 jobs, plain and under memsafe as
        # RUSTC_WRAPPER (what `memsafe calibrate` does).
        no_cap = 64 * GIB
        plain = run_build("plain", no_cap, 2, {}, [])
        wrapped = run_build("wrapped", no_cap, 2, {"RUSTC_WRAPPER": str(MEMSAFE),
                                                    "MEMSAFE_CALIBRATE_LOG": str(WORK / "overhead.jsonl")}, [])
        overhead = (wrapped["wall_s"] - plain["wall_s"]) / plain["wall_s"]
        # `memsafe plan`'s own speed.
        started = time.monotonic()
        for _ in range(100):
            subprocess.run([str(MEMSAFE), "plan", "--json"], cwd=WORK, check=True, capture_output=True)
        plan_ms = (time.monotonic() - started) * 10

    fields = ["cap_gib", "configuration", "jobs", "peak_mib", "wall_s", "out_of_memory", "budget_mib", "predicted_mib"]
    with open(options.out, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {options.out}\n")
    print("| cap | configuration | jobs | peak MiB | wall s | out of memory |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['cap_gib']:g} GiB | {row['configuration']} | {row['jobs']} | {row['peak_mib']} | "
              f"{row['wall_s']} | {'yes' if row['out_of_memory'] else 'no'} |")

    print("\ntargets:")
    failures = 0
    if overhead is not None:
        print(f"\nwrapper: {plain['wall_s']} s plain, {wrapped['wall_s']} s wrapped at 2 jobs: {overhead:+.1%}")
        print(f"memsafe plan: {plan_ms:.2f} ms per run (100 runs, process start included)")
        for ok, words in [(overhead < 0.02, f"wrapper adds {overhead:+.1%} (under 2%)"),
                          (plan_ms < 5, f"memsafe plan takes {plan_ms:.2f} ms (under 5 ms)")]:
            failures += 0 if ok else 1
            print(f"  {'ok  ' if ok else 'FAIL'} {words}")
    real_cores = os.cpu_count() or 1
    check_time = options.cpus <= real_cores
    for cap in caps:
        at_cap = [r for r in rows if r["cap_gib"] == cap]
        fine = [r for r in at_cap if not r["out_of_memory"]]
        fastest = min(fine, key=lambda r: r["wall_s"]) if fine else None
        for row in at_cap:
            if row["configuration"] in ("memsafe", "calibrated") and row["out_of_memory"]:
                failures += 1
                print(f"  FAIL cap {cap}: {row['configuration']} ran out of memory")
        calibrated = next(r for r in at_cap if r["configuration"] == "calibrated")
        if not calibrated["out_of_memory"]:
            within_budget = calibrated["peak_mib"] <= calibrated["budget_mib"]
            # Time only compares fairly when the planned CPUs exist: more jobs than real cores
            # show the real memory but not the real time.
            near_fastest = not check_time or fastest is None or calibrated["wall_s"] <= fastest["wall_s"] * 1.10
            error = abs(calibrated["predicted_mib"] - calibrated["peak_mib"]) / max(calibrated["peak_mib"], 1)
            for ok, words in [
                (within_budget, f"calibrated peak {calibrated['peak_mib']} MiB within its budget {calibrated['budget_mib']} MiB"),
                (near_fastest, f"calibrated {calibrated['wall_s']} s within 10% of the fastest safe "
                               f"({fastest['configuration'] if fastest else '-'}, {fastest['wall_s'] if fastest else '-'} s)"
                               + ("" if check_time else f" [not judged: {options.cpus} CPUs emulated on {real_cores}]")),
                (error <= 0.25, f"predicted {calibrated['predicted_mib']} MiB within 25% of measured "
                                f"{calibrated['peak_mib']} MiB ({error:.0%})"),
            ]:
                failures += 0 if ok else 1
                print(f"  {'ok  ' if ok else 'FAIL'} cap {cap}: {words}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
