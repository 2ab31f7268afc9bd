//! The district console's use cases: browser sessions, and the pages of supervisors,
//! department staff, district staff and admins. Every page is a [`Menu`] of the domain's
//! table, and every call checks it ([`AppState::console_grant`]) before the usual action and
//! scope check: the page only follows what the server enforces.
//!
//! # Sessions
//! A console login is a tablet login (same throttle, lockout, audit and disabled check) that
//! makes a device of kind `console` for the worker, whose token goes only into an HttpOnly,
//! SameSite=Strict cookie. Its expiry slides by `Config::console_session_ttl`; logging out
//! revokes the device. The CSRF token is derived from the session token (a keyed hash), so
//! it needs no storage, cannot be guessed without the cookie, and dies with the session.
//!
//! # Actions
//! What a supervisor or a department does on a ticket is an event like a tablet's: authored
//! by the worker from their console device, stamped by the server's clock, settled by the
//! same ingest (rules table, scope, validation, fold), so the one fold on both sides sees it.

pub mod export;
pub mod manage;
pub mod overview;
pub mod tickets;

use super::auth::ClientAddr;
use super::{Action, AppState, Grant, Principal};
use crate::error::{Error, Result};
use crate::model::CONSOLE_DEVICE;
use gridwalk_domain::console::{self as rules, Menu};
use gridwalk_proto::console::{ConsoleLogin, ConsoleSession};
use gridwalk_proto::LoginRequest;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gw_session";
/// The header every state-changing console call carries.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session: a hash of its token under a fixed label. Without the cookie
/// (HttpOnly, so no script of another origin reads it) nobody can compute it.
pub fn csrf_token(session_token: &str) -> String {
    hex::encode(Sha256::digest(format!("gridwalk console csrf\0{session_token}").as_bytes()))
}

/// Whether `sent` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(session_token: &str, sent: &str) -> bool {
    let want = csrf_token(session_token);
    want.len() == sent.len() && want.bytes().zip(sent.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The session as the page gets it.
fn session_of(who: &Principal, token: &str, expires_ms: i64, grant: &Grant) -> ConsoleSession {
    ConsoleSession {
        worker: who.worker.clone(),
        csrf_token: csrf_token(token),
        expires_ms,
        menus: rules::menus(who.worker.role).to_vec(),
        may_reveal_phone: rules::may_reveal_phone(who.worker.role),
        may_make_tasks: rules::may_make_tasks(who.worker.role),
        departments: grant.scope.departments.iter().cloned().collect(),
    }
}

impl AppState {
    /// Check that `who` may open `menu`, then the action and scope as every use case does.
    pub async fn console_grant(&self, who: &Principal, menu: Menu, action: Action) -> Result<Grant> {
        if !rules::may_open(who.worker.role, menu) {
            return Err(Error::Forbidden { role: who.worker.role.code(), action: menu.label_en() });
        }
        self.authorize(who, action).await
    }

    /// Log in to the console: a login from `addr` like a tablet's, whose device becomes a
    /// console session with the console's lifetime. Returns the session token (for the
    /// cookie) and the session.
    pub async fn console_login(&self, addr: ClientAddr, req: ConsoleLogin) -> Result<(String, ConsoleSession)> {
        let login =
            LoginRequest { username: req.username, password: req.password, device_name: "控制台 console".into(), device_id: None };
        let resp = self.login(addr.clone(), login).await?;
        let (ttl, _) = self.config().console_times_ms();
        let (device, now) = (resp.device_id, self.now_ms());
        let expires_ms = now.saturating_add(ttl);
        let username = resp.worker.username.clone();
        let detail = format!("device {device} from {}", addr.as_str());
        self.storage()
            .write(move |tx| {
                tx.set_device_kind(device, CONSOLE_DEVICE)?;
                tx.set_device_expiry(device, expires_ms)?;
                tx.audit(now, &username, "console_login", &detail)
            })
            .await?;
        let who = Principal { worker: resp.worker, device, expires_ms: Some(expires_ms), console: true };
        let grant = self.authorize(&who, Action::ChangeOwnPassword).await?;
        let session = session_of(&who, &resp.token, expires_ms, &grant);
        Ok((resp.token, session))
    }

    /// The session of a console cookie (refused like any token: unknown, expired, revoked,
    /// disabled). A tablet's token is not a console session.
    pub async fn console_session(&self, token: &str) -> Result<(Principal, ConsoleSession)> {
        let who = self.authenticate(token).await?;
        if !who.console {
            return Err(Error::InvalidToken);
        }
        let grant = self.authorize(&who, Action::ChangeOwnPassword).await?;
        let expires = who.expires_ms.unwrap_or_else(|| self.now_ms());
        let session = session_of(&who, token, expires, &grant);
        Ok((who, session))
    }

    /// End a console session: its device is revoked, so the cookie opens nothing any more.
    pub async fn console_logout(&self, who: &Principal) -> Result<()> {
        let (device, now, username) = (who.device, self.now_ms(), who.worker.username.clone());
        self.storage()
            .write(move |tx| {
                tx.revoke_device(device, now)?;
                tx.audit(now, &username, "console_logout", &format!("device {device}"))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_the_sessions_own_and_compared_whole() {
        let a = csrf_token("a".repeat(64).as_str());
        let b = csrf_token("b".repeat(64).as_str());
        assert_ne!(a, b, "each session has its own CSRF token");
        assert!(csrf_matches(&"a".repeat(64), &a), "the session's own token matches");
        assert!(!csrf_matches(&"a".repeat(64), &b), "another session's token does not");
        assert!(!csrf_matches(&"a".repeat(64), &a[..63]), "a prefix does not");
        assert!(!csrf_matches(&"a".repeat(64), ""), "an empty header does not");
    }
}
