//! Tablet ↔ server sync. See DESIGN.md § Sync and ARCHITECTURE.md.

pub mod auto;
mod engine;
mod outbox;
pub mod plan;
mod transport;

pub use engine::{enrol, renew_session, sync, sync_with, Phase, Progress, StoreAccess, SyncOptions, SyncReport};
pub use outbox::{Applied, DeviceSyncState, RejectedRecord, WaitTicket};
pub use transport::{HttpTransport, PushBody, Transport, TransportError, WaitAnswer};
