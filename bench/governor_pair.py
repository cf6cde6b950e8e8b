#!/usr/bin/env python3
"""Two builds at once under one memory cap: a build and a test build of the same project, in
separate target folders, each with cargo at `--jobs` jobs, in one memory cgroup with no swap.
Without the governor the two cargos know nothing of each other; with it (memsafe as
`RUSTC_WRAPPER` for both, one ledger) they share one budget. (The governor against plain cargo
with no cap is bench/overhead.py.)

Usage: sudo python3 bench/governor_pair.py [--cap 1.1] [--jobs 8]
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

import run

MIB = 1 << 20


def pair(label, cap_bytes, jobs, env_extra):
    """A `cargo build` and a `cargo build --tests` at once, in separate target folders."""
    group = run.Cgroup("memsafe-pair", cap_bytes)
    procs = group.path / "cgroup.procs"
    processes = []
    start = time.monotonic()
    for name, extra in [("build", []), ("tests", ["--tests"])]:
        target = run.WORK / f"pair-{name}"
        shutil.rmtree(target, ignore_errors=True)
        env = dict(os.environ, CARGO_TARGET_DIR=str(target), CARGO_TERM_COLOR="never")
        env.pop("RUSTC_WRAPPER", None)
        env.update(env_extra)
        command = ["cargo", "build", *extra, "--offline", "--jobs", str(jobs),
                   "--config", 'profile.dev.package."*".debug=false']
        processes.append(subprocess.Popen(command, cwd=run.PROJECT, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL,
                                          preexec_fn=lambda: procs.write_text(str(os.getpid()))))
    peak = 0
    while any(p.poll() is None for p in processes):
        peak = max(peak, group.anonymous_bytes())
        time.sleep(0.1)
    wall = time.monotonic() - start
    oom = group.oom_kills() > 0 or any(p.returncode != 0 for p in processes)
    group.remove()
    print(f"{label}: peak {peak // MIB} MiB, {wall:.1f} s, {'OUT OF MEMORY' if oom else 'ok'} "
          f"(exit codes {[p.returncode for p in processes]})", flush=True)
    return peak // MIB, round(wall, 1), oom


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cap", type=float, default=1.1)
    parser.add_argument("--jobs", type=int, default=8)
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark makes a memory cgroup")
    run.WORK.mkdir(parents=True, exist_ok=True)
    governor_dir = run.WORK / "pair-governor"
    shutil.rmtree(governor_dir, ignore_errors=True)
    governor_dir.mkdir(parents=True)
    governed = {"RUSTC_WRAPPER": str(run.MEMSAFE), "MEMSAFE_GOVERNOR_DIR": str(governor_dir)}
    cap = int(options.cap * run.GIB)
    rows = [("fixed, no governor", *pair("fixed", cap, options.jobs, {}))]
    # The governor's first pair learns from its own compilations as they end.
    rows.append(("governor, run 1", *pair("governor 1", cap, options.jobs, governed)))
    rows.append(("governor, run 2", *pair("governor 2", cap, options.jobs, governed)))
    print(f"\ntwo builds at once under {options.cap:g} GiB, {options.jobs} jobs each\n")
    print("| configuration | peak MiB | wall s | out of memory |")
    print("| --- | --- | --- | --- |")
    for name, peak, wall, oom in rows:
        print(f"| {name} | {peak} | {wall} | {'yes' if oom else 'no'} |")

if __name__ == "__main__":
    main()
