//! The Gridwalk tablet app: a Tauri 2 shell over `gridwalk-core`.
//!
//! Every command is a one-line adapter: it runs one core call on the unlocked [`Tablet`] off the
//! UI thread and hands the UI either the result or `{code, message}`. Sync progress reaches the
//! UI as `sync-progress` events, an idle lock as a `locked` event, the end of every sync as
//! `synced`, new orders for this worker as `new-orders`, and the locked count as `lock-news`.
//! The webview never sees SQL, the store key or the tokens.

pub mod autosync;
pub mod shell;
pub mod unlock;
pub mod vault;

use gridwalk_core::sync::{Progress, RejectedRecord, SyncReport};
use gridwalk_core::*;
use gridwalk_domain::{
    Assignee, Category, CourtyardId, EventId, GeoPoint, IssueId, PledgeKind, ReturnReason, Satisfaction, VisitId, WhistleLevel,
};
use gridwalk_proto::{LoggedEvent, WorkerInfo};
use shell::{err, AppStatus, CmdResult, Outlet, RaisedNotification, Shell};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;

/// Run a blocking closure on the shell off the UI and async threads (the store is blocking
/// SQLite; the sync engine uses blocking reqwest, which must not run on an async worker).
async fn blocking<T: Send + 'static>(app: AppHandle, f: impl FnOnce(&Shell) -> CmdResult<T> + Send + 'static) -> CmdResult<T> {
    tauri::async_runtime::spawn_blocking(move || f(&app.state::<Shell>()))
        .await
        .map_err(|e| err("internal", format!("the command's thread failed: {e}")))?
}

/// Run one core call that records on the unlocked tablet; it pokes the automatic sync.
async fn recording<T: Send + 'static>(
    app: AppHandle,
    f: impl FnOnce(&mut Tablet) -> gridwalk_core::Result<T> + Send + 'static,
) -> CmdResult<T> {
    blocking(app, move |s| s.record(f)).await
}

/// Run one core call on the unlocked tablet.
async fn on_tablet<T: Send + 'static>(
    app: AppHandle,
    f: impl FnOnce(&mut Tablet) -> gridwalk_core::Result<T> + Send + 'static,
) -> CmdResult<T> {
    blocking(app, move |s| s.with_tablet(f)).await
}

#[tauri::command]
async fn app_status(app: AppHandle) -> CmdResult<AppStatus> {
    blocking(app, |s| Ok(s.status())).await
}

#[tauri::command]
async fn enrol(app: AppHandle, server_url: String, username: String, password: String, pin: String) -> CmdResult<String> {
    blocking(app, move |s| s.enrol(&server_url, &username, &password, &pin)).await
}

#[tauri::command]
async fn unlock(app: AppHandle, pin: String) -> CmdResult<()> {
    blocking(app, move |s| s.unlock(&pin)).await
}

#[tauri::command]
async fn lock(app: AppHandle) -> CmdResult<()> {
    blocking(app, |s| s.lock()).await
}

#[tauri::command]
fn touch(shell: tauri::State<'_, Shell>) {
    shell.touch()
}

#[tauri::command]
async fn set_idle_minutes(app: AppHandle, minutes: u32) -> CmdResult<()> {
    blocking(app, move |s| s.set_idle_minutes(minutes)).await
}

#[tauri::command]
async fn search_courtyards(app: AppHandle, query: CourtyardQuery) -> CmdResult<Vec<CourtyardRow>> {
    on_tablet(app, move |t| t.search_courtyards(&query)).await
}

#[tauri::command]
async fn courtyard(app: AppHandle, id: CourtyardId) -> CmdResult<CourtyardRow> {
    on_tablet(app, move |t| t.courtyard(id)).await
}

#[tauri::command]
async fn list_issues(app: AppHandle, filter: IssueFilter, after: Option<Cursor>, limit: u32) -> CmdResult<Page<IssueRow>> {
    on_tablet(app, move |t| t.list_issues(&filter, after.as_ref(), limit)).await
}

#[tauri::command]
async fn list_visits(app: AppHandle, courtyard: Option<CourtyardId>, after: Option<Cursor>, limit: u32) -> CmdResult<Page<VisitRow>> {
    on_tablet(app, move |t| t.list_visits(courtyard, after.as_ref(), limit)).await
}

#[tauri::command]
async fn issue(app: AppHandle, id: IssueId) -> CmdResult<IssueDetail> {
    on_tablet(app, move |t| t.issue(id)).await
}

#[tauri::command]
async fn record_visit(app: AppHandle, visit: NewVisit) -> CmdResult<VisitId> {
    recording(app, move |t| t.record_visit(visit)).await
}

#[tauri::command]
async fn report_issue(app: AppHandle, issue: NewIssue) -> CmdResult<IssueId> {
    recording(app, move |t| t.report_issue(issue)).await
}

/// The photo's bytes come as the raw request body (no JSON array of numbers).
#[tauri::command]
async fn store_photo(app: AppHandle, request: tauri::ipc::Request<'_>) -> CmdResult<String> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body().clone() else {
        return Err(err("bad_request", "store_photo takes the image bytes as the request body"));
    };
    on_tablet(app, move |t| t.store_photo(&bytes)).await
}

/// The photo's bytes as a raw response (the UI makes a blob: URL of them).
#[tauri::command]
async fn photo(app: AppHandle, sha256: String) -> CmdResult<tauri::ipc::Response> {
    on_tablet(app, move |t| t.photo(&sha256).map(|(_, bytes)| tauri::ipc::Response::new(bytes))).await
}

#[tauri::command]
async fn respond(app: AppHandle, id: IssueId, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.respond(id, &note)).await
}

#[tauri::command]
async fn add_note(app: AppHandle, id: IssueId, text: String) -> CmdResult<EventId> {
    recording(app, move |t| t.add_note(id, &text)).await
}

#[tauri::command]
async fn resolve(app: AppHandle, id: IssueId, note: String, photo: Option<String>) -> CmdResult<EventId> {
    recording(app, move |t| t.resolve(id, &note, photo)).await
}

#[tauri::command]
async fn record_callback(app: AppHandle, id: IssueId, satisfaction: Satisfaction, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.record_callback(id, satisfaction, &note)).await
}

#[tauri::command]
async fn reopen(app: AppHandle, id: IssueId, reason: String) -> CmdResult<EventId> {
    recording(app, move |t| t.reopen(id, &reason)).await
}

#[tauri::command]
async fn add_progress(app: AppHandle, id: IssueId, note: String, public: bool) -> CmdResult<EventId> {
    recording(app, move |t| t.add_progress(id, &note, public)).await
}

#[tauri::command]
async fn whistle(app: AppHandle, id: IssueId, level: WhistleLevel, target: String, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.whistle(id, level, &target, &note)).await
}

#[tauri::command]
async fn report_in(app: AppHandle, id: IssueId, target: String, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.report_in(id, &target, &note)).await
}

#[tauri::command]
async fn close_issue(app: AppHandle, id: IssueId, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.close(id, &note)).await
}

#[tauri::command]
async fn pledge(app: AppHandle, id: IssueId, kind: PledgeKind, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.pledge(id, kind, &note)).await
}

#[tauri::command]
async fn attach_photo(app: AppHandle, id: IssueId, sha256: String) -> CmdResult<EventId> {
    recording(app, move |t| t.attach_photo(id, &sha256)).await
}

#[tauri::command]
async fn accept(app: AppHandle, id: IssueId, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.accept(id, &note)).await
}

#[tauri::command]
async fn return_order(app: AppHandle, id: IssueId, reason: ReturnReason, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.return_order(id, reason, &note)).await
}

#[tauri::command]
async fn request_extension(app: AppHandle, id: IssueId, until_ms: i64, reason: String) -> CmdResult<EventId> {
    recording(app, move |t| t.request_extension(id, until_ms, &reason)).await
}

#[tauri::command]
async fn transfer(app: AppHandle, id: IssueId, to: Assignee, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.transfer(id, to, &note)).await
}

#[tauri::command]
async fn urge(app: AppHandle, id: IssueId, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.urge(id, &note)).await
}

#[tauri::command]
async fn review(app: AppHandle, id: IssueId, approved: bool, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.review(id, approved, &note)).await
}

#[tauri::command]
async fn decide_extension(app: AppHandle, id: IssueId, approved: bool, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.decide_extension(id, approved, &note)).await
}

#[tauri::command]
async fn close_as_duplicate(app: AppHandle, id: IssueId, of: IssueId, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.close_as_duplicate(id, of, &note)).await
}

#[tauri::command]
async fn cancel_issue(app: AppHandle, id: IssueId, reason: String) -> CmdResult<EventId> {
    recording(app, move |t| t.cancel(id, &reason)).await
}

#[tauri::command]
async fn me_too(app: AppHandle, id: IssueId, note: String) -> CmdResult<EventId> {
    recording(app, move |t| t.me_too(id, &note)).await
}

/// "Already reported nearby" on the Report screen, before the worker saves.
#[tauri::command]
async fn nearby_issues(app: AppHandle, courtyard: CourtyardId, category: Category, at: Option<GeoPoint>) -> CmdResult<Vec<NearbyIssue>> {
    on_tablet(app, move |t| t.nearby(courtyard, category, at)).await
}

/// "My courtyards this week": visited, due, overdue.
#[tauri::command]
async fn my_week(app: AppHandle) -> CmdResult<Vec<WeekCourtyard>> {
    on_tablet(app, |t| t.my_week()).await
}

#[tauri::command]
async fn today(app: AppHandle) -> CmdResult<Today> {
    on_tablet(app, |t| t.today()).await
}

#[tauri::command]
async fn department_inbox(app: AppHandle) -> CmdResult<Vec<IssueRow>> {
    on_tablet(app, |t| t.department_inbox()).await
}

#[tauri::command]
async fn communities(app: AppHandle) -> CmdResult<Vec<CommunityRow>> {
    on_tablet(app, |t| t.communities()).await
}

#[tauri::command]
async fn worker(app: AppHandle) -> CmdResult<Option<WorkerInfo>> {
    on_tablet(app, |t| t.worker()).await
}

#[tauri::command]
async fn set_sync_period(app: AppHandle, seconds: u32) -> CmdResult<()> {
    blocking(app, move |s| s.set_sync_period(seconds)).await
}

#[tauri::command]
async fn set_locale(app: AppHandle, locale: String) -> CmdResult<()> {
    blocking(app, move |s| s.set_locale(&locale)).await
}

/// Every OS notification raised since the app started (works while locked: it holds no content).
#[tauri::command]
fn notifications_raised(shell: tauri::State<'_, Shell>) -> Vec<RaisedNotification> {
    shell.notifications_raised()
}

#[tauri::command]
async fn sync_state(app: AppHandle) -> CmdResult<gridwalk_core::sync::DeviceSyncState> {
    on_tablet(app, |t| t.sync_state()).await
}

#[tauri::command]
async fn outbox(app: AppHandle, limit: u32) -> CmdResult<Vec<LoggedEvent>> {
    on_tablet(app, move |t| t.outbox(limit)).await
}

#[tauri::command]
async fn rejected_records(app: AppHandle) -> CmdResult<Vec<RejectedRecord>> {
    on_tablet(app, |t| t.rejected_records()).await
}

#[tauri::command]
async fn withdraw_rejected(app: AppHandle, seq: u64) -> CmdResult<()> {
    recording(app, move |t| t.withdraw_rejected(seq)).await
}

/// One sync run; progress goes out as `sync-progress` events.
#[tauri::command]
async fn sync(app: AppHandle) -> CmdResult<SyncReport> {
    let events = app.clone();
    blocking(app, move |s| s.sync(&mut |p: &Progress| drop(events.emit("sync-progress", p)))).await
}

/// The session expired: log in again as this same device with the worker's password.
#[tauri::command]
async fn renew_session(app: AppHandle, password: String) -> CmdResult<()> {
    blocking(app, move |s| s.renew_session(&password)).await
}

/// Where a revoked tablet stands: unsynced records and photos, and whether it may wipe.
#[tauri::command]
async fn revocation(app: AppHandle) -> CmdResult<Revocation> {
    on_tablet(app, |t| t.revocation()).await
}

/// A revoked tablet seals what it had not synced to the worker's passphrase, into a file.
#[tauri::command]
async fn export_unsynced(app: AppHandle, passphrase: String) -> CmdResult<ExportReceipt> {
    blocking(app, move |s| s.export_unsynced(&passphrase)).await
}

/// A revoked tablet deletes its store and secret (once nothing unsynced is left unexported).
#[tauri::command]
async fn wipe_revoked(app: AppHandle) -> CmdResult<()> {
    blocking(app, |s| s.wipe_revoked()).await
}

#[tauri::command]
fn cancel_sync(shell: tauri::State<'_, Shell>) {
    shell.cancel.store(true, Ordering::SeqCst)
}

/// The data directory: `GRIDWALK_DATA_DIR` when set (tests, kiosks), else the platform's app
/// data dir.
fn data_dir(app: &tauri::App) -> std::path::PathBuf {
    match std::env::var_os("GRIDWALK_DATA_DIR") {
        Some(dir) if !dir.is_empty() => dir.into(),
        _ => app.path().app_data_dir().expect("the platform has an app data dir"),
    }
}

/// Where a revoked tablet's export goes: `GRIDWALK_EXPORT_DIR` when set, else the platform's
/// downloads folder (where a supervisor can take it off the tablet), else the data dir.
fn export_dir(app: &tauri::App) -> std::path::PathBuf {
    match std::env::var_os("GRIDWALK_EXPORT_DIR") {
        Some(dir) if !dir.is_empty() => dir.into(),
        _ => app.path().download_dir().unwrap_or_else(|_| data_dir(app).join("exports")),
    }
}

/// Events to the webview, notifications through tauri-plugin-notification.
struct TauriOutlet(AppHandle);

impl Outlet for TauriOutlet {
    fn emit(&self, event: &str, payload: serde_json::Value) {
        let _ = self.0.emit(event, payload);
    }
    fn notify(&self, title: &str, body: &str) -> Result<(), String> {
        self.0.notification().builder().title(title).body(body).show().map_err(|e| e.to_string())
    }
}

/// A named background thread with the shell.
fn spawn(app: &tauri::App, name: &str, f: fn(&Shell) -> !) -> std::io::Result<()> {
    let handle = app.handle().clone();
    std::thread::Builder::new().name(name.into()).spawn(move || f(&handle.state::<Shell>())).map(drop)
}

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            let shell = Shell::new(data_dir(app))?;
            shell.set_export_dir(export_dir(app));
            shell.set_outlet(Arc::new(TauriOutlet(app.handle().clone())));
            app.manage(shell);
            // The automatic sync (scheduler) and the long-polls between syncs (waiter).
            spawn(app, "auto-sync", autosync::run_scheduler)?;
            spawn(app, "sync-wait", autosync::run_waiter)?;
            // The idle lock: drop the store (and its key) after the configured idle time.
            let handle = app.handle().clone();
            std::thread::Builder::new().name("idle-lock".into()).spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                if handle.state::<Shell>().lock_if_idle() {
                    let _ = handle.emit("locked", "idle");
                }
            })?;
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            app_status,
            enrol,
            unlock,
            lock,
            touch,
            set_idle_minutes,
            search_courtyards,
            courtyard,
            list_issues,
            list_visits,
            issue,
            record_visit,
            report_issue,
            store_photo,
            photo,
            respond,
            add_note,
            resolve,
            record_callback,
            reopen,
            add_progress,
            whistle,
            report_in,
            close_issue,
            pledge,
            attach_photo,
            accept,
            return_order,
            request_extension,
            transfer,
            urge,
            review,
            decide_extension,
            close_as_duplicate,
            cancel_issue,
            me_too,
            nearby_issues,
            my_week,
            today,
            department_inbox,
            communities,
            worker,
            set_sync_period,
            set_locale,
            notifications_raised,
            sync_state,
            outbox,
            rejected_records,
            withdraw_rejected,
            sync,
            cancel_sync,
            revocation,
            export_unsynced,
            renew_session,
            wipe_revoked,
        ])
        .run(tauri::generate_context!())
        .expect("error while running the Gridwalk app");
}
