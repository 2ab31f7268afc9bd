//! A [`Scope`] as a SQL condition. Private to the SQLite engine: no other module writes SQL.
//! Ids go in as parameters, never into the SQL text.

use crate::model::Scope;

/// A condition over a table's `courtyard_id`, `community_id` and `subdistrict_id` columns
/// (prefixed by `table.` when given), with its parameters.
pub fn by_place(scope: &Scope, table: &str) -> (String, Vec<String>) {
    if scope.district {
        return ("1".into(), Vec::new());
    }
    let prefix = if table.is_empty() { String::new() } else { format!("{table}.") };
    let mut parts = Vec::new();
    let mut params = Vec::new();
    let mut add = |column: &str, ids: Vec<String>| {
        if !ids.is_empty() {
            let marks = vec!["?"; ids.len()].join(",");
            parts.push(format!("{prefix}{column} IN ({marks})"));
            params.extend(ids);
        }
    };
    add("subdistrict_id", scope.subdistricts.iter().map(|i| i.to_string()).collect());
    add("community_id", scope.communities.iter().map(|i| i.to_string()).collect());
    add("courtyard_id", scope.courtyards.iter().map(|i| i.to_string()).collect());
    if parts.is_empty() {
        return ("0".into(), Vec::new());
    }
    (format!("({})", parts.join(" OR ")), params)
}

/// [`by_place`] for rows about issues, widened by the department rule: a row whose `id_column`
/// names an issue whistled to one of the scope's departments is in scope too.
pub fn by_place_or_whistle(scope: &Scope, id_column: &str) -> (String, Vec<String>) {
    let (geo, mut params) = by_place(scope, "");
    if scope.district || scope.departments.is_empty() {
        return (geo, params);
    }
    let marks = vec!["?"; scope.departments.len()].join(",");
    params.extend(scope.departments.iter().cloned());
    (format!("({geo} OR {id_column} IN (SELECT issue_id FROM issue_whistles WHERE target IN ({marks})))"), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_department_scope_matches_no_row_by_place() {
        let dept = Scope { departments: ["区城管委".to_owned()].into(), ..Default::default() };
        assert_eq!(by_place(&dept, "").0, "0", "a department scope holds no place: only what is whistled to it");
        let (sql, params) = by_place_or_whistle(&dept, "id");
        assert!(sql.contains("issue_whistles"), "a department scope reaches whistled issues: {sql}");
        assert_eq!(params, vec!["区城管委".to_owned()], "the department goes in as a parameter");
        assert_eq!(by_place(&Scope::district(), "e").0, "1", "the district scope matches every row");
    }
}
