//! The tablet's brain. It owns the encrypted store, the device log and its outbox, the use
//! cases the UI calls, and the sync engine. It never imports tauri: the shell adapts it.

pub mod db;
pub mod error;
pub mod export;
mod foresight;
mod photos;
mod query;
mod registry;
pub mod sync;
mod tablet;
mod views;

pub use db::StoreKey;
pub use error::{CoreError, Result};
pub use export::{open_export, ExportReceipt, Revocation, UnsyncedContents};
pub use foresight::{NearbyIssue, WeekCourtyard};
pub use gridwalk_clock::{Clock, ManualClock, SystemClock};
pub use photos::{sniff_image, MAX_PHOTO_BYTES};
pub use query::{Cursor, EventSync, IssueDetail, IssueFilter, IssueRow, NewOrder, Page, Today, VisitRow};
pub use registry::{CommunityRow, CourtyardQuery, CourtyardRow};
pub use tablet::{Identity, NewIssue, NewVisit, Tablet};
