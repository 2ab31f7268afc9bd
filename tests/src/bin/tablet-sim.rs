//! A scripted tablet in its own process. Tests kill it with SIGKILL at random moments and then
//! check the store: every record whose call returned must be there.
//!
//! `tablet-sim record DB COUNT`: report COUNT issues, printing `ok <issue id>` after each call
//! returns (i.e. after its commit).
//! `tablet-sim sync DB URL [RECORD]`: record RECORD more issues, then sync once with URL,
//! printing progress lines; tests kill it mid-sync.

use anyhow::{bail, Context, Result};
use gridwalk_core::sync::{HttpTransport, Progress, SyncOptions};
use gridwalk_core::{CourtyardQuery, NewIssue, SystemClock, Tablet};
use gridwalk_domain::{Category, IssueSource};
use gridwalk_e2e::TEST_KEY;
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["record", db, count] => record(db, count.parse()?),
        ["sync", db, url] => sync(db, url, 0),
        ["sync", db, url, n] => sync(db, url, n.parse()?),
        _ => bail!("usage: tablet-sim record DB COUNT | sync DB URL [RECORD]"),
    }
}

fn sync(db: &str, url: &str, record_first: usize) -> Result<()> {
    if record_first > 0 {
        record(db, record_first)?;
    }
    let mut t = Tablet::open(db.as_ref(), &TEST_KEY, Arc::new(SystemClock::default())).context("open")?;
    let transport = HttpTransport::new(url).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let opts = SyncOptions { backoff_base_ms: 20, backoff_cap_ms: 200, ..Default::default() };
    let cancel = AtomicBool::new(false);
    let mut out = std::io::stdout();
    let report = gridwalk_core::sync::sync(&mut t, &transport, &opts, &cancel, &mut |p: &Progress| {
        let _ =
            writeln!(out, "progress {:?} {}/{} events {}/{} bytes", p.phase, p.events_done, p.events_total, p.bytes_done, p.bytes_total);
    })?;
    println!("done pushed={} pulled={} rejected={}", report.pushed, report.pulled, report.rejected);
    Ok(())
}

fn record(db: &str, count: usize) -> Result<()> {
    let mut t = Tablet::open(db.as_ref(), &TEST_KEY, Arc::new(SystemClock::default())).context("open")?;
    let yards = t.search_courtyards(&CourtyardQuery { limit: 20, ..Default::default() })?;
    let mut out = std::io::stdout().lock();
    for i in 0..count {
        let id = t.report_issue(NewIssue {
            courtyard: yards[i % yards.len()].id,
            category: Category::ALL[i % Category::ALL.len()],
            source: IssueSource::Visit,
            description: format!("崩溃测试诉求 {i}"),
            contact: None,
            location: None,
            photos: vec![],
        })?;
        writeln!(out, "ok {id}")?;
        out.flush()?;
    }
    Ok(())
}
