//! A scripted tablet in its own process. Tests kill it with SIGKILL at random moments and then
//! check the store: every record whose call returned must be there.
//!
//! `tablet-sim record DB COUNT`: report COUNT issues, printing `ok <issue id>` after each call
//! returns (i.e. after its commit).

use anyhow::{bail, Context, Result};
use gridwalk_core::{CourtyardQuery, NewIssue, SystemClock, Tablet};
use gridwalk_domain::{Category, IssueSource};
use gridwalk_e2e::TEST_KEY;
use std::io::Write;
use std::sync::Arc;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["record", db, count] => record(db, count.parse()?),
        _ => bail!("usage: tablet-sim record DB COUNT"),
    }
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
