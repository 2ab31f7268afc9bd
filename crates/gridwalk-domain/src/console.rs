//! The district console's pages by role: one table the server enforces on every console
//! route and hands to the page as data, so the page shows only what the server would answer.

use crate::vocab::{vocab, Role};
use serde::{Deserialize, Serialize};

vocab!(
    /// A page of the console (its menu entry).
    Menu {
        Overview => ("overview", "总览", "Overview"),
        Tickets => ("tickets", "工单", "Tickets"),
        Intake => ("intake", "接诉", "Intake"),
        Department => ("department", "部门", "Department inbox"),
        Map => ("map", "地图", "Map"),
        Visits => ("visits", "走访", "Visits and coverage"),
        Foresight => ("foresight", "预警", "Early warning"),
        Devices => ("devices", "设备", "Devices"),
        Admin => ("admin", "管理", "Admin"),
    }
);

/// The pages a role sees, in menu order. Supervisors run the desk (dispatch, intake, review)
/// and watch their area; cadres watch theirs; department staff answer whistles; admins run the
/// system (and see all a supervisor does). A grid worker's console is the ticket list alone:
/// their work is on the tablet.
pub fn menus(role: Role) -> &'static [Menu] {
    use Menu::*;
    match role {
        Role::Supervisor => &[Overview, Tickets, Intake, Map, Visits, Foresight, Devices],
        Role::Admin => &[Overview, Tickets, Intake, Map, Visits, Foresight, Devices, Admin],
        Role::Cadre => &[Overview, Tickets, Map, Visits, Foresight],
        Role::DepartmentStaff => &[Department, Tickets],
        Role::GridWorker => &[Tickets],
    }
}

/// Whether `role` may open `menu`.
pub fn may_open(role: Role, menu: Menu) -> bool {
    menus(role).contains(&menu)
}

/// Whether `role` may make a warning into a proactive task (未诉先办): a desk job, as
/// dispatch is. Cadres read the warnings for their area but send nobody.
pub fn may_make_tasks(role: Role) -> bool {
    matches!(role, Role::Supervisor | Role::Admin)
}

/// Whether `role` may see a resident's full phone number (each look is audited). Desk roles
/// call residents back; nobody else needs the number.
pub fn may_reveal_phone(role: Role) -> bool {
    matches!(role, Role::Supervisor | Role::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_a_page_and_only_admins_administer() {
        for role in Role::ALL {
            assert!(!menus(*role).is_empty(), "{role:?} sees at least one page");
            assert_eq!(may_open(*role, Menu::Admin), *role == Role::Admin, "only admins open 管理");
            assert!(may_open(*role, Menu::Tickets), "every role reads the tickets in its scope");
        }
        assert!(may_open(Role::DepartmentStaff, Menu::Department), "department staff have their inbox");
        assert!(!may_open(Role::DepartmentStaff, Menu::Overview), "department staff do not see the district's rates");
        assert!(may_reveal_phone(Role::Supervisor) && !may_reveal_phone(Role::Cadre), "only the desk reveals phones");
        for role in Role::ALL {
            assert!(!may_make_tasks(*role) || may_open(*role, Menu::Foresight), "{role:?}: who makes tasks sees the warnings");
        }
        assert!(may_open(Role::Cadre, Menu::Foresight) && !may_make_tasks(Role::Cadre), "cadres read warnings, the desk makes tasks");
        assert!(!may_open(Role::GridWorker, Menu::Foresight), "grid workers' early warning is on the tablet");
    }
}
