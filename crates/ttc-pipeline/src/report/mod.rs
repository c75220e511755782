//! `ttc report`: `reports/<run>/report.md` and `report.html` (figures inline, no network)
//! from the tables the evaluation stages wrote, with a findings section that checks each
//! of the paper's claims against this run's numbers. Sections whose inputs do not exist yet
//! say which stage makes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use ttc_data::rows::{BinRow, SweepRow};
use ttc_eval::stats::wilson95;

use crate::layout::Layout;
use crate::stage::{Ctx, Stage};
use doc::{Block, render_html, render_md};
use figures::{Axes, Series, line_chart};

pub mod doc;
pub mod figures;

/// `ttc report`: reads whatever evaluation tables exist (each one optional: a section
/// whose table is missing says which stage makes it).
pub struct ReportStage {
    /// The labels of the plan's searches (their results are read when present).
    searches: Vec<String>,
}

impl ReportStage {
    pub fn new(searches: Vec<String>) -> Self {
        ReportStage { searches }
    }
}

impl Stage for ReportStage {
    fn id(&self) -> String {
        "report".into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn inputs(&self, _: &Layout) -> Vec<PathBuf> {
        Vec::new()
    }
    fn optional_inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = Vec::new();
        for large in [false, true] {
            let d = layout.policy_dir(large);
            i.extend(["pass_at_1_test.json", "pass_at_1_val.json"].map(|f| d.join(f)));
        }
        let prm = layout.prm_eval_dir();
        i.extend(["prm_eval.json", "scores.parquet"].map(|f| prm.join(f)));
        i.push(layout.analysis_dir("sweep").join("rows.parquet"));
        i.push(layout.analysis_dir("bins").join("bins.parquet"));
        let co = layout.analysis_dir("compute_optimal");
        i.extend(
            [
                "efficiency.csv",
                "per_bin.csv",
                "revisions_per_bin.csv",
                "revisions_efficiency.csv",
                "revisions_by_bin.csv",
            ]
            .map(|f| co.join(f)),
        );
        let ex = layout.analysis_dir("exchange");
        i.extend(["exchange.csv", "policies.json"].map(|f| ex.join(f)));
        let rev = layout.revision_eval_dir();
        i.extend(["selection.csv", "ratios.parquet"].map(|f| rev.join(f)));
        let chains = layout.chains_dir("test");
        i.extend(["chains.parquet", "stats.json"].map(|f| chains.join(f)));
        i.extend(
            self.searches
                .iter()
                .map(|l| layout.search_dir().join(l).join("results.parquet")),
        );
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let d = layout.report_dir();
        vec![d.join("report.md"), d.join("report.html")]
    }
    fn command(&self) -> String {
        "report".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        run(ctx)
    }
}

/// (strategy, x) → (right, total).
type Counts = BTreeMap<(String, u32), (u64, u64)>;

/// Per strategy: (x, right, total) in x order.
fn group(c: &Counts) -> BTreeMap<&str, Vec<(u32, u64, u64)>> {
    let mut by_s: BTreeMap<&str, Vec<(u32, u64, u64)>> = BTreeMap::new();
    for ((s, x), &(k, t)) in c {
        by_s.entry(s.as_str()).or_default().push((*x, k, t));
    }
    by_s
}

/// One accuracy line per strategy, with Wilson intervals.
fn series_of(c: &Counts) -> Vec<Series> {
    group(c)
        .into_iter()
        .map(|(s, v)| Series {
            label: s.to_string(),
            points: v
                .iter()
                .map(|&(x, k, t)| (f64::from(x), k as f64 / t as f64))
                .collect(),
            intervals: v.iter().map(|&(_, k, t)| wilson95(k, t)).collect(),
        })
        .collect()
}

/// Rows of one of our own CSV files (header skipped); `None` when the file is absent.
/// Rows of a header-first CSV written by an analysis stage; `None` when the file is absent.
pub(crate) fn csv_rows(path: &Path) -> Result<Option<Vec<Vec<String>>>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(
            t.lines()
                .skip(1)
                .map(|l| l.split(',').map(str::to_string).collect())
                .collect(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ttc_core::Error::io(path, e).into()),
    }
}

/// A CSV cell as a number (NaN when empty or not a number).
pub(crate) fn f(s: &str) -> f64 {
    s.parse().unwrap_or(f64::NAN)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// Accuracy with a Wilson interval and its count.
fn acc_cell(k: u64, n: u64) -> String {
    let (lo, hi) = wilson95(k, n);
    format!(
        "{} [{:.1}, {:.1}] (n={n})",
        pct(k as f64 / n.max(1) as f64),
        100.0 * lo,
        100.0 * hi
    )
}

fn missing(blocks: &mut Vec<Block>, what: &str, how: &str) {
    blocks.push(Block::Para(format!(
        "{what}: not computed yet — run `{how}`."
    )));
}

fn run(ctx: &Ctx) -> Result<()> {
    let started = Instant::now();
    let preset = ctx.preset;
    let base = ctx.layout.report_dir();
    let p = ctx.preset_path.display().to_string();
    let mut b: Vec<Block> = Vec::new();
    let mut findings: Vec<Vec<String>> = Vec::new();
    b.push(Block::Para(format!(
        "Run `{}` (preset `{p}`). Every accuracy carries a Wilson 95% interval and its count; budgets are generations N.",
        preset.name
    )));

    // Policy.
    b.push(Block::Heading("Policy".into()));
    let pdir = ctx.layout.policy_dir(false);
    let pass = ["test", "val"]
        .iter()
        .map(|s| (s, pdir.join(format!("pass_at_1_{s}.json"))))
        .find(|(_, f)| f.exists());
    match pass {
        Some((split, file)) => {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)?;
            let mut rows = Vec::new();
            if let Some(per) = v["per_level"].as_object() {
                for (l, x) in per {
                    let (k, n) = (x["correct"].as_u64(), x["total"].as_u64());
                    let cell = match (k, n) {
                        (Some(k), Some(n)) => acc_cell(k, n),
                        _ => x.as_f64().map(pct).unwrap_or_default(),
                    };
                    rows.push(vec![l.clone(), cell]);
                }
            }
            b.push(Block::Para(format!(
                "Greedy pass@1 on the {split} split, per task level."
            )));
            b.push(Block::Table {
                header: vec!["level".into(), "pass@1".into()],
                rows,
            });
        }
        None => missing(
            &mut b,
            "Policy pass@1",
            &format!("ttc eval policy --preset {p}"),
        ),
    }

    // PRM.
    b.push(Block::Heading("Process reward model".into()));
    let pe = base.join("prm").join("prm_eval.json");
    if pe.exists() {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&pe)?)?;
        let num = |x: &serde_json::Value| x.as_f64().map_or("–".into(), |x| format!("{x:.3}"));
        b.push(Block::Table {
            header: vec!["metric".into(), "value".into()],
            rows: vec![
                vec![
                    "step AUROC vs MC labels (held-out)".into(),
                    num(&v["step_auroc_vs_mc"]),
                ],
                vec![
                    "step AUROC vs true verdicts (test)".into(),
                    num(&v["test_step_auroc_vs_true"]),
                ],
                vec!["first-error F1".into(), num(&v["first_error"]["f1"])],
            ],
        });
        if let Ok(Some(rows)) = csv_rows(&base.join("prm").join("calibration_mc.csv")) {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| f(&r[2]) > 0.0)
                .map(|r| (f(&r[3]), f(&r[4])))
                .collect();
            let diag = Series {
                label: "ideal".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                intervals: vec![],
            };
            let cal = Series {
                label: "PRM".into(),
                points: pts,
                intervals: vec![],
            };
            b.push(Block::Figure {
                file: "prm_calibration.svg".into(),
                svg: line_chart(
                    &Axes {
                        title: "PRM calibration (held-out steps)",
                        x: "mean PRM score",
                        y: "mean MC label",
                        log2_x: false,
                        y_range: (0.0, 1.0),
                    },
                    &[cal, diag],
                )?,
                caption: "PRM step scores against Monte Carlo labels, in score deciles".into(),
            });
        }
    } else {
        missing(
            &mut b,
            "PRM evaluation",
            &format!("ttc eval prm --preset {p}"),
        );
    }

    // Accuracy vs budget.
    b.push(Block::Heading("Accuracy vs test-time budget".into()));
    let sf = base.join("sweep").join("rows.parquet");
    let mut at: Counts = BTreeMap::new();
    let sweep: Vec<SweepRow> = if sf.exists() {
        ttc_core::table::read_parquet(&sf)?
    } else {
        Vec::new()
    };
    for r in &sweep {
        let e = at.entry((r.strategy.clone(), r.n)).or_default();
        e.0 += u64::from(r.correct);
        e.1 += 1;
    }
    if at.is_empty() {
        missing(
            &mut b,
            "Budget sweep",
            &format!("ttc eval sweep --preset {p}"),
        );
    } else {
        let by_s = group(&at);
        let series = series_of(&at);
        let ymax = series
            .iter()
            .flat_map(|s| s.intervals.iter().map(|i| i.1))
            .fold(0.0, f64::max);
        b.push(Block::Figure {
            file: "accuracy_vs_budget.svg".into(),
            svg: line_chart(
                &Axes { title: "Accuracy vs budget", x: "generations N (log2)", y: "accuracy", log2_x: true, y_range: (0.0, (ymax * 1.1).clamp(0.05, 1.0)) },
                &series,
            )?,
            caption: "Test accuracy of each search strategy against the generation budget (bars: 95% intervals)".into(),
        });
        let ns: Vec<u32> = at
            .keys()
            .map(|k| k.1)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut header = vec!["strategy".to_string()];
        header.extend(ns.iter().map(|n| format!("N={n}")));
        let rows = by_s
            .iter()
            .map(|(s, v)| {
                let mut r = vec![s.to_string()];
                for n in &ns {
                    r.push(
                        v.iter()
                            .find(|x| x.0 == *n)
                            .map_or("".into(), |&(_, k, t)| acc_cell(k, t)),
                    );
                }
                r
            })
            .collect();
        b.push(Block::Table { header, rows });
        let get = |s: &str, n: u32| {
            at.get(&(s.to_string(), n))
                .map(|&(k, t)| k as f64 / t as f64)
        };
        let n_top = ns.iter().copied().filter(|&n| n <= 16).max().unwrap_or(1);
        if let (Some(w), Some(v), Some(m)) = (
            get("weighted-bon", n_top),
            get("bon", n_top),
            get("majority", n_top),
        ) {
            findings.push(vec![
                format!("weighted best-of-N beats vanilla best-of-N (N={n_top})"),
                (if w > v { "holds" } else { "does not hold" }).into(),
                format!("{} vs {}", pct(w), pct(v)),
            ]);
            findings.push(vec![
                format!("PRM-weighted best-of-N beats majority voting (N={n_top})"),
                (if w > m { "holds" } else { "does not hold" }).into(),
                format!("{} vs {}", pct(w), pct(m)),
            ]);
        }
        if let (Some(beam), Some(w)) = (get("beam-m4", 16), get("weighted-bon", 16)) {
            findings.push(vec![
                "beam search (M=4) vs weighted best-of-16".into(),
                (if beam > w {
                    "beam better"
                } else {
                    "best-of-N better"
                })
                .into(),
                format!("{} vs {}", pct(beam), pct(w)),
            ]);
        }
    }

    // Difficulty bins.
    b.push(Block::Heading("Difficulty bins".into()));
    let bf = base.join("bins").join("bins.parquet");
    if bf.exists() && !sweep.is_empty() {
        let bins: Vec<BinRow> = ttc_core::table::read_parquet(&bf)?;
        let bin_of: BTreeMap<&str, u8> = bins
            .iter()
            .map(|r| (r.question_id.as_str(), r.oracle_bin))
            .collect();
        let mut per: Counts = BTreeMap::new();
        for r in sweep.iter().filter(|r| r.n == 16) {
            if let Some(&bin) = bin_of.get(r.question_id.as_str()) {
                let e = per.entry((r.strategy.clone(), u32::from(bin))).or_default();
                e.0 += u64::from(r.correct);
                e.1 += 1;
            }
        }
        let series = series_of(&per);
        b.push(Block::Figure {
            file: "strategies_by_bin.svg".into(),
            svg: line_chart(
                &Axes {
                    title: "Strategies by oracle difficulty bin (N=16)",
                    x: "oracle bin (1 = easiest)",
                    y: "accuracy",
                    log2_x: false,
                    y_range: (0.0, 1.0),
                },
                &series,
            )?,
            caption: "Accuracy at N=16 per oracle difficulty bin (quantiles of pass@1)".into(),
        });
    } else {
        missing(
            &mut b,
            "Difficulty bins",
            &format!("ttc eval bins --preset {p}"),
        );
    }

    // Compute-optimal.
    b.push(Block::Heading("Compute-optimal scaling".into()));
    match csv_rows(&base.join("compute_optimal").join("efficiency.csv"))? {
        Some(rows) => {
            let mut series = Vec::new();
            for kind in ["oracle", "predicted"] {
                let pts: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| r[0] == kind)
                    .map(|r| (f(&r[1]), f(&r[3])))
                    .collect();
                series.push(Series {
                    label: format!("compute-optimal ({kind} bins)"),
                    points: pts,
                    intervals: vec![],
                });
            }
            let bon: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r[0] == "oracle")
                .map(|r| (f(&r[1]), f(&r[2])))
                .collect();
            series.push(Series {
                label: "weighted best-of-N".into(),
                points: bon,
                intervals: vec![],
            });
            let ymax = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .fold(0.0, f64::max);
            b.push(Block::Figure {
                file: "compute_optimal.svg".into(),
                svg: line_chart(
                    &Axes { title: "Compute-optimal vs best-of-N", x: "generations N (log2)", y: "accuracy", log2_x: true, y_range: (0.0, (ymax * 1.2).clamp(0.05, 1.0)) },
                    &series,
                )?,
                caption: "Two-fold cross-validated compute-optimal selection per bin vs weighted best-of-N".into(),
            });
            b.push(Block::Table {
                header: crate::stages::analysis::co_efficiency_header("weighted BoN"),
                rows: rows.clone(),
            });
            if let Some(r) = rows.iter().rfind(|r| r[0] == "oracle") {
                findings.push(vec![
                    format!(
                        "compute-optimal is more efficient than best-of-N (paper ≈4×), at N={}",
                        r[1]
                    ),
                    (if f(&r[5]) >= 2.0 {
                        "holds"
                    } else {
                        "does not hold"
                    })
                    .into(),
                    format!("N/N' = {}", if r[5].is_empty() { "–" } else { &r[5] }),
                ]);
            }
        }
        None => missing(
            &mut b,
            "Compute-optimal",
            &format!("ttc eval compute-optimal --preset {p}"),
        ),
    }

    // Revisions.
    b.push(Block::Heading("Revisions".into()));
    let stats = ctx.layout.chains_dir("test").join("stats.json");
    if stats.exists() {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats)?)?;
        let p1: Vec<f64> = v["pass_at_1"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default();
        b.push(Block::Figure {
            file: "revision_pass_at_1.svg".into(),
            svg: line_chart(
                &Axes {
                    title: "Revision pass@1 per step",
                    x: "revision step",
                    y: "pass@1",
                    log2_x: false,
                    y_range: (
                        0.0,
                        (p1.iter().cloned().fold(0.0, f64::max) * 1.3).clamp(0.05, 1.0),
                    ),
                },
                &[Series {
                    label: "revision model".into(),
                    points: p1.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect(),
                    intervals: vec![],
                }],
            )?,
            caption: "Pass@1 at each revision step (mean over chains)".into(),
        });
        let rw = v["right_to_wrong"].as_f64().unwrap_or(f64::NAN);
        b.push(Block::Para(format!(
            "Right answers revised into wrong ones: {} of {} transitions; wrong into right: {}.",
            pct(rw),
            v["transitions_from_right"],
            pct(v["wrong_to_right"].as_f64().unwrap_or(f64::NAN))
        )));
        if p1.len() > 4 {
            // Judged on the paired difference over questions (95% interval), not on the two
            // point estimates: a point or two either way is noise on 100 questions.
            let cf = stats.with_file_name("chains.parquet");
            let rows: Vec<ttc_data::rows::ChainRow> = if cf.exists() {
                ttc_core::table::read_parquet(&cf)?
            } else {
                Vec::new()
            };
            let (verdict, detail) = match ttc_data::revision::paired_step_gain(&rows, 0, 4) {
                Some((d, se, n)) => {
                    let (lo, hi) = (d - 1.96 * se, d + 1.96 * se);
                    let verdict = if lo > 0.0 {
                        "holds"
                    } else if hi < 0.0 {
                        "does not hold"
                    } else {
                        "not significant"
                    };
                    let detail = format!(
                        "{} vs {}; paired difference {:+.1} points, 95% [{:+.1}, {:+.1}], {n} questions",
                        pct(p1[4]),
                        pct(p1[0]),
                        100.0 * d,
                        100.0 * lo,
                        100.0 * hi
                    );
                    (verdict, detail)
                }
                None => (
                    if p1[4] > p1[0] {
                        "holds"
                    } else {
                        "does not hold"
                    },
                    format!("{} vs {}", pct(p1[4]), pct(p1[0])),
                ),
            };
            findings.push(vec![
                "revisions improve pass@1 (step 4 vs step 0)".into(),
                verdict.into(),
                detail,
            ]);
        }
        findings.push(vec![
            "share of right answers revised to wrong (paper ≈38%)".into(),
            "measured".into(),
            pct(rw),
        ]);
        if let Some(rows) = csv_rows(&base.join("revisions").join("selection.csv"))? {
            b.push(Block::Table {
                header: [
                    "chain length",
                    "last",
                    "majority",
                    "ORM-weighted",
                    "hierarchical",
                    "flat majority",
                    "chains",
                    "questions",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            });
        }
    } else {
        missing(
            &mut b,
            "Revision chains",
            &format!("ttc revise --preset {p}"),
        );
    }

    crate::stages::ratios::report_blocks(&base, &mut b, &mut findings)?;

    // Exchange.
    b.push(Block::Heading(
        "Test-time compute vs a larger model (FLOPs-matched)".into(),
    ));
    if !crate::stages::exchange::report_blocks(&base, &mut b, &mut findings)? {
        missing(
            &mut b,
            "The exchange",
            &format!(
                "just policy-large; ttc eval policy --large --split test --preset {p}; ttc eval exchange --preset {p}"
            ),
        );
    }

    // Findings first in the document.
    let mut doc = vec![Block::Heading("Findings".into())];
    if findings.is_empty() {
        doc.push(Block::Para(
            "No finding can be checked yet: run the evaluation stages.".into(),
        ));
    } else {
        doc.push(Block::Table {
            header: ["claim (Snell et al.)", "on this run", "numbers"]
                .map(String::from)
                .to_vec(),
            rows: findings,
        });
    }
    doc.extend(b);
    let title = format!("ttc report — {}", preset.name);
    let fig_dir = base.join("figures");
    for blk in &doc {
        if let Block::Figure { file, svg, .. } = blk {
            ttc_core::atomic::write_atomic(&fig_dir.join(file), svg.as_bytes())?;
        }
    }
    ttc_core::atomic::write_atomic(
        &base.join("report.md"),
        format!("# {title}\n{}", render_md(&doc)).as_bytes(),
    )?;
    ttc_core::atomic::write_atomic(
        &base.join("report.html"),
        render_html(&title, &doc).as_bytes(),
    )?;
    eprintln!(
        "report: wrote {} and report.html ({} figures) in {:.2}s",
        base.join("report.md").display(),
        doc.iter()
            .filter(|b| matches!(b, Block::Figure { .. }))
            .count(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
