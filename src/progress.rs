//! indicatif progress bars, styled once: items, rate, ETA. Every bar joins one
//! `MultiProgress`, so stages running side by side (`ttc pipeline run --jobs`) each keep a
//! line of their own.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// The one set of lines every bar of this process draws in.
fn lines() -> &'static MultiProgress {
    static LINES: std::sync::OnceLock<MultiProgress> = std::sync::OnceLock::new();
    LINES.get_or_init(MultiProgress::new)
}

/// A bar over `len` items with a label.
pub fn bar(len: u64, label: &str) -> ProgressBar {
    let pb = lines().add(ProgressBar::new(len));
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    pb
}

/// A spinner for one long call whose progress is not observable.
pub fn spinner(label: &str) -> ProgressBar {
    let pb = lines().add(ProgressBar::new_spinner());
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} {spinner} {elapsed} {msg}")
            .expect("static template"),
    );
    pb.set_prefix(label.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// The pipeline's progress reporting on indicatif bars.
pub struct Bars;

struct IndicatifBar(ProgressBar);

impl ttc_pipeline::run::progress::Bar for IndicatifBar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn set_length(&self, len: u64) {
        self.0.set_length(len);
    }
    fn set_position(&self, pos: u64) {
        self.0.set_position(pos);
    }
    fn set_message(&self, msg: String) {
        self.0.set_message(msg);
    }
    fn reset_eta(&self) {
        self.0.reset_eta();
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl ttc_pipeline::run::progress::Progress for Bars {
    fn bar(&self, len: u64, label: &str) -> Box<dyn ttc_pipeline::run::progress::Bar + '_> {
        Box::new(IndicatifBar(bar(len, label)))
    }
    fn spinner(&self, label: &str) -> Box<dyn ttc_pipeline::run::progress::Bar + '_> {
        Box::new(IndicatifBar(spinner(label)))
    }
}
