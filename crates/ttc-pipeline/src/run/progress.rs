//! Progress reporting as the pipeline sees it. The CLI implements [`Progress`] with
//! indicatif bars; library code only calls these methods (STYLE 10: no indicatif here).

/// One bar or spinner.
pub trait Bar {
    fn inc(&self, n: u64);
    fn set_length(&self, len: u64);
    fn set_position(&self, pos: u64);
    fn set_message(&self, msg: String);
    /// Start the rate / ETA estimate afresh (a resumed run starts mid-way).
    fn reset_eta(&self) {}
    /// Remove the bar (the stage prints its own one-line summary).
    fn finish(&self);
}

/// Makes bars.
pub trait Progress: Sync {
    /// A bar over `len` items with a label.
    fn bar(&self, len: u64, label: &str) -> Box<dyn Bar + '_>;
    /// A spinner for one long call whose progress is not observable.
    fn spinner(&self, label: &str) -> Box<dyn Bar + '_>;
}

/// No output at all (tests, library callers).
pub struct Silent;

struct SilentBar;

impl Bar for SilentBar {
    fn inc(&self, _: u64) {}
    fn set_length(&self, _: u64) {}
    fn set_position(&self, _: u64) {}
    fn set_message(&self, _: String) {}
    fn finish(&self) {}
}

impl Progress for Silent {
    fn bar(&self, _: u64, _: &str) -> Box<dyn Bar + '_> {
        Box::new(SilentBar)
    }
    fn spinner(&self, _: &str) -> Box<dyn Bar + '_> {
        Box::new(SilentBar)
    }
}
