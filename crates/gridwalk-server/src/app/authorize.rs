//! Who may do what: one table of actions by role, and one [`AppState::authorize`] every use
//! case starts with. Roles decide *what kind* of thing a worker may do; the scope (resolved
//! here against the registry) decides *where*.

use super::registry::RegistryIndex;
use super::{AppState, Principal};
use crate::error::{Error, Result};
use crate::model::Scope;
use gridwalk_domain::console::{self, Menu};
use gridwalk_domain::Role;
use std::sync::Arc;

/// What a use case does, for the role check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Push,
    Pull,
    ReadRegistry,
    ReadRecords,
    HotlineIntake,
    UploadPhoto,
    /// Alerts and the three rates: the supervisors' dashboard.
    ReadDashboard,
    /// The messages sent to an issue's resident and their delivery state.
    ReadNotices,
    /// The dispatcher's desk: read the queues, place a queued order.
    Dispatch,
    /// Disable and enable workers, reset their passwords, change their role or scope.
    ManageWorkers,
    /// Change one's own password (with the current one).
    ChangeOwnPassword,
    /// 未诉先办's coverage, hotspots, trends and early warnings.
    ReadForesight,
    /// Make a warning into a proactive task.
    CreateTask,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Push,
        Action::Pull,
        Action::ReadRegistry,
        Action::ReadRecords,
        Action::HotlineIntake,
        Action::UploadPhoto,
        Action::ReadDashboard,
        Action::ReadNotices,
        Action::Dispatch,
        Action::ManageWorkers,
        Action::ChangeOwnPassword,
        Action::ReadForesight,
        Action::CreateTask,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Push => "push events",
            Action::Pull => "pull events",
            Action::ReadRegistry => "read the registry",
            Action::ReadRecords => "read issues and visits",
            Action::HotlineIntake => "take in hotline work orders",
            Action::UploadPhoto => "upload photos",
            Action::ReadDashboard => "read alerts and rates",
            Action::Dispatch => "dispatch orders",
            Action::ReadNotices => "read the messages to residents",
            Action::ManageWorkers => "manage workers",
            Action::ChangeOwnPassword => "change their password",
            Action::ReadForesight => "read coverage, hotspots, trends and warnings",
            Action::CreateTask => "make proactive tasks",
        }
    }

    /// Managing workers is the admins' alone. Taking in hotline orders is a desk job for
    /// supervisors and admins, and so is the dashboard, the messages to residents and making
    /// proactive tasks; the foresight figures are theirs and the cadres' (who watch their
    /// area, as the console's menus say); everything else is open to every role inside its
    /// scope (department staff respond to what was whistled to them).
    pub fn allowed(self, role: Role) -> bool {
        match self {
            Action::HotlineIntake | Action::ReadDashboard | Action::ReadNotices | Action::Dispatch => {
                matches!(role, Role::Supervisor | Role::Admin)
            }
            // The 预警 page and what it offers, from the console's one table.
            Action::ReadForesight => console::may_open(role, Menu::Foresight),
            Action::CreateTask => console::may_make_tasks(role),
            Action::ManageWorkers => role == Role::Admin,
            Action::Push | Action::Pull | Action::ReadRegistry | Action::ReadRecords | Action::UploadPhoto | Action::ChangeOwnPassword => {
                true
            }
        }
    }

    /// Actions whose answer must reflect a registry import at once (a pull hands tablets the
    /// new registry; an order is placed on it). The others may use one at most a second old.
    fn wants_fresh_registry(self) -> bool {
        matches!(self, Action::Pull | Action::ReadRegistry | Action::HotlineIntake | Action::Dispatch)
    }
}

/// What an authorised caller may work on: the registry it was checked against and its scope.
pub struct Grant {
    pub registry: Arc<RegistryIndex>,
    pub scope: Scope,
}

impl AppState {
    /// Check that `who`'s role may do `action`, and resolve `who`'s scope.
    pub async fn authorize(&self, who: &Principal, action: Action) -> Result<Grant> {
        if !action.allowed(who.worker.role) {
            return Err(Error::Forbidden { role: who.worker.role.code(), action: action.name() });
        }
        let registry = if action.wants_fresh_registry() { self.fresh_registry().await? } else { self.recent_registry().await? };
        let scope = registry.resolve_lenient(&who.worker.scope);
        Ok(Grant { registry, scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_workers_and_only_supervisors_and_admins_take_hotline_orders_read_the_dashboard_and_messages() {
        for role in Role::ALL {
            for action in Action::ALL {
                let desk = matches!(
                    action,
                    Action::HotlineIntake | Action::ReadDashboard | Action::ReadNotices | Action::Dispatch | Action::CreateTask
                );
                let expected = match action {
                    Action::ManageWorkers => *role == Role::Admin,
                    Action::ReadForesight => matches!(role, Role::Supervisor | Role::Admin | Role::Cadre),
                    _ => !desk || matches!(role, Role::Supervisor | Role::Admin),
                };
                assert_eq!(action.allowed(*role), expected, "{role:?} × {action:?}");
            }
        }
    }
}
