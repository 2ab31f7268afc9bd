//! The core's one error type. Every variant has a stable code: the Tauri shell hands the UI
//! `{code, message}` and the UI matches on the code, never on the message.

use gridwalk_domain::ValidationError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CoreError {
    #[error("the store key is wrong, or the file is not a Gridwalk store")]
    WrongKey,
    #[error("the store was written by a newer Gridwalk (schema {found}, this build knows {known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("this tablet is not enrolled yet")]
    NotEnrolled,
    #[error("this tablet was revoked by the district; unsynced records are kept on the tablet")]
    Revoked,
    /// The device's token expired (it went unused longer than the district allows): the same
    /// device logs in again with the worker's password and keeps everything it queued.
    #[error("this tablet's session expired: log in again with your password; nothing is lost")]
    SessionExpired,
    #[error("cannot reach the server: {0}")]
    Offline(String),
    #[error("server refused: {message}")]
    Server { code: String, message: String, status: u16 },
    #[error("the app is locked: enter the PIN")]
    Locked,
    #[error("sync was cancelled")]
    Cancelled,
    #[error("the photo is {bytes} bytes; the limit is {limit}")]
    PhotoTooLarge { bytes: u64, limit: u64 },
    #[error("the file is not a JPEG, PNG, WebP or HEIC image")]
    NotAnImage,
    #[error("only a rejected record can be {action}")]
    NotRejected { action: &'static str },
    #[error("only a revoked tablet exports its unsynced records or wipes its store")]
    NotRevoked,
    #[error("{records} records and {photos} photos are not synced: export them before the wipe")]
    UnsyncedNotExported { records: u64, photos: u64 },
    #[error("the export passphrase must be at least {min} characters")]
    WeakPassphrase { min: usize },
    #[error("cannot open the export: {0}")]
    BadExport(String),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("corrupt record: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl CoreError {
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::WrongKey => "wrong_key",
            CoreError::SchemaTooNew { .. } => "schema_too_new",
            CoreError::Invalid(v) => v.code(),
            CoreError::NotFound { .. } => "not_found",
            CoreError::NotEnrolled => "not_enrolled",
            CoreError::Revoked => "device_revoked",
            CoreError::SessionExpired => "session_expired",
            CoreError::Offline(_) => "offline",
            CoreError::Server { .. } => "server_error",
            CoreError::Locked => "locked",
            CoreError::Cancelled => "cancelled",
            CoreError::PhotoTooLarge { .. } => "photo_too_large",
            CoreError::NotAnImage => "not_an_image",
            CoreError::NotRejected { .. } => "not_rejected",
            CoreError::NotRevoked => "not_revoked",
            CoreError::UnsyncedNotExported { .. } => "unsynced_not_exported",
            CoreError::WeakPassphrase { .. } => "weak_passphrase",
            CoreError::BadExport(_) => "bad_export",
            CoreError::Io(_) => "io",
            CoreError::Storage(_) => "storage",
            CoreError::Corrupt(_) => "corrupt_record",
        }
    }

    /// The `{code, message}` body the shell hands to the UI.
    pub fn to_body(&self) -> gridwalk_proto::ErrorBody {
        gridwalk_proto::ErrorBody { code: self.code().to_owned(), message: self.to_string(), retry_after_s: None }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
