//! DeepConf's confidences (Fu et al. 2025): a token's confidence is the negative mean of its
//! top-k log-probabilities (higher: more peaked); a group confidence is the mean over a
//! sliding window of `group` consecutive tokens. One definition for the search, which judges
//! whole traces, and the decoder, which stops a trace the moment a window falls below a
//! threshold: both classify a trace alike, bit for bit.

/// A token's confidence from its top-k log-probabilities: −(1/k) Σ log p (0 without any).
pub fn token_confidence(top_logprobs: impl ExactSizeIterator<Item = f32>) -> f32 {
    let k = top_logprobs.len().max(1) as f32;
    -top_logprobs.sum::<f32>() / k
}

/// The mean of the last `group` token confidences, kept as tokens arrive.
#[derive(Debug, Clone)]
pub struct GroupWindow {
    group: usize,
    recent: std::collections::VecDeque<f32>,
    sum: f64,
}

impl GroupWindow {
    /// A window of `group` tokens (at least 1).
    pub fn new(group: usize) -> Self {
        let group = group.max(1);
        GroupWindow {
            group,
            recent: std::collections::VecDeque::with_capacity(group + 1),
            sum: 0.0,
        }
    }

    /// Add the next token's confidence; the window's mean once it holds `group` tokens.
    pub fn push(&mut self, c: f32) -> Option<f32> {
        self.recent.push_back(c);
        if self.recent.len() > self.group {
            let old = self.recent.pop_front().expect("longer than the window");
            self.sum += f64::from(c) - f64::from(old);
        } else {
            self.sum += f64::from(c);
        }
        (self.recent.len() == self.group).then(|| (self.sum / self.group as f64) as f32)
    }
}

/// The lowest mean of `group` consecutive token confidences (the mean of all when the trace
/// is shorter); 0 for a trace without tokens.
pub fn lowest_group_confidence(conf: &[f32], group: usize) -> f32 {
    if conf.is_empty() {
        return 0.0;
    }
    let mut w = GroupWindow::new(group.clamp(1, conf.len()));
    conf.iter()
        .filter_map(|&c| w.push(c))
        .fold(f32::INFINITY, f32::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_window_mean_finds_the_weakest_stretch() {
        let c = [5.0, 5.0, 1.0, 2.0, 5.0, 5.0];
        // Windows of 2: 5, 3, 1.5, 3.5, 5 → 1.5.
        assert_eq!(lowest_group_confidence(&c, 2), 1.5);
        // A window longer than the trace: the mean of all.
        assert!((lowest_group_confidence(&c, 50) - 23.0 / 6.0).abs() < 1e-6);
        assert_eq!(lowest_group_confidence(&[], 4), 0.0);
    }

    #[test]
    fn the_window_reports_once_full_and_then_every_token() {
        let mut w = GroupWindow::new(3);
        let got: Vec<Option<f32>> = [3.0, 6.0, 9.0, 0.0, 3.0].map(|c| w.push(c)).to_vec();
        assert_eq!(got, vec![None, None, Some(6.0), Some(5.0), Some(4.0)]);
        assert_eq!(token_confidence([-1.0f32, -3.0].into_iter()), 2.0);
    }
}
