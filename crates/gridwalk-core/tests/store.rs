//! The tablet store through its use-case API, on real encrypted SQLite files.

use gridwalk_core::*;
use gridwalk_domain::registry_gen::demo_registry;
use gridwalk_domain::*;
use std::sync::Arc;

const T0: i64 = 1_764_000_000_000;

fn tablet(dir: &tempfile::TempDir) -> (Tablet, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let mut t = Tablet::open(&dir.path().join("t.db"), &StoreKey([3; 32]), clock.clone()).unwrap();
    t.set_identity(Identity { worker: WorkerId::from_parts(1, [1; 10]), device: DeviceId::from_parts(1, [2; 10]) }).unwrap();
    t.replace_registry(&demo_registry()).unwrap();
    (t, clock)
}

fn yard(t: &Tablet, name: &str) -> CourtyardRow {
    t.search_courtyards(&CourtyardQuery { text: name.into(), ..Default::default() }).unwrap().remove(0)
}

fn new_issue(courtyard: CourtyardId, description: &str) -> NewIssue {
    NewIssue {
        courtyard,
        category: Category::StreetLight,
        source: IssueSource::Visit,
        description: description.into(),
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
        location: None,
        photos: vec![],
    }
}

#[test]
fn chinese_substring_search_uses_trigrams_and_falls_back_for_two_characters() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = tablet(&dir);
    let hits = t.search_courtyards(&CourtyardQuery { text: "惠新西街33".into(), ..Default::default() }).unwrap();
    assert!(hits.iter().any(|c| c.name == "惠新西街33号院"), "a 6-character query finds the article's courtyard via FTS5 trigram");
    let two = t.search_courtyards(&CourtyardQuery { text: "甘西".into(), limit: 100, ..Default::default() }).unwrap();
    assert!(
        !two.is_empty() && two.iter().all(|c| c.community_name.contains("甘西") || c.name.contains("甘西")),
        "a 2-character query falls back to LIKE"
    );
    let by_community = t
        .search_courtyards(&CourtyardQuery { text: String::new(), community: Some(two[0].community_id), limit: 500, ..Default::default() })
        .unwrap();
    assert!(by_community.iter().all(|c| c.community_id == two[0].community_id), "the community filter keeps only that community");
    let hostile = t.search_courtyards(&CourtyardQuery { text: "\" OR 1=1 --".into(), ..Default::default() }).unwrap();
    assert!(hostile.is_empty(), "FTS syntax in user text is searched literally, not parsed");
}

#[test]
fn recording_logs_gapless_sequence_and_folds_views() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, clock) = tablet(&dir);
    let y = yard(&t, "惠新西街33号院");
    let issue = t.report_issue(new_issue(y.id, "3号楼前路灯不亮")).unwrap();
    clock.advance(30 * 60 * 1000);
    t.respond(issue, "已电话联系居民").unwrap();
    t.add_note(issue, "已报修").unwrap();
    let visit = t
        .record_visit(NewVisit {
            courtyard: y.id,
            mode: VisitMode::WalkThrough,
            started_at_ms: None,
            ended_at_ms: None,
            location: Some(Location { lat: 39.98, lon: 116.41, accuracy_m: 12.0 }),
            notes: "巡查".into(),
            residents_met: 3,
            linked_issues: vec![issue],
        })
        .unwrap();
    let seqs: Vec<i64> = t
        .connection()
        .prepare("SELECT seq FROM device_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "the device log sequence is gapless");
    let detail = t.issue(issue).unwrap();
    assert_eq!(detail.state.status, IssueStatus::Responded, "the view is the fold of the log");
    assert_eq!(detail.state.history.len(), 3, "the issue keeps its full history");
    assert_eq!(detail.state.responded_on_time(), Some(true), "responded within the hour");
    let page = t.list_issues(&IssueFilter::default(), None, 10).unwrap();
    assert_eq!(page.items[0].contact_masked.as_deref(), Some("138****5678"), "lists show the phone masked");
    assert_eq!(page.items[0].sync_state, "queued", "an unsent record shows as queued");
    let visits = t.list_visits(Some(y.id), None, 10).unwrap();
    assert_eq!(visits.items[0].id, visit);
    assert_eq!(visits.items[0].linked_issues, vec![issue], "a visit keeps its linked issues");
    let bad = t.report_issue(new_issue(y.id, "   ")).unwrap_err();
    assert_eq!(bad.code(), "empty_text", "bad input gets a clear code");
    let count: i64 = t.connection().query_row("SELECT count(*) FROM device_log", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 4, "bad input changes nothing");
}

#[test]
fn keyset_paging_filters_and_overdue() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, clock) = tablet(&dir);
    let y = yard(&t, "惠新西街33号院");
    let mut ids = Vec::new();
    for i in 0..25 {
        clock.advance(1000);
        ids.push(t.report_issue(new_issue(y.id, &format!("问题{i}"))).unwrap());
    }
    t.respond(ids[0], "ok").unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = t.list_issues(&IssueFilter::default(), cursor.as_ref(), 10).unwrap();
        seen.extend(page.items.iter().map(|r| r.id));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "keyset pages walk every issue once, newest first");
    clock.advance(2 * 3_600_000);
    let overdue = t.list_issues(&IssueFilter { overdue: true, ..Default::default() }, None, 100).unwrap();
    assert_eq!(overdue.items.len(), 24, "every issue not responded within the hour is overdue");
    let responded = t.list_issues(&IssueFilter { status: Some(IssueStatus::Responded), ..Default::default() }, None, 100).unwrap();
    assert_eq!(responded.items.len(), 1, "the status filter works");
}

#[test]
fn wrong_key_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    drop(Tablet::open(&path, &StoreKey([9; 32]), clock.clone()).unwrap());
    let err = Tablet::open(&path, &StoreKey([8; 32]), clock.clone()).unwrap_err();
    assert_eq!(err.code(), "wrong_key", "a wrong key is refused with wrong_key, not garbage or a panic");
    let raw = std::fs::read(&path).unwrap();
    assert!(!raw.starts_with(b"SQLite format 3"), "the file is encrypted at rest");
    Tablet::open(&path, &StoreKey([9; 32]), clock).expect("the right key still opens it");
}

#[test]
fn photos_are_stored_by_hash_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _) = tablet(&dir);
    let png = [&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A][..], &[0u8; 100]].concat();
    let a = t.store_photo(&png).unwrap();
    let b = t.store_photo(&png).unwrap();
    assert_eq!(a, b, "the same bytes are stored once, by hash");
    assert_eq!(t.store_photo(b"hello").unwrap_err().code(), "not_an_image", "non-images are refused");
    let big = [&png[..], &vec![0u8; MAX_PHOTO_BYTES as usize]].concat();
    assert_eq!(t.store_photo(&big).unwrap_err().code(), "photo_too_large", "over-size photos are refused");
    let y = yard(&t, "惠新西街33号院");
    let mut n = new_issue(y.id, "漏水");
    n.photos = vec![a.clone()];
    let id = t.report_issue(n).unwrap();
    assert_eq!(t.issue(id).unwrap().state.photos, vec![a], "a photo attached at report time is in the state");
}

#[test]
fn push_body_is_the_outbox_as_a_push_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _) = tablet(&dir);
    let y = yard(&t, "惠新西街33号院");
    for i in 0..3 {
        t.report_issue(new_issue(y.id, &format!("问题{i}"))).unwrap();
    }
    let body = t.push_body(2).unwrap();
    let parsed: gridwalk_proto::PushRequest = serde_json::from_str(&body.json).expect("the spliced body is a valid push request");
    let typed = gridwalk_proto::PushRequest { device_id: t.identity().unwrap().device, events: t.outbox(2).unwrap() };
    assert_eq!(parsed, typed, "splicing stored JSON gives exactly the typed request");
    assert_eq!(body.events, 2, "the batch limit holds");
}
