//! Benchmarks for `cargo xtask bench`. Every figure is a ratio against a bare baseline measured
//! in the same process run, so a noisy shared machine moves both sides together.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub baseline: f64,
    /// How we compare with the baseline; see `goal` for which direction is good.
    pub ratio: f64,
    /// Human-readable goal, e.g. ">= 0.6" (not serialized into results.jsonl).
    #[serde(skip)]
    pub goal: String,
    #[serde(skip)]
    pub note: String,
}

/// The median of `xs` (the upper one of an even count).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

pub mod app_start;
pub mod console;
pub mod dispatch;
pub mod foresight;
pub mod link;
pub mod server_ingest;
pub mod server_views;
pub mod store;
pub mod sync;

/// Write results as JSON lines and as the table in BENCHMARKS.md (between markers).
pub fn write_results(results: &[BenchResult], jsonl: &std::path::Path, markdown: &std::path::Path) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut lines = String::new();
    for r in results {
        lines.push_str(&serde_json::to_string(r).expect("serializable"));
        lines.push('\n');
    }
    if let Some(dir) = jsonl.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(jsonl, lines)?;
    const START: &str = "<!-- bench:start -->";
    const END: &str = "<!-- bench:end -->";
    let old = std::fs::read_to_string(markdown).unwrap_or_else(|_| format!("# Benchmarks\n\n{START}\n{END}\n"));
    // A run of some benchmarks (`cargo xtask bench server`) replaces their rows and keeps the
    // others' rows from earlier runs, so the table always shows every benchmark.
    let row = |r: &BenchResult| {
        format!("| `{}` | {:.1} {} | {:.1} {} | {:.2} | {} | {} |", r.name, r.value, r.unit, r.baseline, r.unit, r.ratio, r.goal, r.note)
    };
    let kept: Vec<String> = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => old[a + START.len()..b].lines().skip(3).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let name_of = |line: &str| line.split('`').nth(1).map(str::to_owned);
    let mut lines: Vec<String> = Vec::new();
    for line in kept.iter().filter(|l| l.starts_with("| `")) {
        match results.iter().find(|r| name_of(line).as_deref() == Some(r.name.as_str())) {
            Some(r) => lines.push(row(r)),
            None => lines.push(line.clone()),
        }
    }
    for r in results {
        if !kept.iter().any(|l| name_of(l).as_deref() == Some(r.name.as_str())) {
            lines.push(row(r));
        }
    }
    let mut table = String::from("| benchmark | value | baseline | ratio | goal | what |\n|---|---|---|---|---|---|\n");
    for l in lines {
        let _ = writeln!(table, "{l}");
    }
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => format!("{}{START}\n{table}{}", &old[..a], &old[b..]),
        _ => format!("{old}\n{START}\n{table}{END}\n"),
    };
    std::fs::write(markdown, new)
}
