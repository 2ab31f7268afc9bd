//! `cargo xtask bench`: every benchmark, each as a ratio against a bare baseline measured in
//! the same run. Writes target/bench/results.jsonl and the table in BENCHMARKS.md.
//!
//! `gridwalk-bench [NAME-PREFIX…]` runs only the benchmarks whose names start with a prefix.

use anyhow::Result;
use gridwalk_e2e::bench::{self, BenchResult};

type Bench = (&'static str, fn(&std::path::Path) -> Vec<BenchResult>);

const BENCHES: &[Bench] = &[
    ("store.record_issue", |d| vec![bench::store::record_issue(d)]),
    ("store.first_page_of_100k", |d| vec![bench::store::first_page(d)]),
    ("store.nearby_of_100k", |d| vec![bench::store::nearby(d)]),
    ("server.ingest_4000_devices", bench::server_ingest::run_in),
    ("server.ingest_pg", bench::server_ingest::run_postgres_in),
    ("server.views", bench::server_views::run),
    ("server.dispatch_4000_waiting", bench::dispatch::run),
    ("console.over_1m_issues", bench::console::run),
    ("foresight.over_1m_issues", bench::foresight::run),
    ("sync.loopback", bench::sync::run),
    ("sync.link", bench::link::run),
    ("app.cold_start_today", bench::app_start::run),
];

fn main() -> Result<()> {
    let filters: Vec<String> = std::env::args().skip(1).collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut results = Vec::new();
    for (name, run) in BENCHES {
        if !filters.is_empty() && !filters.iter().any(|f| name.starts_with(f.as_str())) {
            continue;
        }
        let dir = tempfile::tempdir()?;
        eprintln!("bench: {name} …");
        for r in run(dir.path()) {
            eprintln!(
                "bench: {} = {:.1} {} (baseline {:.1}, ratio {:.2}, goal {}) {}",
                r.name, r.value, r.unit, r.baseline, r.ratio, r.goal, r.note
            );
            results.push(r);
        }
    }
    bench::write_results(&results, &root.join("target/bench/results.jsonl"), &root.join("BENCHMARKS.md"))?;
    Ok(())
}
