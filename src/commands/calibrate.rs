//! `memsafe calibrate`: measure the memory of every rustc of this project, record it, and
//! re-plan from the measurements. The measuring itself is in [`crate::calibrate`].

use anyhow::{Context, Result};

use crate::calibrate;
use crate::files;
use crate::hardware::format_size;
use crate::project::Project;
use crate::session::Session;
use crate::ui::{self, Printer};

/// `memsafe calibrate`: measure, record, and re-plan from the measurements.
pub(crate) fn calibrate(args: &crate::cli::CalibrateArgs, printer: Printer) -> Result<()> {
    let session = Session::open(args.dir.as_ref(), !args.dry_run)?;
    let record = session.require_record()?;
    let project = &session.project;
    let mut inputs = session.recorded_inputs(&args.hardware, None, printer)?;
    let before_plan = inputs.plan();
    let target = calibrate::target_dir(&project.root);
    // A measurement needs every crate compiled: start from an empty target folder (memsafe's
    // own, never the user's).
    if target.exists() {
        std::fs::remove_dir_all(&target).with_context(|| format!("cannot empty `{}`", target.display()))?;
    }
    std::fs::create_dir_all(&target).with_context(|| format!("cannot create `{}`", target.display()))?;
    let log = target.join("rustc-log.jsonl");
    let _ = std::fs::remove_file(&log);

    printer.status(
        "Calibrating",
        format!(
            "{} with {} jobs in {} (your own target folder stays as it is)",
            if args.profile == "test" {
                "cargo test --no-run"
            } else {
                "cargo build"
            },
            before_plan.jobs,
            files::display(&project.root, &target)
        ),
    );
    // How many crates to expect: the last calibration's count, else the lock file's packages.
    let estimate = record.calibration.as_ref().map(|c| c.crates).or_else(|| {
        std::fs::read_to_string(project.root.join("Cargo.lock"))
            .ok()
            .map(|lock| calibrate::lock_packages(&lock))
    });
    let bar = if printer.is_quiet() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::no_length()
    };
    shape_bar(&bar, calibrate::progress_shape(estimate, 0));
    let progress = CalibrationProgress {
        bar,
        estimate,
        log: log.clone(),
        heaviest: std::sync::Mutex::default(),
        printer,
    };
    let color = dialoguer::console::colors_enabled_stderr();
    let built = calibrate::build(
        &project.root,
        &target,
        &log,
        &args.profile,
        before_plan.jobs,
        &args.cargo_args,
        color,
        &progress,
    );
    let bar = progress.bar;
    bar.finish_and_clear();
    let invocations = calibrate::read_log(&std::fs::read_to_string(&log).unwrap_or_default());
    leave_build(&project.root, &target, args.keep, printer);
    let (total_seconds, cargo_peak) = built?;
    if invocations.is_empty() || invocations.iter().all(|i| i.peak_bytes == 0) {
        return Err(anyhow::anyhow!(
            "the build recorded no compilation with a measured peak; nothing was recorded"
        ));
    }
    let rustc = calibrate::rustc_version(&project.root, &calibrate::ToolchainEnv::from_env())
        .unwrap_or_else(|| "rustc (unknown version)".into());
    let date = calibrate::civil_from_days(calibrate::today());
    let calibration = calibrate::summarize(
        &invocations,
        cargo_peak,
        &rustc,
        &date,
        &args.profile,
        total_seconds,
    );
    printer.line(format!(
        "{} in {}s, peak RSS: median {}, p90 {}, largest {} ({}), links up to {}",
        crate::plan::count(
            u32::try_from(calibration.crates).unwrap_or(u32::MAX),
            "compilation"
        ),
        calibration.total_seconds,
        format_size(calibration.median_peak_bytes),
        format_size(calibration.p90_peak_bytes),
        format_size(calibration.max_peak_bytes),
        calibration.heaviest.first().map_or("?", |h| h.0.as_str()),
        format_size(calibration.link_peak_bytes)
    ));

    // The same plan as every other command's (the repo's values, the chosen fixes), now from
    // the measurements.
    inputs.calibration = Some(calibration);
    let plan = inputs.plan();
    let changeset = super::plan_changeset(&session, &plan, inputs.overrides)?;
    if before_plan.jobs != plan.jobs {
        printer.line(format!(
            "measured: build.jobs {} -> {}",
            before_plan.jobs, plan.jobs
        ));
    } else {
        printer.line(format!("measured: build.jobs stays {}", plan.jobs));
    }
    super::print_events(&changeset, printer);
    super::finish(session.root(), &changeset, args.dry_run, printer)
}

/// Says where the calibration build is and how big; deletes it unless `keep`.
fn leave_build(root: &std::path::Path, target: &std::path::Path, keep: bool, printer: Printer) {
    let size = format_size(calibrate::dir_size(target));
    let shown = files::display(root, target);
    if keep {
        printer.status(
            "Kept",
            format!("the calibration build in {shown} ({size}); delete the folder when you are done with it"),
        );
        return;
    }
    match std::fs::remove_dir_all(target) {
        Ok(()) => printer.status(
            "Removed",
            format!("the calibration build in {shown} ({size}; `--keep` keeps it)"),
        ),
        Err(error) => ui::warn(format!(
            "cannot delete the calibration build in {shown} ({size}): {error}; delete it yourself"
        )),
    }
}

/// Gives `bar` the look of `shape`: a bar of an estimated total, or a spinner with the count.
fn shape_bar(bar: &indicatif::ProgressBar, shape: calibrate::ProgressShape) {
    let template = match shape {
        calibrate::ProgressShape::Bar { len } => {
            bar.set_length(len);
            "{spinner} [{bar:20}] {pos}/~{len} crates  {wide_msg}"
        }
        calibrate::ProgressShape::Count => {
            bar.unset_length();
            "{spinner} {pos} crates built  {wide_msg}"
        }
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
            .progress_chars("=> "),
    );
}

/// The progress bar of `calibrate`: units built, the heaviest compilation so far; cargo's own
/// lines are printed above it.
struct CalibrationProgress {
    bar: indicatif::ProgressBar,
    /// The crates expected, an estimate (see [`calibrate::progress_shape`]).
    estimate: Option<u64>,
    log: std::path::PathBuf,
    /// The heaviest compilation so far, and how much of the log has been read.
    heaviest: std::sync::Mutex<(String, u64, usize)>,
    printer: Printer,
}

impl calibrate::Progress for CalibrationProgress {
    fn quiet(&self) -> bool {
        self.printer.is_quiet()
    }

    fn unit(&self, name: &str) {
        self.bar.inc(1);
        let shape = calibrate::progress_shape(self.estimate, self.bar.position());
        if shape == calibrate::ProgressShape::Count && self.bar.length().is_some() {
            shape_bar(&self.bar, shape);
        }
        let Ok(mut heaviest) = self.heaviest.lock() else {
            return;
        };
        // The wrapper's new lines since the last unit.
        if let Ok(text) = std::fs::read_to_string(&self.log) {
            for invocation in calibrate::read_log(text.get(heaviest.2..).unwrap_or_default()) {
                if invocation.peak_bytes > heaviest.1 {
                    (heaviest.0, heaviest.1) = (invocation.krate, invocation.peak_bytes);
                }
            }
            heaviest.2 = text.len();
        }
        self.bar.set_message(format!(
            "{name} built; heaviest so far {} ({})",
            heaviest.0,
            format_size(heaviest.1)
        ));
    }

    fn line(&self, line: &str) {
        if self.bar.is_hidden() {
            ui::passthrough(line);
        } else {
            self.bar.println(line);
        }
    }
}

/// Days after which `check` calls a calibration stale.
const STALE_DAYS: i64 = 90;

/// Why the recorded calibration no longer describes this project's builds, if it does not.
pub(crate) fn stale_calibration(project: &Project, calibration: &calibrate::Calibration) -> Option<String> {
    // A summary of the last governed build is as fresh as that build, and names no version.
    if calibration.governed {
        return None;
    }
    let toolchain = calibrate::ToolchainEnv::from_env();
    let current = calibrate::rustc_version(&project.root, &toolchain);
    if let Some(current) = current
        && current != calibration.rustc
    {
        return Some(format!(
            "the calibration was measured with {}, and this project builds with {current} ({}): \
             run `memsafe calibrate` again, with the toolchain the project builds with (a \
             rust-toolchain.toml pins it for everyone)",
            calibration.rustc,
            toolchain.words(&project.root)
        ));
    }
    let age = calibrate::parse_date(&calibration.date).map(|day| calibrate::today() - day);
    match age {
        Some(days) if days > STALE_DAYS => Some(format!(
            "the calibration is {days} days old (more than {STALE_DAYS}): run `memsafe calibrate` again"
        )),
        None => Some(format!(
            "the calibration's date `{}` is not YYYY-MM-DD",
            calibration.date
        )),
        _ => None,
    }
}
