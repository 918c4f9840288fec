//! Progress of a step loop: a bar with ETA on a terminal, or, with `recfound recipe --no-tui`,
//! one log line per step (for CI logs, `nohup` and files, where a redrawn bar is noise).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Set once by the CLI before a run starts; a process-wide display choice, not a training
/// setting, so it is not part of any recipe (a resumed run may switch it freely).
static LOG_LINES: AtomicBool = AtomicBool::new(false);

/// Logs one line per step instead of drawing a bar (`--no-tui`).
pub fn set_log_lines(on: bool) {
    LOG_LINES.store(on, Ordering::Relaxed);
}

/// A step loop's progress: the loops call the same methods in both modes.
pub struct StepProgress {
    bar: indicatif::ProgressBar,
    log: Option<std::cell::RefCell<LogState>>,
}

struct LogState {
    total: u64,
    position: u64,
    /// Position and time when logging started (a resumed run starts past 0).
    start: (u64, Instant),
    message: String,
}

/// The progress of a loop of `steps` steps.
pub fn step_progress(steps: usize) -> StepProgress {
    if LOG_LINES.load(Ordering::Relaxed) {
        let log = LogState { total: steps as u64, position: 0, start: (0, Instant::now()), message: String::new() };
        return StepProgress { bar: indicatif::ProgressBar::hidden(), log: Some(std::cell::RefCell::new(log)) };
    }
    let style = indicatif::ProgressStyle::with_template("train {bar:30} {pos}/{len} steps, {elapsed} elapsed, ETA {eta} {msg}")
        .expect("a valid template");
    StepProgress { bar: indicatif::ProgressBar::new(steps as u64).with_style(style), log: None }
}

impl StepProgress {
    pub fn set_position(&self, position: u64) {
        self.bar.set_position(position);
        if let Some(log) = &self.log {
            let mut log = log.borrow_mut();
            log.position = position;
            log.start = (position, Instant::now());
        }
    }

    pub fn set_message(&self, message: String) {
        match &self.log {
            Some(log) => log.borrow_mut().message = message,
            None => self.bar.set_message(message),
        }
    }

    /// One step done: the bar moves, or a line `step N/M <message> (ETA ...)` is logged.
    pub fn inc(&self, steps: u64) {
        self.bar.inc(steps);
        if let Some(log) = &self.log {
            let mut log = log.borrow_mut();
            log.position += steps;
            let done = log.position - log.start.0;
            let per_step = log.start.1.elapsed().as_secs_f64() / done.max(1) as f64;
            let eta = per_step * log.total.saturating_sub(log.position) as f64;
            tracing::info!("step {}/{} {} ({per_step:.2}s/step, ETA {eta:.0}s)", log.position, log.total, log.message);
        }
    }

    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }
}
