//! The analysis tables (DESIGN §9, §10): compute-optimal selection per bin, its efficiency
//! against a baseline, the accuracy of each revision split, sequential:parallel ratios,
//! revision selection and the FLOPs-matched exchange. Each row is written as parquet (the
//! stage contract, read by the report and by later stages) and exported as CSV for people;
//! [`CsvRow::fields`] is the one formatting of a row, used by the CSV export and by the
//! report's tables alike.

use serde::{Deserialize, Serialize};

/// A row with a CSV export.
pub trait CsvRow {
    /// The row's cells as the CSV export and the report print them.
    fn fields(&self) -> Vec<String>;
}

/// `header` then one line per row.
pub fn csv_text<R: CsvRow>(header: &str, rows: &[R]) -> String {
    let mut s = format!("{header}\n");
    for r in rows {
        s.push_str(&r.fields().join(","));
        s.push('\n');
    }
    s
}

fn f4(x: f64) -> String {
    format!("{x:.4}")
}

/// Compute-optimal accuracy in one difficulty bin at one budget (two-fold CV).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeOptimalRow {
    /// `oracle` or `predicted` bins.
    pub bins: String,
    /// The verifier every method of the pool selects with (`prm`, `likelihood`; `orm` for
    /// revisions): compute-optimal chooses among one verifier's methods, as the paper does.
    #[serde(default)]
    pub verifier: String,
    pub bin: u8,
    pub budget: u32,
    /// Held-out accuracy (both folds, question-weighted).
    pub accuracy: f64,
    pub questions: u64,
    /// The method chosen on each fold (and scored on the other).
    pub chosen_fold0: String,
    pub chosen_fold1: String,
    pub lo95: f64,
    pub hi95: f64,
}

impl ComputeOptimalRow {
    pub const HEADER: &'static str =
        "bins,verifier,bin,budget,accuracy,questions,chosen_fold0,chosen_fold1,lo95,hi95";
}

impl CsvRow for ComputeOptimalRow {
    fn fields(&self) -> Vec<String> {
        vec![
            self.bins.clone(),
            self.verifier.clone(),
            self.bin.to_string(),
            self.budget.to_string(),
            f4(self.accuracy),
            self.questions.to_string(),
            self.chosen_fold0.clone(),
            self.chosen_fold1.clone(),
            f4(self.lo95),
            f4(self.hi95),
        ]
    }
}

/// Compute-optimal accuracy at budget N over all bins against a baseline's: the smallest
/// budget N' at which compute-optimal matches the baseline at N, and N/N'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfficiencyRow {
    pub bins: String,
    /// The verifier of the pool and of the baseline (see [`ComputeOptimalRow::verifier`]).
    #[serde(default)]
    pub verifier: String,
    /// The baseline method (`weighted-bon`, `bon-likelihood`, `1:N`, …).
    #[serde(default)]
    pub against: String,
    pub n: u32,
    /// The baseline's accuracy at N (`None`: the baseline was not run at N).
    pub baseline: Option<f64>,
    pub compute_optimal: f64,
    pub matching_n: Option<u32>,
    pub efficiency: Option<f64>,
    pub questions: u64,
    pub co_lo95: f64,
    pub co_hi95: f64,
    /// Bootstrap 95% interval of `efficiency` over questions (the CV choice redone on each
    /// resample; a resample that never reaches the baseline counts as 0).
    #[serde(default)]
    pub efficiency_lo95: Option<f64>,
    #[serde(default)]
    pub efficiency_hi95: Option<f64>,
}

impl EfficiencyRow {
    /// The CSV header, `baseline` naming the third column (`weighted_bon`, `parallel`).
    pub fn header(baseline: &str) -> String {
        format!(
            "bins,verifier,against,n,{baseline},compute_optimal,matching_n,efficiency,questions,co_lo95,co_hi95,efficiency_lo95,efficiency_hi95"
        )
    }
}

impl CsvRow for EfficiencyRow {
    fn fields(&self) -> Vec<String> {
        vec![
            self.bins.clone(),
            self.verifier.clone(),
            self.against.clone(),
            self.n.to_string(),
            f4(self.baseline.unwrap_or(f64::NAN)),
            f4(self.compute_optimal),
            self.matching_n.map_or(String::new(), |v| v.to_string()),
            self.efficiency.map_or(String::new(), |v| format!("{v:.2}")),
            self.questions.to_string(),
            f4(self.co_lo95),
            f4(self.co_hi95),
            self.efficiency_lo95
                .map_or(String::new(), |v| format!("{v:.2}")),
            self.efficiency_hi95
                .map_or(String::new(), |v| format!("{v:.2}")),
        ]
    }
}

/// Accuracy of one sequential:parallel split in one bin at one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitAccuracyRow {
    pub bins: String,
    pub bin: u8,
    pub n: u32,
    /// `s:p`.
    pub split: String,
    pub accuracy: f64,
    pub questions: u64,
}

impl SplitAccuracyRow {
    pub const HEADER: &'static str = "bins,bin,n,split,accuracy,questions";
}

impl CsvRow for SplitAccuracyRow {
    fn fields(&self) -> Vec<String> {
        vec![
            self.bins.clone(),
            self.bin.to_string(),
            self.n.to_string(),
            self.split.clone(),
            f4(self.accuracy),
            self.questions.to_string(),
        ]
    }
}

/// Accuracy of one sequential:parallel split of budget N over all questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatioAccuracyRow {
    pub n: u32,
    pub sequential: u32,
    pub parallel: u32,
    pub accuracy: f64,
    pub lo95: f64,
    pub hi95: f64,
    pub questions: u64,
}

impl RatioAccuracyRow {
    pub const HEADER: &'static str = "n,sequential,parallel,accuracy,lo95,hi95,questions";
}

impl CsvRow for RatioAccuracyRow {
    fn fields(&self) -> Vec<String> {
        vec![
            self.n.to_string(),
            self.sequential.to_string(),
            self.parallel.to_string(),
            f4(self.accuracy),
            f4(self.lo95),
            f4(self.hi95),
            self.questions.to_string(),
        ]
    }
}

/// Selection over revision chains cut to one length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionSelectionRow {
    /// Attempts per chain.
    pub length: usize,
    /// The chain's last answer.
    pub last: f64,
    /// Majority within a chain.
    pub majority: f64,
    /// ORM-weighted best-of-N within a chain.
    pub orm_weighted: f64,
    /// ORM-weighted within chains, then across their winners.
    pub hierarchical: f64,
    /// Majority over every attempt of every chain.
    pub flat_majority: f64,
    pub chains: usize,
    pub questions: usize,
}

impl RevisionSelectionRow {
    pub const HEADER: &'static str =
        "length,last,majority,orm_weighted,hierarchical,flat_majority,chains,questions";
}

impl CsvRow for RevisionSelectionRow {
    fn fields(&self) -> Vec<String> {
        vec![
            self.length.to_string(),
            f4(self.last),
            f4(self.majority),
            f4(self.orm_weighted),
            f4(self.hierarchical),
            f4(self.flat_majority),
            self.chains.to_string(),
            self.questions.to_string(),
        ]
    }
}

/// The FLOPs-matched exchange in one bin at one inference:pretraining ratio R.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeRow {
    pub bins: String,
    pub bin: u8,
    /// R = D_inference / D_pretrain.
    pub ratio_r: f64,
    /// Generations N(R) the small model may spend at equal FLOPs.
    pub matched_n: f64,
    /// The largest swept budget ≤ N(R).
    pub budget: u32,
    /// The sweep stops below N(R).
    pub budget_capped: bool,
    pub small_compute_optimal: f64,
    pub questions: u64,
    pub large_greedy: f64,
    pub large_lo95: f64,
    pub large_hi95: f64,
    pub large_questions: u64,
    /// `small+ttc`, `large` or `tie`.
    pub winner: String,
}

impl ExchangeRow {
    pub const HEADER: &'static str = "bins,bin,ratio_r,matched_n,budget,budget_capped,small_compute_optimal,questions,large_greedy,large_lo95,large_hi95,large_questions,winner";
}

impl CsvRow for ExchangeRow {
    fn fields(&self) -> Vec<String> {
        vec![
            self.bins.clone(),
            self.bin.to_string(),
            self.ratio_r.to_string(),
            format!("{:.1}", self.matched_n),
            self.budget.to_string(),
            self.budget_capped.to_string(),
            f4(self.small_compute_optimal),
            self.questions.to_string(),
            f4(self.large_greedy),
            f4(self.large_lo95),
            f4(self.large_hi95),
            self.large_questions.to_string(),
            self.winner.clone(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_keep_the_export_format() {
        let e = EfficiencyRow {
            bins: "oracle".into(),
            verifier: "orm".into(),
            against: "1:N".into(),
            n: 4,
            baseline: None,
            compute_optimal: 0.5,
            matching_n: Some(2),
            efficiency: Some(2.0),
            questions: 10,
            co_lo95: 0.25,
            co_hi95: 0.75,
            efficiency_lo95: Some(1.0),
            efficiency_hi95: None,
        };
        assert_eq!(
            csv_text(&EfficiencyRow::header("parallel"), &[e]),
            "bins,verifier,against,n,parallel,compute_optimal,matching_n,efficiency,questions,co_lo95,co_hi95,efficiency_lo95,efficiency_hi95\n\
             oracle,orm,1:N,4,NaN,0.5000,2,2.00,10,0.2500,0.7500,1.00,\n"
        );
        let x = ExchangeRow {
            bins: "oracle".into(),
            bin: 1,
            ratio_r: 22.0,
            matched_n: 16.59,
            budget: 16,
            budget_capped: false,
            small_compute_optimal: 0.5,
            questions: 3,
            large_greedy: 0.25,
            large_lo95: 0.1,
            large_hi95: 0.6,
            large_questions: 4,
            winner: "small+ttc".into(),
        };
        assert_eq!(
            x.fields().join(","),
            "oracle,1,22,16.6,16,false,0.5000,3,0.2500,0.1000,0.6000,4,small+ttc"
        );
    }
}
