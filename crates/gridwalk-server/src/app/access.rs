//! Access that can be taken back: disabling and enabling a worker, password changes and
//! resets, role and scope changes. The CLI (through [`super::admin`], actor `cli`) and the
//! admin API (actor: the admin's username) run the same steps here, each in one transaction
//! with its audit line.
//!
//! What each change does to sessions, and why:
//! - **disable** refuses the worker's devices at once (`worker_disabled`, 403, checked on every
//!   request) and their logins, but revokes nothing: **enable** lets the same devices sync on,
//!   with what they queued meanwhile.
//! - **a password change or reset** revokes the worker's other devices (a reset: all of them),
//!   because a new password usually means the old one leaked; those tablets log in again.
//! - **a role or scope change** needs nothing: role and scope are read with the token on every
//!   request, so the next sync pulls the new scope and a push to the old one is `out_of_scope`.

use super::auth;
use super::authored::HOTLINE_USERNAME;
use super::registry::{parse_scope_unit, RegistryIndex};
use crate::error::{Error, Result};
use crate::store::Tx;
use gridwalk_domain::password::check_password;
use gridwalk_domain::{DeviceId, Role};
use gridwalk_proto::{ScopeUnit, WorkerInfo};
use serde::{Deserialize, Serialize};

/// `POST /workers/{username}/password` (admin): the new password.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub password: String,
}

/// `POST /auth/password` (self): the current password and the new one.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub old_password: String,
    pub new_password: String,
}

/// `POST /workers/{username}/role`: a new role, a new scope, or both (scope units as
/// `district`, `subdistrict:CODE`, `community:CODE`, `courtyard:CODE`, `department:NAME`).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Option<String>,
    pub scope: Option<Vec<String>>,
}

/// What an access change did.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AccessChange {
    pub worker: WorkerInfo,
    /// Whether the worker is disabled now.
    pub disabled: bool,
    /// Devices whose tokens this change revoked (a password change or reset).
    pub devices_revoked: usize,
}

/// The worker an admin names; the server's own hotline identity is not one to manage.
fn managed(tx: &dyn Tx, username: &str) -> Result<crate::model::WorkerRecord> {
    tx.worker_by_username(username)?
        .filter(|r| r.info.username != HOTLINE_USERNAME)
        .ok_or_else(|| Error::UnknownWorker(username.to_owned()))
}

/// Disable (`true`) or enable a worker.
pub fn set_disabled(tx: &dyn Tx, actor: &str, username: &str, disabled: bool, now_ms: i64) -> Result<AccessChange> {
    let record = managed(tx, username)?;
    // Disabling twice keeps the first time: when it happened is what the audit asks.
    let since = if disabled { Some(record.disabled_ms.unwrap_or(now_ms)) } else { None };
    tx.set_worker_disabled(record.info.id, since)?;
    tx.audit(now_ms, actor, if disabled { "worker_disabled" } else { "worker_enabled" }, username)?;
    Ok(AccessChange { worker: record.info, disabled, devices_revoked: 0 })
}

/// Check a new password against the rule (the domain's) before it is hashed.
pub fn check_new_password(password: &str, username: &str) -> Result<()> {
    check_password(password, username).map_err(Error::WeakPassword)
}

/// Store a password hash made from a checked password, revoking every device of the worker
/// but `keep` (the device that asked, on a change of one's own password).
pub fn set_password(tx: &dyn Tx, actor: &str, username: &str, hash: &str, keep: Option<DeviceId>, now_ms: i64) -> Result<AccessChange> {
    let record = managed(tx, username)?;
    tx.set_password_hash(record.info.id, hash)?;
    let revoked = tx.revoke_worker_devices(record.info.id, keep, now_ms)?;
    // A new password clears the failure counts: they were about the old one.
    tx.clear_login_failures(username)?;
    let action = if keep.is_some() { "password_changed" } else { "password_reset" };
    tx.audit(now_ms, actor, action, &format!("{username}; {revoked} other devices revoked"))?;
    Ok(AccessChange { disabled: record.disabled_ms.is_some(), worker: record.info, devices_revoked: revoked })
}

/// Parse a role change's codes, as `worker add` does.
pub fn parse_role_change(change: &RoleChange) -> Result<(Option<Role>, Option<Vec<ScopeUnit>>)> {
    let role = change.role.as_deref().map(|r| Role::from_code(r.trim()).ok_or_else(|| Error::UnknownRole(r.to_owned()))).transpose()?;
    let scope = change.scope.as_ref().map(|units| units.iter().map(|u| parse_scope_unit(u)).collect::<Result<Vec<_>>>()).transpose()?;
    if role.is_none() && scope.is_none() {
        return Err(Error::NothingToChange);
    }
    Ok((role, scope))
}

/// Change a worker's role, scope or both. The scope's codes must exist in the stored registry,
/// as on `worker add`, so a typo fails loudly instead of granting nothing.
pub fn set_role_and_scope(
    tx: &dyn Tx,
    actor: &str,
    username: &str,
    role: Option<Role>,
    scope: Option<Vec<ScopeUnit>>,
    now_ms: i64,
) -> Result<AccessChange> {
    let record = managed(tx, username)?;
    let mut info = record.info;
    if let Some(scope) = scope {
        if scope.is_empty() {
            return Err(Error::BadScope("(empty)".into()));
        }
        RegistryIndex::new(tx.registry()?, 0).resolve(&scope)?;
        info.scope = scope;
    }
    if let Some(role) = role {
        info.role = role;
    }
    tx.set_role_and_scope(info.id, info.role, &info.scope)?;
    tx.audit(now_ms, actor, "worker_role_changed", &format!("{username}: role {} scope {:?}", info.role.code(), info.scope))?;
    Ok(AccessChange { worker: info, disabled: record.disabled_ms.is_some(), devices_revoked: 0 })
}

/// Hash a checked password off the async runtime (argon2 is slow on purpose).
pub async fn hash_off_runtime(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password)).await.map_err(|e| Error::Internal(format!("hashing: {e}")))?
}
