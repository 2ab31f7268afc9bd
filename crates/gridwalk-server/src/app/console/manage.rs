//! 设备 and 管理: devices with what they last reported, revoking one; workers, Open311 API
//! keys, the registry import, departments and routing, and the audit reader. Every change is
//! audited under the admin's (or supervisor's) own username.

use crate::app::admin::{self, NewWorker};
use crate::app::authored::HOTLINE_USERNAME;
use crate::app::open311::keys;
use crate::app::registry::RegistryIndex;
use crate::app::{Action, AppState, Grant, Principal};
use crate::error::{Error, Result};
use crate::model::{AuditQuery, DeviceDetail, Scope};
use gridwalk_domain::console::Menu;
use gridwalk_domain::registry_gen::parse_registry_csv;
use gridwalk_domain::{DeviceId, Role};
use gridwalk_proto::console::*;
use gridwalk_proto::ScopeUnit;
use serde::Deserialize;

/// Longest text a device may report as its app version.
const MAX_VERSION_CHARS: usize = 64;

/// Whether every unit of a worker's scope lies inside `scope` (so a supervisor sees, and may
/// revoke, the devices of the workers of their area, and no one else's).
pub fn worker_within(registry: &RegistryIndex, scope: &Scope, units: &[ScopeUnit]) -> bool {
    if scope.district {
        return true;
    }
    let inner = registry.resolve_lenient(units);
    if inner.district || units.is_empty() {
        return false;
    }
    let subs_ok = inner.subdistricts.iter().all(|s| scope.subdistricts.contains(s));
    let comms_ok = inner.communities.iter().all(|c| {
        scope.communities.contains(c)
            || registry.registry.communities.iter().find(|x| x.id == *c).is_some_and(|x| scope.subdistricts.contains(&x.subdistrict))
    });
    let yards_ok = inner.courtyards.iter().all(|y| registry.place(*y).is_some_and(|p| scope.contains(&p)));
    let depts_ok = inner.departments.iter().all(|d| scope.departments.contains(d));
    subs_ok && comms_ok && yards_ok && depts_ok
}

fn device_info(d: DeviceDetail) -> DeviceInfo {
    let report = d.report.as_ref();
    DeviceInfo {
        id: d.id,
        name: d.name,
        username: d.username,
        worker_name: d.worker_name,
        kind: d.kind,
        created_ms: d.created_ms,
        revoked_ms: d.revoked_ms,
        last_sync_ms: report.map(|r| r.0),
        queue_depth: report.map(|r| r.1.queue_depth),
        oldest_unsent_ms: report.and_then(|r| r.1.oldest_unsent_ms),
        rejected_count: report.map(|r| r.1.rejected_count),
        clock_offset_ms: report.map(|r| r.1.clock_offset_ms),
        app_version: report.map(|r| r.1.app_version.clone()),
    }
}

/// The audit reader's filters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// exactly this actor (username, `cli`, `system`, `open311:<key>`)
    pub actor: Option<String>,
    /// exactly this action (`login_ok`, `worker_added`, …)
    pub action: Option<String>,
    /// at or after (ms)
    pub from_ms: Option<i64>,
    /// before (ms)
    pub to_ms: Option<i64>,
    /// the `next_before` of the previous page
    pub before: Option<i64>,
    /// page size, at most 500
    pub limit: Option<u32>,
}

impl AuditFilter {
    pub fn query(&self) -> Result<AuditQuery> {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(AuditQuery {
            actor: text(&self.actor),
            action: text(&self.action),
            from_ms: super::tickets::bounded_time("from_ms", self.from_ms)?,
            to_ms: super::tickets::bounded_time("to_ms", self.to_ms)?,
            before: self.before.map(|b| b.max(0)),
            limit: self.limit.unwrap_or(100).clamp(1, 500),
        })
    }
}

/// Check a device's report before it is kept: bounded numbers and a short printable version.
pub fn check_report(r: &DeviceReport, bounds: &gridwalk_domain::validate::ClockBounds, now_ms: i64) -> Result<()> {
    if r.app_version.chars().count() > MAX_VERSION_CHARS || r.app_version.chars().any(char::is_control) {
        return Err(Error::InvalidQuery(format!("report_version must be at most {MAX_VERSION_CHARS} printable characters")));
    }
    if r.clock_offset_ms.unsigned_abs() > bounds.offset_ms.unsigned_abs() {
        return Err(Error::InvalidQuery(format!("report_offset_ms={} is beyond the clock bound", r.clock_offset_ms)));
    }
    if r.oldest_unsent_ms
        .is_some_and(|t| t > now_ms.saturating_add(bounds.offset_ms) || t < now_ms.saturating_sub(bounds.offline_ms.saturating_mul(12)))
    {
        return Err(Error::InvalidQuery("report_oldest_ms lies outside the clock bounds".into()));
    }
    if r.queue_depth > 10_000_000 || r.rejected_count > 10_000_000 {
        return Err(Error::InvalidQuery("the report's counts are beyond any tablet's".into()));
    }
    Ok(())
}

impl AppState {
    /// Keep what a tablet said of its sync (sent with its pull). Written only when it changed
    /// or the last one is a minute old: 4,000 tablets pulling every minute do not each cost a write.
    pub async fn keep_device_report(&self, who: &Principal, report: DeviceReport) -> Result<()> {
        let now = self.now_ms();
        check_report(&report, &self.config().clock, now)?;
        let device = who.device;
        let last = self.storage().read(move |r| r.device_report(device)).await?;
        if last.as_ref().is_some_and(|(at, r)| *r == report && now.saturating_sub(*at) < 60_000) {
            return Ok(());
        }
        self.storage().write(move |tx| tx.put_device_report(device, &report, now)).await
    }

    /// 设备: the devices of the workers in the caller's area (all, for the district).
    pub async fn console_devices(&self, who: &Principal) -> Result<DeviceList> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Devices, Action::ReadRecords).await?;
        let (details, workers) = self.storage().read(|r| Ok((r.device_details()?, r.workers()?))).await?;
        let visible: std::collections::HashSet<_> =
            workers.iter().filter(|w| w.username != HOTLINE_USERNAME && worker_within(&registry, &scope, &w.scope)).map(|w| w.id).collect();
        Ok(DeviceList { devices: details.into_iter().filter(|d| visible.contains(&d.worker)).map(device_info).collect() })
    }

    /// Revoke a device of a worker in the caller's area.
    pub async fn console_revoke_device(&self, who: &Principal, id: DeviceId) -> Result<DeviceRevoked> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Devices, Action::ReadRecords).await?;
        let (actor, now) = (who.worker.username.clone(), self.now_ms());
        self.storage()
            .write(move |tx| {
                let d = tx.device_details()?.into_iter().find(|d| d.id == id).ok_or_else(|| Error::UnknownDevice(id.to_string()))?;
                let owner = tx.worker_by_id(d.worker)?.ok_or_else(|| Error::UnknownDevice(id.to_string()))?;
                if owner.info.username == HOTLINE_USERNAME || !worker_within(&registry, &scope, &owner.info.scope) {
                    return Err(Error::OutOfScope(format!("device {id}")));
                }
                tx.revoke_device(id, now)?;
                tx.audit(now, &actor, "device_revoked", &format!("{id} of {}", owner.info.username))?;
                Ok(DeviceRevoked { device_id: id, revoked: true })
            })
            .await
    }

    /// 管理 · workers.
    pub async fn console_workers(&self, who: &Principal) -> Result<WorkerRows> {
        self.console_grant(who, Menu::Admin, Action::ManageWorkers).await?;
        let workers = self
            .storage()
            .read(|r| {
                let mut out = Vec::new();
                for w in r.workers()? {
                    if w.username == HOTLINE_USERNAME {
                        continue;
                    }
                    let disabled = r.worker_by_id(w.id)?.is_some_and(|rec| rec.disabled_ms.is_some());
                    out.push(WorkerRow { worker: w, disabled });
                }
                Ok(out)
            })
            .await?;
        Ok(WorkerRows { workers })
    }

    /// Add a worker (admin): the same checks as the CLI (password rules, every scope code
    /// known, username free), audited as the admin.
    pub async fn console_add_worker(&self, who: &Principal, req: NewWorkerRequest) -> Result<gridwalk_proto::WorkerInfo> {
        self.console_grant(who, Menu::Admin, Action::ManageWorkers).await?;
        let role = Role::from_code(&req.role).ok_or_else(|| Error::UnknownRole(req.role.clone()))?;
        super::super::auth::check_name("username", &req.username)?;
        super::super::auth::check_name("name", &req.name)?;
        let w = NewWorker { username: req.username, name: req.name, role, scope: req.scope, password: req.password };
        let (store, actor) = (self.storage().clone(), who.worker.username.clone());
        tokio::task::spawn_blocking(move || admin::add_worker_as(&store, &w, &actor))
            .await
            .map_err(|e| Error::Internal(format!("adding a worker: {e}")))?
    }

    /// 管理 · Open311 API keys.
    pub async fn console_api_keys(&self, who: &Principal) -> Result<ApiKeyRows> {
        self.console_grant(who, Menu::Admin, Action::ManageWorkers).await?;
        let keys = self.storage().read(|r| r.api_keys()).await?;
        Ok(ApiKeyRows {
            keys: keys
                .into_iter()
                .map(|k| ApiKeyRow { id: k.id, name: k.name, created_ms: k.created_ms, revoked_ms: k.revoked_ms })
                .collect(),
        })
    }

    pub async fn console_add_api_key(&self, who: &Principal, req: NewApiKeyRequest) -> Result<NewApiKeyResponse> {
        self.console_grant(who, Menu::Admin, Action::ManageWorkers).await?;
        let (clock, actor) = (self.inner.clock.clone(), who.worker.username.clone());
        let k = self.storage().write(move |tx| keys::add(tx, clock.as_ref(), &actor, &req.name)).await?;
        Ok(NewApiKeyResponse { id: k.id, key: k.key })
    }

    pub async fn console_revoke_api_key(&self, who: &Principal, id: String) -> Result<()> {
        self.console_grant(who, Menu::Admin, Action::ManageWorkers).await?;
        let (actor, now) = (who.worker.username.clone(), self.now_ms());
        self.storage().write(move |tx| keys::revoke(tx, &actor, &id, now)).await
    }

    /// Replace the registry from a CSV (admin): every bad line is reported and nothing
    /// changes; a good file replaces it in one transaction and tablets pull the new version.
    pub async fn console_import_registry(&self, who: &Principal, csv: String) -> Result<RegistryImported> {
        self.console_grant(who, Menu::Admin, Action::ManageWorkers).await?;
        let reg = tokio::task::spawn_blocking(move || parse_registry_csv(&csv))
            .await
            .map_err(|e| Error::Internal(format!("parsing a registry: {e}")))?
            .map_err(Error::RegistryImport)?;
        let (actor, now, courtyards) = (who.worker.username.clone(), self.now_ms(), reg.courtyards.len() as u64);
        let version = self
            .storage()
            .write(move |tx| {
                let version = tx.replace_registry(&reg)?;
                let detail = format!(
                    "console import: {} subdistricts, {} communities, {} courtyards; version {version}",
                    reg.subdistricts.len(),
                    reg.communities.len(),
                    reg.courtyards.len()
                );
                tx.audit(now, &actor, "registry_replaced", &detail)?;
                Ok(version)
            })
            .await?;
        self.fresh_registry().await?;
        Ok(RegistryImported { courtyards, version })
    }

    /// 管理 · departments and routing, as the district's file sets them (read-only here:
    /// the file is the one source, reviewed like code).
    pub async fn console_departments(&self, who: &Principal) -> Result<Departments> {
        self.console_grant(who, Menu::Admin, Action::ManageWorkers).await?;
        let d = &self.config().district;
        Ok(Departments {
            departments: d.departments.iter().map(|x| Department { code: x.name.clone(), name: x.name.clone() }).collect(),
            routing: d.routing.iter().map(|r| Route { category: r.category.code().to_owned(), target: r.department.clone() }).collect(),
        })
    }

    /// 管理 · the audit log, newest first.
    pub async fn console_audit(&self, who: &Principal, filter: AuditFilter) -> Result<AuditPage> {
        self.console_grant(who, Menu::Admin, Action::ManageWorkers).await?;
        let q = filter.query()?;
        let limit = q.limit as usize;
        let entries = self.storage().read(move |r| r.audit_page(&q)).await?;
        let next_before = (entries.len() == limit).then(|| entries.last().map(|e| e.id)).flatten();
        Ok(AuditPage {
            entries: entries
                .into_iter()
                .map(|e| AuditLine { id: e.id, at_ms: e.at_ms, actor: e.actor, action: e.action, detail: e.detail })
                .collect(),
            next_before,
        })
    }
}
