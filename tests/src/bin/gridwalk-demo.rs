//! `cargo xtask demo`: build a demo tablet store over the generated Chaoyang registry, record a
//! few visits and issues at the article's real places, and print a summary.

use anyhow::{Context, Result};
use gridwalk_core::{CourtyardQuery, IssueFilter, NewIssue, NewVisit, SystemClock, Tablet};
use gridwalk_domain::registry_gen::demo_registry;
use gridwalk_domain::*;
use gridwalk_e2e::{offline_identity, TEST_KEY};
use std::sync::Arc;

fn main() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target/demo");
    std::fs::create_dir_all(&root)?;
    let db = root.join("tablet.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut t = Tablet::open(&db, &TEST_KEY, Arc::new(SystemClock::default())).context("open the demo store")?;
    t.set_identity(offline_identity(1))?;
    let reg = demo_registry();
    t.replace_registry(&reg)?;
    let places = [
        ("惠新西街33号院", Category::StreetLight, "3号楼前路灯不亮"),
        ("甘西", Category::Leak, "地下室管道跑冒滴漏"),
        ("花家地南里", Category::ElderlyCare, "独居老人需要助餐服务"),
    ];
    for (q, category, description) in places {
        let yard = t.search_courtyards(&CourtyardQuery { text: q.into(), limit: 1, ..Default::default() })?.remove(0);
        let issue = t.report_issue(NewIssue {
            courtyard: yard.id,
            category,
            source: IssueSource::Visit,
            description: description.into(),
            contact: Some(ResidentContact { name: None, phone: "13800001234".into() }),
            location: None,
            photos: vec![],
        })?;
        t.record_visit(NewVisit {
            courtyard: yard.id,
            mode: VisitMode::WalkThrough,
            started_at_ms: None,
            ended_at_ms: None,
            location: Some(Location { lat: yard.lat, lon: yard.lon, accuracy_m: 15.0 }),
            notes: format!("走访{}，居民反映：{description}", yard.name),
            residents_met: 4,
            linked_issues: vec![issue],
        })?;
        println!(
            "recorded at {} › {} › {}: {} ({})",
            yard.subdistrict_name,
            yard.community_name,
            yard.name,
            description,
            category.label_zh()
        );
    }
    let [s, c, y, m, tg] = t.registry_counts()?;
    let issues = t.list_issues(&IssueFilter::default(), None, 200)?.items.len();
    let sync = t.sync_state()?;
    println!("demo tablet store: {}", db.display());
    println!("registry: {s} subdistricts, {c} communities, {y} courtyards, {m} management grids, {tg} technical grids");
    println!("issues: {issues}; unsynced records: {}", sync.queue_depth);
    Ok(())
}
