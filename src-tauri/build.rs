//! Tauri's build step: reads tauri.conf.json and the capabilities, and declares the app's own
//! commands so each one needs an explicit `allow-…` permission in a capability.

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(gridwalk_commands());
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)).expect("tauri build step");
}

/// Every command the shell registers (keep in step with `src/lib.rs`'s generate_handler!).
fn gridwalk_commands() -> &'static [&'static str] {
    &[
        "app_status",
        "enrol",
        "unlock",
        "lock",
        "touch",
        "set_idle_minutes",
        "search_courtyards",
        "courtyard",
        "list_issues",
        "list_visits",
        "issue",
        "record_visit",
        "report_issue",
        "store_photo",
        "photo",
        "respond",
        "add_note",
        "resolve",
        "record_callback",
        "reopen",
        "add_progress",
        "whistle",
        "report_in",
        "close_issue",
        "pledge",
        "attach_photo",
        "accept",
        "return_order",
        "request_extension",
        "transfer",
        "urge",
        "review",
        "decide_extension",
        "close_as_duplicate",
        "cancel_issue",
        "me_too",
        "nearby_issues",
        "my_week",
        "today",
        "department_inbox",
        "communities",
        "worker",
        "set_sync_period",
        "set_locale",
        "notifications_raised",
        "sync_state",
        "outbox",
        "rejected_records",
        "withdraw_rejected",
        "sync",
        "cancel_sync",
        "revocation",
        "export_unsynced",
        "renew_session",
        "wipe_revoked",
    ]
}
