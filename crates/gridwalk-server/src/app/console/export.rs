//! Exports of the console's lists (CSV with BOM, .xlsx), streamed a row at a time from one
//! read, so a million rows never sit in memory.

use gridwalk_domain::calendar::beijing;

/// A time as the page and the exports show it: `YYYY-MM-DD HH:MM`, Beijing time.
pub fn beijing_text(ms: i64) -> String {
    beijing(ms).strftime("%Y-%m-%d %H:%M").to_string()
}
