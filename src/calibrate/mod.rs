//! `memsafe calibrate`: measure what each rustc of this project takes, so that the plan can
//! use measurements instead of a per-preset guess.
//!
//! memsafe builds the project once in a target folder of its own
//! (`target/memsafe-calibrate`), with itself as `RUSTC_WRAPPER`. In that role ([`wrap`]) it
//! runs the real rustc untouched (arguments, stdin, stdout, stderr and exit code pass through:
//! cargo parses rustc's output) and appends one JSON line per compilation to a log: crate,
//! kind, start, duration, and the peak RSS of the process tree it waited for (`wait4`'s
//! `ru_maxrss`, which on Linux also covers the children rustc waited for, the linker
//! included; KiB on Linux, bytes on macOS). On Windows rustc runs in a Job Object, and the peak
//! is the job's: the most memory committed at once by rustc and every process it started, the
//! linker included.
//!
//! On Linux the wrapper also samples the anonymous memory of rustc's process tree (what a
//! memory cgroup and the OOM killer count, [`crate::procmem`]): its peak, and its profile over
//! the compilation's time (the largest sample in each of 32 equal slices). The calibration
//! build samples cargo's own anonymous memory too.
//!
//! The model ([`estimate_peaks`]): a build's memory at `k` jobs is cargo's own plus what the
//! compilations running at that moment hold. Two estimates, and the smaller one is used:
//! 1. the recorded build replayed on `k` slots as cargo would schedule it: whenever a slot is
//!    free, the first compilation (in recorded start order) whose dependencies allow it, with
//!    its recorded duration, adding up what each holds in each slice of its time (its peak
//!    throughout, where no profile was recorded). The wrapper records each compilation's
//!    place in cargo's graph (its hash, the `--extern`s it reads, the build script whose
//!    output it reads): a library may start once what it reads has written its metadata
//!    (pipelining, timed from the recorded build), a link once they have ended. Without
//!    places (an older log) only the order is kept, which overlaps heavy crates more than
//!    cargo can;
//! 2. the bound: the largest compilation + (`k` - 1) x a typical one. With anonymous memory,
//!    the typical one is what a running compilation holds on average, weighted by time: at
//!    the moment the largest one peaks, each other job holds on average that much
//!    (docs/measurements.md M10). With `ru_maxrss` only, the median compilation
//!    (docs/measurements.md M3).
//!
//! What every rustc shares (its own shared library, mapped by every rustc and resident once)
//! is counted once per build, not once per compilation ([`shared_bytes`]). With anonymous
//! figures it is not in them at all (file-backed: a cgroup's anonymous counter does not see
//! it, and the kernel can drop its pages under pressure), so the estimates are what the
//! kernel counts; the calibration records it. From `ru_maxrss` (Windows' job peak, other
//! systems, older logs) each compilation adds its `ru_maxrss` less the smallest compilation's,
//! and the shared part is added once ([`private_bytes`]). [`estimates`] says which of the two
//! estimates gave each job count's number, and the calibration records it (`bound_jobs`) for
//! the plan's reason.
//!
//! The pieces: [`wrapper`] (the measuring `RUSTC_WRAPPER`), [`model`] (pure: the estimates) and
//! [`build`] (the calibration build). `crate::calibrate::X` names each of their items.

mod build;
mod model;
mod wrapper;

pub use self::build::*;
pub use self::model::*;
pub use self::wrapper::*;

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn invocation(krate: &str, start_ms: u64, duration_ms: u64, peak_mib: u64) -> Invocation {
        Invocation {
            krate: krate.into(),
            kind: "lib".into(),
            start_ms,
            duration_ms,
            peak_bytes: peak_mib << 20,
            exit_code: 0,
            anon_peak_bytes: None,
            anon_profile: None,
            place: Place::default(),
            cpu_ms: None,
        }
    }

    fn exited(code: i32) -> ChildStatus {
        ChildStatus {
            code: Some(code),
            signal: None,
        }
    }

    fn killed(signal: i32) -> ChildStatus {
        ChildStatus {
            code: None,
            signal: Some(signal),
        }
    }

    #[test]
    fn windows_codes_pass_on_whole() {
        let windows = |status| exit_code_for(status, Platform::Windows);
        assert_eq!(windows(exited(0)), 0);
        assert_eq!(windows(exited(1)), 1);
        assert_eq!(windows(exited(101)), 101);
        // STATUS_ACCESS_VIOLATION (0xC0000005) and STATUS_STACK_BUFFER_OVERRUN (0xC0000409),
        // as std reports them: negative i32. The clamp this replaces turned them into 0.
        assert_eq!(windows(exited(0xC000_0005_u32 as i32)), -1_073_741_819);
        assert_eq!(windows(exited(0xC000_0409_u32 as i32)), -1_073_740_791);
        // Above a byte, including multiples of 256 that would wrap to 0.
        assert_eq!(windows(exited(256)), 256);
        assert_eq!(windows(exited(512)), 512);
        assert_eq!(windows(exited(i32::MAX)), i32::MAX);
        assert_eq!(
            windows(ChildStatus {
                code: None,
                signal: None
            }),
            1
        );
    }

    #[test]
    fn unix_codes_and_signals_fit_in_a_byte_and_never_become_0() {
        let unix = |status| exit_code_for(status, Platform::Unix);
        assert_eq!(unix(exited(0)), 0);
        assert_eq!(unix(exited(1)), 1);
        assert_eq!(unix(exited(101)), 101);
        assert_eq!(unix(exited(255)), 255);
        // SIGKILL (the OOM killer), SIGSEGV, SIGABRT: 128 + the signal, as a shell says.
        assert_eq!(unix(killed(9)), 137);
        assert_eq!(unix(killed(11)), 139);
        assert_eq!(unix(killed(6)), 134);
        // Codes a byte cannot hold, Windows-style ones included: 1, never their low byte.
        for code in [256, 512, 257, -1, -1_073_741_819, i32::MIN, i32::MAX] {
            assert_eq!(unix(exited(code)), 1, "{code}");
        }
        for signal in [0, -3, 128, 300] {
            assert_eq!(unix(killed(signal)), 1, "{signal}");
        }
        // Stopped, or nothing known.
        assert_eq!(
            unix(ChildStatus {
                code: None,
                signal: None
            }),
            1
        );
    }

    #[test]
    fn every_failure_stays_a_failure_on_both_platforms() {
        let samples = [
            0,
            1,
            2,
            127,
            128,
            255,
            256,
            512,
            65_536,
            -1,
            -256,
            i32::MIN,
            i32::MAX,
        ];
        for platform in [Platform::Unix, Platform::Windows] {
            for code in samples {
                let mapped = exit_code_for(exited(code), platform);
                assert_eq!(mapped == 0, code == 0, "{platform:?} {code} -> {mapped}");
                if platform == Platform::Unix {
                    assert!((0..=255).contains(&mapped), "{code} -> {mapped}");
                }
            }
            for signal in -2..=200 {
                assert_ne!(
                    exit_code_for(killed(signal), platform),
                    0,
                    "{platform:?} {signal}"
                );
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_real_exit_status_becomes_a_child_status() {
        use std::os::unix::process::ExitStatusExt;
        // The raw wait statuses of `exit(3)` and of a SIGKILL.
        assert_eq!(
            ChildStatus::from(std::process::ExitStatus::from_raw(3 << 8)),
            exited(3)
        );
        assert_eq!(
            ChildStatus::from(std::process::ExitStatus::from_raw(9)),
            killed(9)
        );
    }

    #[test]
    fn dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2026, 11, 27)), "2026-11-27");
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), "2024-02-29");
        assert_eq!(parse_date("2026-11-27"), Some(days_from_civil(2026, 11, 27)));
        assert_eq!(parse_date("2026-13-01"), None);
    }

    #[test]
    fn the_shared_part_is_taken_off_every_compilation_and_added_back_once() {
        // a runs 0-10 ms at 100 MiB, b 0-10 at 300, c 5-15 at 200. Shared part: 100 MiB (the
        // smallest), so a, b, c add 0, 200 and 100 on top of it; median 200 - 100 = 100.
        let log = [
            invocation("a", 0, 10, 100),
            invocation("b", 0, 10, 300),
            invocation("c", 5, 10, 200),
        ];
        let mib = |estimate: Estimate| (estimate.bytes - CARGO_BYTES) >> 20;
        let estimates = estimates(&log, CARGO_BYTES);
        // 1 job: one at a time, b the largest: 100 + 200 = 300, the largest compilation as
        // measured (the bound, 200 + 0 x 100, ties with the replay).
        assert_eq!(mib(estimates[0]), 300);
        assert_eq!(estimates[0].source, Source::Replay);
        // 2 jobs: the replay runs a and b together (0 + 200), then c (100): 100 + 200 = 300;
        // the bound is 100 + 200 + 1 x 100 = 400.
        assert_eq!(mib(estimates[1]), 300);
        assert_eq!(estimates[1].source, Source::Replay);
        // 3 jobs: all three at once, 100 + (0 + 200 + 100) = 400; the bound says 500.
        assert_eq!(mib(estimates[2]), 400);
        assert_eq!(estimates[2].source, Source::Replay);
        // Never decreasing, never more than everything at once (400 MiB).
        let peaks = estimate_peaks(&log, CARGO_BYTES);
        assert!(peaks.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(peaks[63], CARGO_BYTES + (400 << 20));
    }

    #[test]
    fn anonymous_peaks_are_recorded_and_the_shared_part_counted_once() {
        let with_anon = |krate, start, duration, peak, anon: u64| Invocation {
            anon_peak_bytes: Some(anon << 20),
            anon_profile: None,
            place: Place::default(),
            ..invocation(krate, start, duration, peak)
        };
        // ru_maxrss - anon: 120, 150 and 140 MiB; the median, 140, is the shared part, even
        // though b's own part is far larger than its file-backed part.
        let log = [
            with_anon("a", 0, 10, 150, 30),
            with_anon("b", 0, 10, 400, 250),
            with_anon("c", 5, 10, 260, 120),
        ];
        assert_eq!(shared_bytes(&log), 140 << 20);
        // Each compilation adds its anonymous peak, not ru_maxrss less the shared part.
        assert_eq!(private_bytes(&log[1], 140 << 20), 250 << 20);
        // The model plans from the anonymous peaks, what a cgroup counts: the shared part is
        // not in them. 1 job: b alone, 250. 2 jobs: a and b together (280), then c. 3 jobs:
        // all three at once, 400. The bound, 250 + (jobs - 1) x the time-weighted mean
        // (133 MiB: all three ran 10 ms), is above the replay here.
        let estimates = estimates(&log, CARGO_BYTES);
        let mib = |estimate: Estimate| (estimate.bytes - CARGO_BYTES) >> 20;
        assert_eq!(
            estimates[..3].iter().map(|e| mib(*e)).collect::<Vec<_>>(),
            [250, 280, 400]
        );
        assert!(estimates[..3].iter().all(|e| e.source == Source::Replay));
        let plain: Vec<Invocation> = log
            .iter()
            .map(|i| Invocation {
                anon_peak_bytes: None,
                anon_profile: None,
                place: Place::default(),
                ..i.clone()
            })
            .collect();
        let summary = summarize(&log, Some(40 << 20), "rustc 1.95.0", "2026-11-27", "test", 1);
        assert_eq!(summary.shared_bytes, Some(140 << 20));
        // cargo's own peak, measured, replaces the 100 MiB guess in every estimate.
        assert_eq!(summary.cargo_bytes, Some(40 << 20));
        assert!(summary.anonymous);
        assert_eq!(summary.peak_by_jobs[0], (40 + 250) << 20);
        // ru_maxrss stays the upper bound the summary reports, and its words say so.
        assert_eq!(summary.max_peak_bytes, 400 << 20);
        assert!(summary.words().ends_with("peak 150 MiB to 400 MiB in RSS (the estimates count their anonymous memory, less: rustc's library once)"), "{}", summary.words());

        // A compilation the log has no anonymous peak for (a mixed log): ru_maxrss less the
        // shared part. The shared part comes from those that have one.
        let mut mixed = log.to_vec();
        mixed.push(invocation("d", 100, 10, 200));
        assert_eq!(shared_bytes(&mixed), shared_bytes(&log));
        assert_eq!(private_bytes(&mixed[3], 140 << 20), 60 << 20);
        // ru_maxrss below the shared part: nothing, not a wrapped-around huge number.
        assert_eq!(private_bytes(&invocation("e", 0, 1, 100), 140 << 20), 0);
        // No anonymous peak anywhere: the smallest ru_maxrss, as before.
        assert_eq!(shared_bytes(&plain), 150 << 20);
    }

    #[test]
    fn profiles_add_up_what_is_held_at_the_same_moment() {
        // Two compilations of 320 ms side by side: a holds 300 MiB in its first half and
        // 10 MiB after, b 10 MiB first and 300 MiB in its second half. Their peaks add up
        // to 600 MiB; at no moment do they hold more than 310.
        let profiled = |krate, early: u64, late: u64| {
            let mut profile = vec![early << 20; crate::procmem::SLICES / 2];
            profile.resize(crate::procmem::SLICES, late << 20);
            Invocation {
                anon_peak_bytes: Some(early.max(late) << 20),
                anon_profile: Some(profile),
                place: Place::default(),
                ..invocation(krate, 0, 320, 400)
            }
        };
        let log = [profiled("a", 300, 10), profiled("b", 10, 300)];
        let shared = shared_bytes(&log);
        assert_eq!(shared, 100 << 20);
        let two = estimates(&log, 0)[1];
        assert_eq!(two.bytes, 310 << 20);
        // Without the profiles, their peaks: 600.
        let flat: Vec<Invocation> = log
            .iter()
            .map(|i| Invocation {
                anon_profile: None,
                place: Place::default(),
                ..i.clone()
            })
            .collect();
        assert_eq!(estimates(&flat, 0)[1].bytes, 600 << 20);
        // One job: one after the other, the larger peak.
        assert_eq!(estimates(&log, 0)[0].bytes, 300 << 20);
    }

    #[test]
    fn with_anonymous_figures_the_bound_adds_what_a_running_compilation_holds_on_average() {
        // One compilation of 400 MiB for 1 s, then forty of 20 MiB for 1 s each and four of
        // 200 MiB for 9 s each, all recorded as starting together: the replay stacks them.
        let anon = |krate: &str, duration, bytes: u64| Invocation {
            anon_peak_bytes: Some(bytes << 20),
            anon_profile: None,
            place: Place::default(),
            ..invocation(krate, 0, duration, (bytes + 100).max(1))
        };
        let mut log = vec![anon("big", 1_000, 400)];
        log.extend((0..40).map(|i| anon(&format!("s{i}"), 1_000, 20)));
        log.extend((0..4).map(|i| anon(&format!("m{i}"), 9_000, 200)));
        let loads: Vec<Load> = log.iter().map(|i| Load::of(i, 0)).collect();
        // (400 x 1 + 20 x 40 + 200 x 36) / 77 s = 8400 / 77 = 109 MiB.
        assert_eq!(time_weighted_mean(&loads) >> 20, 109);
        let estimates = estimates(&log, 0);
        // 8 jobs: the bound, 400 + 7 x 109.09 = 1163 MiB, below the replay (400 + 4 x 200 +
        // 3 x 20 = 1260).
        assert_eq!(estimates[7].source, Source::Bound);
        assert_eq!(estimates[7].bytes >> 20, 1163);
        assert_eq!(estimates[0].bytes >> 20, 400);
    }

    #[test]
    fn the_bound_caps_a_replay_that_stacks_everything() {
        // Ten heavy compilations that all started together, and thirty light ones: replayed on
        // 20 slots they all stack, while the bound (largest + 19 x median) stays lower.
        let mut log: Vec<Invocation> = (0..10)
            .map(|i| invocation(&format!("c{i}"), 0, 100, 500))
            .collect();
        log.extend((0..30).map(|i| invocation(&format!("s{i}"), 0, 100, 50)));
        let estimates = estimates(&log, CARGO_BYTES);
        let shared = 50;
        // 20 slots: the replay stacks ten heavy (450 each over the shared part) and ten light
        // (0): 50 + 4500 = 4550 MiB; the bound is 50 + 450 + 19 x 0 = 500 MiB.
        assert_eq!(estimates[19].bytes, CARGO_BYTES + ((shared + 500 - shared) << 20));
        assert_eq!(estimates[19].source, Source::Bound);
        // 1 job: both give the largest compilation, 500 MiB.
        assert_eq!(estimates[0].bytes, CARGO_BYTES + (500 << 20));
        let summary = summarize(&log, None, "rustc 1.95.0", "2026-11-27", "test", 12);
        assert_eq!(summary.source(20), Some(Source::Bound));
        assert_eq!(summary.source(1), Some(Source::Replay));
        // Beyond the table: its last entry, as `peak` does.
        assert_eq!(summary.source(500), Some(Source::Bound));
        let bound_jobs = summary.bound_jobs.as_ref().unwrap();
        assert!(
            bound_jobs.contains(&20) && !bound_jobs.contains(&1),
            "{bound_jobs:?}"
        );
        let unknown = Calibration {
            bound_jobs: None,
            ..summary
        };
        assert_eq!(unknown.source(20), None);
    }

    #[test]
    fn summary_picks_the_heaviest_and_the_link() {
        let mut log = vec![invocation("syn", 0, 10, 400), invocation("app", 20, 10, 900)];
        log[1].kind = "bin".into();
        let summary = summarize(&log, None, "rustc 1.95.0", "2026-11-27", "test", 12);
        assert_eq!(summary.heaviest[0].0, "app");
        assert_eq!(summary.link_peak_bytes, 900 << 20);
        assert_eq!(summary.crates, 2);
        assert!(
            summary
                .words()
                .starts_with("measured by `memsafe calibrate` on 2026-11-27")
        );
    }

    #[test]
    fn the_bar_is_never_full_before_the_end() {
        let lock = "version = 4\n\n[[package]]\nname = \"a\"\n\n[[package]]\nname = \"b\"\n\n[[package]]\nname = \"p\"\n";
        assert_eq!(lock_packages(lock), 3);
        assert_eq!(lock_packages(""), 0);
        let estimate = Some(lock_packages(lock));
        assert_eq!(progress_shape(estimate, 0), ProgressShape::Bar { len: 3 });
        assert_eq!(progress_shape(estimate, 2), ProgressShape::Bar { len: 3 });
        // The count reaches the estimate while cargo still builds (tests, build scripts): a
        // count, not a full bar, and never a total that grows with the count.
        assert_eq!(progress_shape(estimate, 3), ProgressShape::Count);
        assert_eq!(progress_shape(estimate, 69), ProgressShape::Count);
        assert_eq!(progress_shape(None, 0), ProgressShape::Count);
        assert_eq!(progress_shape(Some(0), 0), ProgressShape::Count);
        for built in 0..100 {
            if let ProgressShape::Bar { len } = progress_shape(Some(50), built) {
                assert!(built < len, "{built}/{len}");
            }
        }
    }

    #[test]
    fn a_toolchain_rustup_picked_for_another_folder_is_dropped() {
        let env = |toolchain: Option<&str>, source: Option<&str>| ToolchainEnv {
            toolchain: toolchain.map(str::to_string),
            source: source.map(str::to_string),
        };
        // Chosen: by hand, by `cargo +nightly`, or by a rustup that does not say.
        assert!(env(Some("nightly"), Some("env")).chosen());
        assert!(env(Some("nightly"), Some("cli")).chosen());
        assert!(env(Some("nightly"), None).chosen());
        // Picked for the folder memsafe started in: dropped.
        for source in ["default", "toolchain-file", "override", "path-override"] {
            assert!(!env(Some("stable"), Some(source)).chosen(), "{source}");
        }
        assert!(!env(None, None).chosen());

        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        std::fs::create_dir_all(project.join("src")).unwrap();
        assert_eq!(toolchain_file(&project.join("src")), None);
        let picked = env(Some("stable"), Some("default"));
        assert!(picked.words(&project).ends_with("rustup's default"));
        std::fs::write(
            dir.path().join("rust-toolchain.toml"),
            "[toolchain]\nchannel = \"nightly\"\n",
        )
        .unwrap();
        assert_eq!(
            toolchain_file(&project.join("src")),
            Some(dir.path().join("rust-toolchain.toml"))
        );
        assert!(picked.words(&project).starts_with("the toolchain pinned in `"));
        assert_eq!(
            env(Some("nightly"), Some("env")).words(&project),
            "RUSTUP_TOOLCHAIN=nightly"
        );
    }

    #[test]
    fn flags_are_read_from_rustc_arguments() {
        let args: Vec<OsString> = [
            "--crate-name",
            "foo",
            "--edition=2021",
            "--crate-type",
            "proc-macro",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(flag_value(&args, "--crate-name").as_deref(), Some("foo"));
        assert_eq!(kind_of(&args, "foo"), "proc-macro");
        let test: Vec<OsString> = ["--crate-name", "foo", "--test"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(kind_of(&test, "foo"), "test");
        assert_eq!(kind_of(&[], "build_script_build"), "build-script");
    }

    fn placed(
        krate: &str,
        kind: &str,
        start_ms: u64,
        duration_ms: u64,
        peak_mib: u64,
        place: Place,
    ) -> Invocation {
        Invocation {
            kind: kind.into(),
            anon_peak_bytes: Some(peak_mib << 20),
            place,
            ..invocation(krate, start_ms, duration_ms, peak_mib)
        }
    }

    fn unit(hash: &str, deps: &[&str]) -> Place {
        Place {
            unit: Some(hash.into()),
            deps: deps.iter().map(|d| (*d).to_string()).collect(),
            ..Place::default()
        }
    }

    #[test]
    fn the_wrapper_reads_the_place_in_the_graph_from_rustcs_arguments() {
        let args: Vec<OsString> = [
            "--crate-name",
            "app",
            "--crate-type",
            "bin",
            "-C",
            "extra-filename=-aa11",
            "--extern",
            "serde=/t/debug/deps/libserde-bb22.rmeta",
            "--extern=derive=/t/debug/deps/libderive-cc33.so",
            "--extern",
            "proc_macro",
            "--extern",
            "serde=/t/debug/deps/libserde-bb22.rlib",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let env = |name: &str| match name {
            "OUT_DIR" => Some("/t/debug/build/app-dd44/out".to_string()),
            "CARGO_PKG_NAME" => Some("app".to_string()),
            "CARGO_PKG_VERSION" => Some("0.1.0".to_string()),
            _ => None,
        };
        let place = place_of(&args, env);
        assert_eq!(place.unit.as_deref(), Some("aa11"));
        // Each compilation once, whichever of its files is read; the sysroot's is none.
        assert_eq!(place.deps, ["bb22", "cc33"]);
        assert_eq!(place.script_of.as_deref(), Some("app@0.1.0"));
        // Without `OUT_DIR` a library reads no script's output.
        let no_out = |name: &str| env(name).filter(|_| name != "OUT_DIR");
        assert_eq!(place_of(&args, no_out).script_of, None);
        // A log line without a place reads as before, and a place survives the log.
        let logged = placed("app", "bin", 0, 1, 1, place.clone());
        let line = serde_json::to_string(&logged).unwrap();
        assert_eq!(read_log(&line), [logged]);
        let old = r#"{"crate":"a","kind":"lib","start_ms":0,"duration_ms":1,"peak_bytes":1,"exit_code":0}"#;
        assert_eq!(read_log(old)[0].place, Place::default());
    }

    #[test]
    fn a_library_waits_for_metadata_a_link_for_the_end_and_a_script_for_its_run() {
        // `heavy` wrote its metadata 60 ms in: `lib` (a library) started then; `app` (a binary)
        // waited for its end. `out` read `sys`'s build script's output, run for 20 ms.
        let script = Place {
            script_of: Some("sys@1.0.0".into()),
            ..unit("s1", &[])
        };
        let log = [
            placed("heavy", "lib", 0, 100, 500, unit("h1", &[])),
            placed("build_script_build", "build-script", 0, 10, 50, script.clone()),
            placed(
                "out",
                "lib",
                30,
                10,
                50,
                Place {
                    unit: Some("o1".into()),
                    ..script
                },
            ),
            placed("lib", "lib", 60, 80, 100, unit("l1", &["h1"])),
            placed("app", "bin", 140, 20, 300, unit("a1", &["h1", "l1", "unknown"])),
        ];
        let order: Vec<&Invocation> = log.iter().collect();
        let loads = loads(&order, 0);
        let waits: Vec<&[(usize, u64)]> = loads.iter().map(|l| l.waits.as_slice()).collect();
        assert_eq!(
            waits,
            [&[][..], &[], &[(1, 30)], &[(0, 60)], &[(0, 100), (3, 80)]]
        );
    }

    #[test]
    fn the_replay_starts_nothing_before_what_it_waits_for() {
        // Recorded on 1 job: `heavy` (1000 MiB), then `app`, which links it (300 MiB), then
        // `light` (100 MiB), which reads nothing.
        let log = [
            placed("heavy", "lib", 0, 100, 1000, unit("h1", &[])),
            placed("app", "bin", 100, 50, 300, unit("a1", &["h1"])),
            placed("light", "lib", 150, 100, 100, unit("b1", &[])),
        ];
        let order: Vec<&Invocation> = log.iter().collect();
        // On 2 jobs `light` runs beside `heavy`, and `app` after it: 1100 MiB at most.
        assert_eq!(replay(&loads(&order, 0), 2) >> 20, 1100);
        // Without the graph (an older log) `app` would have run beside `heavy`: 1300.
        let blind: Vec<Load> = log.iter().map(|i| Load::of(i, 0)).collect();
        assert_eq!(replay(&blind, 2) >> 20, 1300);
        // A bad log where each reads the other: the wait on the later one is dropped, so
        // nothing deadlocks, and both run (together, as recorded).
        let cycle = [
            placed("a", "lib", 0, 10, 10, unit("a1", &["b1"])),
            placed("b", "lib", 0, 10, 20, unit("b1", &["a1"])),
        ];
        let order: Vec<&Invocation> = cycle.iter().collect();
        assert_eq!(loads(&order, 0)[0].waits, []);
        assert_eq!(replay(&loads(&order, 0), 2) >> 20, 30);
    }

    #[test]
    fn the_replay_starts_first_what_most_compilations_wait_for() {
        // Recorded in the order x, y, r, u; `u` links `r`. cargo starts `r` first (one
        // compilation waits for it), beside `x`; then `y` beside `u`: 310 MiB at most, where
        // the recorded order would have run `x` and `y` together (600).
        let log = [
            placed("x", "lib", 0, 100, 300, unit("x1", &[])),
            placed("y", "lib", 1, 100, 300, unit("y1", &[])),
            placed("r", "lib", 2, 100, 10, unit("r1", &[])),
            placed("u", "bin", 102, 100, 1, unit("u1", &["r1"])),
        ];
        let order: Vec<&Invocation> = log.iter().collect();
        let loads = loads(&order, 0);
        assert_eq!(dependents(&loads), [0, 0, 1, 0]);
        assert_eq!(replay(&loads, 2) >> 20, 310);
    }
}
