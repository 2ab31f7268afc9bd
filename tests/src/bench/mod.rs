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

pub mod app_start;
pub mod server_ingest;
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
    let mut table = String::from("| benchmark | value | baseline | ratio | goal | what |\n|---|---|---|---|---|---|\n");
    for r in results {
        let _ = writeln!(
            table,
            "| `{}` | {:.1} {} | {:.1} {} | {:.2} | {} | {} |",
            r.name, r.value, r.unit, r.baseline, r.unit, r.ratio, r.goal, r.note
        );
    }
    const START: &str = "<!-- bench:start -->";
    const END: &str = "<!-- bench:end -->";
    let old = std::fs::read_to_string(markdown).unwrap_or_else(|_| format!("# Benchmarks\n\n{START}\n{END}\n"));
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => format!("{}{START}\n{table}{}", &old[..a], &old[b..]),
        _ => format!("{old}\n{START}\n{table}{END}\n"),
    };
    std::fs::write(markdown, new)
}
