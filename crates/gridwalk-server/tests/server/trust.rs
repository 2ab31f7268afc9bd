//! What the server promises about its own storage: a write answered with an error stored
//! nothing (a locked database is `busy`, 503 with `Retry-After`), the data directory is private,
//! and a backup taken while serving restores to what it held, with a new epoch that tablets
//! see on push and pull.

use super::kit::{self, fast_config, Site};
use axum::http::{Method, StatusCode};
use axum::Router;
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::app::admin;
use gridwalk_server::store::sqlite::DB_FILE;
use gridwalk_server::Config;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn site() -> (Site, Courtyard) {
    let reg = registry_gen::demo_registry();
    let yard = reg.courtyards[0].clone();
    (Site::demo(&[("walker", Role::GridWorker, vec![ScopeUnit::Courtyard(yard.code.clone())])]), yard)
}

fn report(who: &LoginResponse, n: u64, yard: CourtyardId) -> Event {
    let issue = IssueId::from_parts(1_760_000_000_000 + n, [n as u8; 10]);
    let body = EventBody::IssueReported(IssueReport {
        courtyard: yard,
        category: Category::StreetLight,
        source: IssueSource::Visit,
        description: format!("路灯不亮 {n}"),
        contact: None,
        location: None,
        received_at_ms: None,
        external_ref: None,
    });
    kit::event(who, kit::t0() + n as i64, n, Entity::Issue(issue), body)
}

async fn push(app: &Router, who: &LoginResponse, seqs: std::ops::RangeInclusive<u64>, yard: CourtyardId) -> kit::Raw {
    let events = seqs.map(|seq| LoggedEvent { seq, event: report(who, seq, yard) }).collect();
    let req = PushRequest { device_id: who.device_id, events };
    kit::send(app, Method::POST, "/api/v1/sync/push", Some(&who.token), Some("application/json"), serde_json::to_vec(&req).unwrap()).await
}

async fn pull(app: &Router, who: &LoginResponse) -> PullResponse {
    let r = kit::send(app, Method::GET, "/api/v1/sync/pull?after=0&limit=1000&registry_version=0", Some(&who.token), None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK, "a pull is answered: {}", String::from_utf8_lossy(&r.bytes));
    serde_json::from_slice(&r.bytes).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn a_push_while_another_process_holds_the_write_lock_is_busy_503_and_stores_nothing() {
    let (site, yard) = site();
    let (_state, app) = site.serve(Config { busy_timeout: Duration::from_millis(200), ..fast_config() });
    let walker = kit::login(&app, "walker").await;
    // Another process's write lock: SQLite's one writer lock, or PostgreSQL's on the event log.
    let pg_holder = match &site.pg {
        Some(db) => {
            let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client.batch_execute("BEGIN; LOCK TABLE events IN EXCLUSIVE MODE").await.unwrap();
            Some(client)
        }
        None => None,
    };
    let sqlite_holder = (!site.is_postgres()).then(|| site.sqlite());
    if let Some(c) = &sqlite_holder {
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
    }

    let r = push(&app, &walker, 1..=3, yard.id).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a push the writer could not begin a transaction for is 503");
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "a busy answer says when to try again");
    let body: serde_json::Value = serde_json::from_slice(&r.bytes).unwrap();
    assert_eq!(body["code"], "busy", "the code is busy: {body}");
    assert!(body["message"].is_string() && body.as_object().unwrap().len() == 2, "the body is {{code, message}}: {body}");
    let device = walker.device_id.to_string();
    let held: i64 = match (&pg_holder, &sqlite_holder) {
        (Some(c), _) => c.query_one("SELECT count(*) FROM events WHERE device_id = $1", &[&device]).await.unwrap().get(0),
        (None, Some(c)) => c.query_row("SELECT count(*) FROM events WHERE device_id = ?1", [&device], |r| r.get(0)).unwrap(),
        (None, None) => unreachable!("a site is on one engine"),
    };
    assert_eq!(held, 0, "while the lock is held, nothing of the refused push was written (never autocommit)");
    if let Some(c) = &pg_holder {
        c.batch_execute("ROLLBACK").await.unwrap();
    }
    if let Some(c) = &sqlite_holder {
        c.execute_batch("ROLLBACK").unwrap();
    }
    drop((pg_holder, sqlite_holder));

    let device = walker.device_id.to_string();
    assert_eq!(site.count(&format!("SELECT count(*) FROM events WHERE device_id = '{device}'")), 0, "a busy push stored no event");
    assert_eq!(site.count(&format!("SELECT held_seq FROM devices WHERE id = '{device}'")), 0, "a busy push moved no held position");

    let r = push(&app, &walker, 1..=3, yard.id).await;
    assert_eq!(r.status, StatusCode::OK, "once the lock is released the same push is taken: {}", String::from_utf8_lossy(&r.bytes));
    let resp: PushResponse = serde_json::from_slice(&r.bytes).unwrap();
    assert!(resp.results.iter().all(|x| x.outcome == PushOutcome::Accepted), "every event is new to the server, not a duplicate: {resp:?}");
    assert_eq!(resp.acked_seq, 3, "the retried push is acknowledged whole");
    assert_eq!(site.count(&format!("SELECT count(*) FROM events WHERE device_id = '{device}'")), 3, "each event stored once");
}

#[tokio::test]
async fn the_data_directory_is_0700_and_its_database_wal_index_blobs_and_backups_0600() {
    let (site, yard) = site();
    let data = site.dir.path();
    // As an older build or a copy would leave them: readable by everyone.
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // On PostgreSQL the directory holds the connection string (maybe a password) instead.
    let db_files = if site.is_postgres() {
        vec![gridwalk_server::store::engine::DATABASE_URL_FILE.to_owned()]
    } else {
        vec![DB_FILE.to_owned(), format!("{DB_FILE}-wal"), format!("{DB_FILE}-shm")]
    };
    std::fs::set_permissions(data.join(&db_files[0]), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::create_dir_all(data.join("blobs")).unwrap();
    let old_blob = data.join("blobs").join("a".repeat(64));
    std::fs::write(&old_blob, b"\xFF\xD8\xFFold").unwrap();
    std::fs::set_permissions(&old_blob, std::fs::Permissions::from_mode(0o644)).unwrap();

    let (_state, app) = site.serve(fast_config());
    let walker = kit::login(&app, "walker").await;
    assert_eq!(push(&app, &walker, 1..=1, yard.id).await.status, StatusCode::OK, "a push is taken");
    let jpeg = b"\xFF\xD8\xFF\xE0 a photo".to_vec();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&jpeg));
    // The photo an event of this device names (only such a photo may be uploaded).
    let issue = IssueId::from_parts(1_760_000_000_001, [1; 10]);
    let attach = EventBody::PhotoAttached { sha256: sha.clone(), bytes: jpeg.len() as u64, mime: "image/jpeg".into() };
    let req = PushRequest {
        device_id: walker.device_id,
        events: vec![LoggedEvent { seq: 2, event: kit::event(&walker, kit::t0() + 2, 2, Entity::Issue(issue), attach) }],
    };
    let r = kit::send(
        &app,
        Method::POST,
        "/api/v1/sync/push",
        Some(&walker.token),
        Some("application/json"),
        serde_json::to_vec(&req).unwrap(),
    )
    .await;
    assert!(String::from_utf8_lossy(&r.bytes).contains("accepted"), "the photo's event is taken: {}", String::from_utf8_lossy(&r.bytes));
    let r = kit::send(
        &app,
        Method::PUT,
        &format!("/api/v1/blobs/{sha}?offset=0&final=true"),
        Some(&walker.token),
        Some("application/octet-stream"),
        jpeg,
    )
    .await;
    assert!(r.status.is_success(), "the photo is uploaded: {} {}", r.status, String::from_utf8_lossy(&r.bytes));

    assert_eq!(mode(data), 0o700, "the data directory is private to the server's user, also when it existed before");
    for f in db_files {
        assert_eq!(mode(&data.join(&f)), 0o600, "{f} is 0600, also when it existed before");
    }
    assert_eq!(mode(&data.join("blobs")), 0o700, "the blob directory is private");
    assert_eq!(mode(&data.join("blobs").join(&sha)), 0o600, "an uploaded photo is 0600");
    assert_eq!(mode(&old_blob), 0o600, "a photo stored before is tightened to 0600 on open");

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("gw.backup");
    if site.is_postgres() {
        let err = admin::backup(data, &file).unwrap_err();
        assert_eq!(err.code(), "engine_unsupported", "a PostgreSQL database is backed up by PostgreSQL's tools: {err}");
    } else {
        admin::backup(data, &file).unwrap();
        assert_eq!(mode(&file), 0o600, "a backup holds what the database holds: 0600");
    }
    let lock = admin::hold_data_dir(data).unwrap();
    assert_eq!(mode(lock.path()), 0o600, "the lock file is 0600");
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_what_it_held_with_a_new_epoch() {
    let (site, yard) = site();
    let data = site.dir.path().to_owned();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("gw.backup");
    if site.is_postgres() {
        // pg_basebackup and WAL archiving do this for PostgreSQL (DEPLOYMENT.md); the CLI says so
        // and touches nothing.
        for err in [admin::backup(&data, &file).unwrap_err(), admin::restore(&data, &file).unwrap_err()] {
            assert_eq!(err.code(), "engine_unsupported", "backup and restore are PostgreSQL's own there: {err}");
        }
        assert!(!file.exists(), "a refused backup writes no file");
        return;
    }
    let device;
    let first_epoch;
    {
        let (_state, app) = site.serve(fast_config());
        let walker = kit::login(&app, "walker").await;
        device = walker.device_id.to_string();
        assert_eq!(push(&app, &walker, 1..=3, yard.id).await.status, StatusCode::OK, "the first push is taken");
        std::fs::create_dir_all(data.join("blobs")).unwrap();
        let jpeg = b"\xFF\xD8\xFF\xE0 kept".to_vec();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&jpeg));
        std::fs::write(data.join("blobs").join(&sha), &jpeg).unwrap();

        let s = admin::backup(&data, &file).unwrap();
        assert_eq!((s.events, s.blobs), (3, 1), "the backup, taken while the server runs, has the 3 events and the photo");
        let r = push(&app, &walker, 4..=5, yard.id).await;
        assert_eq!(r.status, StatusCode::OK, "the server keeps taking pushes after a backup");
        let resp: PushResponse = serde_json::from_slice(&r.bytes).unwrap();
        first_epoch = resp.epoch.clone().expect("a push answer carries the server's epoch");
        assert_eq!(pull(&app, &walker).await.epoch.as_deref(), Some(first_epoch.as_str()), "pull and push tell the same epoch");
        std::fs::remove_file(data.join("blobs").join(&sha)).unwrap();
        drop(app);
    }
    // Let the dropped writer thread close its connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, epoch) = admin::restore(&data, &file).unwrap();
    assert_eq!((s.events, s.blobs), (3, 1), "the restore puts back what the backup held");
    assert_ne!(epoch, first_epoch, "a restore gives the database a new epoch");
    assert_eq!(admin::epoch(&data).unwrap().as_deref(), Some(epoch.as_str()), "the new epoch is stored");
    assert_eq!(site.count(&format!("SELECT count(*) FROM events WHERE device_id = '{device}'")), 3, "the events after the backup are gone");
    assert_eq!(
        site.count("SELECT count(*) FROM sqlite_master WHERE name = 'backup_blobs'"),
        0,
        "the backup's blob table is not left in the live database"
    );
    let blobs: Vec<_> = std::fs::read_dir(data.join("blobs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(blobs.len(), 1, "the photo is back in the blob directory: {blobs:?}");
    assert_eq!(mode(&blobs[0]), 0o600, "a restored photo is 0600");
    assert_eq!(site.count("SELECT count(*) FROM audit WHERE action = 'restored'"), 1, "the restore is audited");

    let (_state, app) = site.serve(fast_config());
    let walker = kit::login(&app, "walker").await;
    // The same worker's old device is still enrolled in the restored database.
    let p = pull(&app, &walker).await;
    assert_eq!(p.epoch.as_deref(), Some(epoch.as_str()), "after the restore, pulls tell the new epoch");
    assert_eq!(p.max_seq, Some(site.count("SELECT max(seq) FROM events") as u64), "a pull tells the server's newest sequence");
    let r = kit::send(&app, Method::GET, "/api/v1/sync/pull?after=0&registry_version=0", Some(&walker.token), None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK, "pulls work after a restore");
}

#[tokio::test]
async fn restore_refuses_a_held_data_directory_a_file_that_is_no_backup_and_a_newer_schema() {
    let (site, _yard) = site();
    let data = site.dir.path();
    if site.is_postgres() {
        let held = admin::hold_data_dir(data).unwrap();
        let again = admin::hold_data_dir(data).expect("servers on one PostgreSQL database share their data directory");
        let err = admin::restore(data, &data.join("anything")).unwrap_err();
        assert_eq!(err.code(), "engine_unsupported", "a restore is PostgreSQL's own there: {err}");
        drop((held, again));
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("gw.backup");
    admin::backup(data, &file).unwrap();
    let before = std::fs::read(data.join(DB_FILE)).unwrap();

    let held = admin::hold_data_dir(data).unwrap();
    let err = admin::restore(data, &file).unwrap_err();
    assert_eq!(err.code(), "data_dir_in_use", "a restore is refused while a server holds the data directory: {err}");
    assert_eq!(admin::hold_data_dir(data).unwrap_err().code(), "data_dir_in_use", "a second server is refused too");
    drop(held);

    let err = admin::restore(data, &data.join(DB_FILE)).unwrap_err();
    assert_eq!(err.code(), "not_a_backup", "a live database file is not a backup: {err}");
    let junk = out.path().join("junk");
    std::fs::write(&junk, b"not sqlite at all, not at all, no").unwrap();
    assert!(admin::restore(data, &junk).is_err(), "a file that is not SQLite is refused");

    let newer = out.path().join("newer.backup");
    std::fs::copy(&file, &newer).unwrap();
    let c = rusqlite::Connection::open(&newer).unwrap();
    c.pragma_update(None, "user_version", 999).unwrap();
    drop(c);
    let err = admin::restore(data, &newer).unwrap_err();
    assert_eq!(err.code(), "schema_too_new", "a backup from a newer build is refused: {err}");

    assert_eq!(std::fs::read(data.join(DB_FILE)).unwrap(), before, "a refused restore changed nothing");
    assert!(!data.join(format!("{DB_FILE}.restoring")).exists(), "a refused restore leaves no partial file");
}
