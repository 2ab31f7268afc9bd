//! Tablet ↔ server sync. See DESIGN.md § Sync and ARCHITECTURE.md.

mod engine;
mod outbox;
pub mod plan;
mod transport;

pub use engine::{enrol, sync, Phase, Progress, SyncOptions, SyncReport};
pub use outbox::{DeviceSyncState, RejectedRecord};
pub use transport::{HttpTransport, PushBody, Transport, TransportError};
