//! A [`Scope`] as a PostgreSQL condition, as `sqlite::scope_sql` makes one for SQLite. Ids go
//! in as parameters (`= ANY($n)`, one array parameter per list), never into the SQL text, so
//! the statement's text is the same for every scope of one shape.

use super::Args;
use crate::model::Scope;

/// A condition over a table's `courtyard_id`, `community_id` and `subdistrict_id` columns
/// (prefixed by `table.` when given); its parameters are added to `args`.
pub fn by_place(scope: &Scope, table: &str, args: &mut Args) -> String {
    if scope.district {
        return "TRUE".into();
    }
    let prefix = if table.is_empty() { String::new() } else { format!("{table}.") };
    let mut parts = Vec::new();
    let mut add = |column: &str, ids: Vec<String>| {
        if !ids.is_empty() {
            let p = args.add(ids);
            parts.push(format!("{prefix}{column} = ANY({p})"));
        }
    };
    add("subdistrict_id", scope.subdistricts.iter().map(|i| i.to_string()).collect());
    add("community_id", scope.communities.iter().map(|i| i.to_string()).collect());
    add("courtyard_id", scope.courtyards.iter().map(|i| i.to_string()).collect());
    if parts.is_empty() {
        return "FALSE".into();
    }
    format!("({})", parts.join(" OR "))
}

/// [`by_place`] for rows about issues, widened by the department rule: a row whose `id_column`
/// names an issue whistled to one of the scope's departments is in scope too.
pub fn by_place_or_whistle(scope: &Scope, id_column: &str, args: &mut Args) -> String {
    let geo = by_place(scope, "", args);
    if scope.district || scope.departments.is_empty() {
        return geo;
    }
    let p = args.add(scope.departments.iter().cloned().collect::<Vec<String>>());
    format!("({geo} OR {id_column} IN (SELECT issue_id FROM issue_whistles WHERE target = ANY({p})))")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_department_scope_matches_no_row_by_place() {
        let dept = Scope { departments: ["区城管委".to_owned()].into(), ..Default::default() };
        let mut args = Args::default();
        assert_eq!(by_place(&dept, "", &mut args), "FALSE", "a department scope holds no place: only what is whistled to it");
        let mut args = Args::default();
        let sql = by_place_or_whistle(&dept, "id", &mut args);
        assert!(sql.contains("issue_whistles") && sql.contains("$1"), "a department scope reaches whistled issues: {sql}");
        assert_eq!(args.0.len(), 1, "the departments go in as one parameter");
        assert_eq!(by_place(&Scope::district(), "e", &mut Args::default()), "TRUE", "the district scope matches every row");
    }
}
