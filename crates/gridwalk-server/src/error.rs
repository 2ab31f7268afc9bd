//! The server's one error type. Every variant has a stable machine code and an HTTP status, so
//! the HTTP layer only translates and never decides.

use gridwalk_domain::registry_gen::ImportError;
use gridwalk_domain::ValidationError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("unknown field: {0}")]
    UnknownField(String),
    #[error("the body is not valid UTF-8")]
    InvalidUtf8,
    #[error("expected content type {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// A request body in a Content-Encoding the server does not read.
    #[error("content encoding {0} is not accepted; send zstd, gzip or identity")]
    UnsupportedEncoding(String),
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    #[error("invalid id: {0}")]
    InvalidId(String),
    #[error("invalid time: {0}")]
    InvalidTime(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("missing bearer token")]
    MissingToken,
    #[error("unknown token")]
    InvalidToken,
    #[error("this device's token was revoked")]
    TokenRevoked,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("too many failed logins; try again in {retry_after_s} s")]
    LoginLocked { retry_after_s: i64 },
    #[error("too many requests; slow down")]
    RateLimited,
    #[error("role {role} may not {action}")]
    Forbidden { role: &'static str, action: &'static str },
    #[error("{0} is outside your scope")]
    OutOfScope(String),
    #[error("the push names device {claimed}, but the token belongs to another device")]
    WrongDevice { claimed: String },
    #[error("a push may carry at most {max} events")]
    BatchTooLarge { max: usize },
    #[error("{0}")]
    Validation(#[from] ValidationError),
    #[error("unknown courtyard {0}")]
    UnknownCourtyard(String),
    #[error("unknown scope unit {0}")]
    UnknownScopeUnit(String),
    #[error("bad scope {0:?}: use district, subdistrict:CODE, community:CODE, courtyard:CODE or department:NAME")]
    BadScope(String),
    #[error("weak password: {0}")]
    WeakPassword(gridwalk_domain::password::PasswordProblem),
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("this worker is disabled")]
    WorkerDisabled,
    #[error("this device's token expired; log in again")]
    TokenExpired,
    #[error("too many logins from this address; try again in {retry_after_s} s")]
    LoginThrottled { retry_after_s: i64 },
    #[error("nothing to change: give a role, a scope or both")]
    NothingToChange,
    #[error("unknown role {0:?}: use grid_worker, cadre, supervisor, department_staff or admin")]
    UnknownRole(String),
    #[error("unknown worker {0}")]
    UnknownWorker(String),
    #[error("queued order {0} was already placed")]
    AlreadyPlaced(String),
    #[error("order number {0} is already taken by another order (another place or content); a resend must repeat the order exactly")]
    OrderNoTaken(String),
    #[error("issue {0} is not resolved: a callback follows a resolution")]
    NotResolved(String),
    #[error("username {0} is taken")]
    UsernameTaken(String),
    #[error("unknown device {0}")]
    UnknownDevice(String),
    #[error("upload offset {offset} does not match the {held} bytes held")]
    OffsetMismatch { offset: u64, held: u64 },
    #[error("the uploaded bytes do not hash to {0}")]
    HashMismatch(String),
    #[error("a photo may be at most {max} bytes")]
    PhotoTooLarge { max: u64 },
    #[error("the upload does not start like a JPEG, PNG, WebP or HEIC image")]
    NotAnImage,
    #[error("a blob is named by 64 lowercase hex characters (its sha256)")]
    BadBlobHash,
    /// A photo in a format the server serves but does not decode (HEIC, GIF): no thumbnail.
    #[error("no thumbnail for {0} photos: the server does not decode them")]
    ThumbnailUnsupported(&'static str),
    /// A photo whose declared size is past what the server decodes (a decompression bomb, or
    /// a panorama): no thumbnail.
    #[error("a {width}×{height} photo is too large to make a thumbnail of")]
    ImageTooLarge { width: u32, height: u32 },
    /// A photo whose bytes start like an image but do not decode: no thumbnail.
    #[error("the photo does not decode: {0}")]
    UndecodableImage(String),
    #[error("no event of this device names photo {0}")]
    PhotoNotReferenced(String),
    #[error("this device uploaded its {max} bytes of photos for today; the rest waits until tomorrow")]
    PhotoQuotaExceeded { max: u64 },
    #[error("the registry file has {} bad rows; first: {}", .0.len(), .0.first().map(|e| e.to_string()).unwrap_or_default())]
    RegistryImport(Vec<ImportError>),
    #[error("the request carries no CSRF token (header X-CSRF-Token)")]
    CsrfMissing,
    #[error("the CSRF token does not belong to this session")]
    CsrfMismatch,
    #[error("{code}: {reason}")]
    ActionRefused { code: &'static str, reason: String },
    #[error("the issue cannot take this step now: {0}")]
    InvalidTransition(String),
    #[error("storage: {0}")]
    Storage(String),
    /// Another process holds the database's write lock: nothing of the request was stored.
    #[error("the database is busy (another process holds its lock); nothing was stored, try again")]
    Busy,
    /// The database cannot be reached (PostgreSQL restarting, the network to it down):
    /// nothing of the request was stored.
    #[error("the database is unavailable; nothing was stored, try again")]
    Unavailable(String),
    #[error("bad database setting: {0}")]
    BadDatabase(String),
    #[error("{0}")]
    EngineUnsupported(&'static str),
    #[error("the data directory {0} is in use by a running server; stop it first")]
    DataDirInUse(String),
    #[error("{0} is not a gridwalk-server backup: {1}")]
    NotABackup(String, String),
    #[error("the database was written by a newer build (schema {found}, this build knows {known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the notice sender is misconfigured: {0}")]
    BadNoticeSender(String),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidJson(_) => "invalid_json",
            Error::UnknownField(_) => "unknown_field",
            Error::InvalidUtf8 => "invalid_utf8",
            Error::UnsupportedMediaType { .. } => "unsupported_media_type",
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::UnsupportedEncoding(_) => "unsupported_encoding",
            Error::InvalidQuery(_) => "invalid_query",
            Error::InvalidId(_) => "invalid_id",
            Error::InvalidTime(_) => "invalid_time",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::MissingToken => "missing_token",
            Error::InvalidToken => "invalid_token",
            Error::TokenRevoked => "token_revoked",
            Error::InvalidCredentials => "invalid_credentials",
            Error::LoginLocked { .. } => "login_locked",
            Error::RateLimited => "rate_limited",
            Error::Forbidden { .. } => "forbidden",
            Error::OutOfScope(_) => "out_of_scope",
            Error::WrongDevice { .. } => "wrong_device",
            Error::BatchTooLarge { .. } => "batch_too_large",
            Error::Validation(v) => v.code(),
            Error::UnknownCourtyard(_) => "unknown_courtyard",
            Error::UnknownScopeUnit(_) => "unknown_scope_unit",
            Error::BadScope(_) => "bad_scope",
            Error::WeakPassword(_) => "weak_password",
            Error::WrongPassword => "wrong_password",
            Error::WorkerDisabled => "worker_disabled",
            Error::TokenExpired => "token_expired",
            Error::LoginThrottled { .. } => "login_throttled",
            Error::NothingToChange => "nothing_to_change",
            Error::UnknownRole(_) => "unknown_role",
            Error::UnknownWorker(_) => "unknown_worker",
            Error::AlreadyPlaced(_) => "already_placed",
            Error::OrderNoTaken(_) => "order_no_taken",
            Error::NotResolved(_) => "not_resolved",
            Error::UsernameTaken(_) => "username_taken",
            Error::UnknownDevice(_) => "unknown_device",
            Error::OffsetMismatch { .. } => "offset_mismatch",
            Error::HashMismatch(_) => "hash_mismatch",
            Error::PhotoTooLarge { .. } => "photo_too_large",
            Error::NotAnImage => "not_an_image",
            Error::BadBlobHash => "bad_blob_hash",
            Error::ThumbnailUnsupported(_) => "thumbnail_unsupported",
            Error::ImageTooLarge { .. } => "image_too_large",
            Error::UndecodableImage(_) => "undecodable_image",
            Error::PhotoNotReferenced(_) => "photo_not_referenced",
            Error::PhotoQuotaExceeded { .. } => "photo_quota_exceeded",
            Error::RegistryImport(errors) => errors.first().map(|e| e.code()).unwrap_or("registry_import_bad_row"),
            Error::CsrfMissing => "csrf_missing",
            Error::CsrfMismatch => "csrf_mismatch",
            Error::ActionRefused { code, .. } => code,
            Error::InvalidTransition(_) => "invalid_transition",
            Error::Storage(_) => "storage",
            Error::Busy => "busy",
            Error::Unavailable(_) => "database_unavailable",
            Error::BadDatabase(_) => "bad_database",
            Error::EngineUnsupported(_) => "engine_unsupported",
            Error::DataDirInUse(_) => "data_dir_in_use",
            Error::NotABackup(..) => "not_a_backup",
            Error::SchemaTooNew { .. } => "schema_too_new",
            Error::Io(_) => "io",
            Error::Corrupt(_) => "corrupt",
            Error::BadNoticeSender(_) => "bad_notice_sender",
            Error::Internal(_) => "internal",
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidJson(_)
            | Error::UnknownField(_)
            | Error::InvalidUtf8
            | Error::InvalidQuery(_)
            | Error::InvalidId(_)
            | Error::InvalidTime(_)
            | Error::Validation(_)
            | Error::UnknownScopeUnit(_)
            | Error::BadScope(_)
            | Error::WeakPassword(_)
            | Error::NothingToChange
            | Error::UnknownRole(_)
            | Error::BadBlobHash
            | Error::RegistryImport(_)
            | Error::NotABackup(..)
            | Error::BadDatabase(_) => 400,
            // token_expired is 401 like a revoked token: the tablet stops and asks for a login.
            Error::MissingToken | Error::InvalidToken | Error::TokenRevoked | Error::TokenExpired | Error::InvalidCredentials => 401,
            // worker_disabled is 403, not 401: the tablet keeps its token (it does not mark
            // itself revoked), so enabling the worker again lets the same device sync on.
            Error::Forbidden { .. }
            | Error::OutOfScope(_)
            | Error::WrongDevice { .. }
            | Error::WorkerDisabled
            | Error::WrongPassword
            | Error::CsrfMissing
            | Error::CsrfMismatch => 403,
            Error::ActionRefused { code, .. } if matches!(*code, "out_of_scope" | "not_permitted" | "wrong_device" | "wrong_author") => 403,
            Error::ActionRefused { .. } => 422,
            Error::InvalidTransition(_) => 409,
            Error::NotFound(_) | Error::UnknownWorker(_) | Error::UnknownDevice(_) | Error::PhotoNotReferenced(_) => 404,
            Error::MethodNotAllowed => 405,
            Error::UsernameTaken(_)
            | Error::OffsetMismatch { .. }
            | Error::AlreadyPlaced(_)
            | Error::NotResolved(_)
            | Error::DataDirInUse(_)
            | Error::EngineUnsupported(_)
            | Error::OrderNoTaken(_) => 409,
            Error::BodyTooLarge { .. } | Error::BatchTooLarge { .. } | Error::PhotoTooLarge { .. } | Error::ImageTooLarge { .. } => 413,
            Error::UnsupportedMediaType { .. } | Error::UnsupportedEncoding(_) | Error::NotAnImage | Error::ThumbnailUnsupported(_) => 415,
            Error::UnknownCourtyard(_) | Error::HashMismatch(_) | Error::UndecodableImage(_) => 422,
            Error::LoginLocked { .. } | Error::LoginThrottled { .. } | Error::RateLimited | Error::PhotoQuotaExceeded { .. } => 429,
            Error::Storage(_)
            | Error::SchemaTooNew { .. }
            | Error::Io(_)
            | Error::Corrupt(_)
            | Error::BadNoticeSender(_)
            | Error::Internal(_) => 500,
            Error::Busy | Error::Unavailable(_) => 503,
        }
    }

    /// Seconds a client should wait before trying again (the `Retry-After` header), for errors
    /// that say "not now" rather than "no".
    pub fn retry_after_s(&self) -> Option<i64> {
        match self {
            Error::Busy => Some(1),
            Error::Unavailable(_) => Some(2),
            // A refused login: when the lock or the address's bucket lets the next try in.
            Error::LoginLocked { retry_after_s } | Error::LoginThrottled { retry_after_s } => Some(*retry_after_s),
            _ => None,
        }
    }

    /// The message shown to the client. Server faults say little: their detail goes to the log,
    /// not to whoever sent the request.
    pub fn public_message(&self) -> String {
        if self.status() >= 500 && !matches!(self, Error::Busy | Error::Unavailable(_)) {
            "the server failed; the request was not applied".to_owned()
        } else {
            self.to_string()
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Corrupt(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_a_client_or_server_status_with_a_snake_case_code() {
        let samples = [
            Error::InvalidJson("x".into()),
            Error::LoginLocked { retry_after_s: 3 },
            Error::OffsetMismatch { offset: 1, held: 2 },
            Error::Validation(ValidationError::BadPhotoHash),
            Error::Internal("x".into()),
            Error::RegistryImport(vec![]),
            Error::Busy,
            Error::ThumbnailUnsupported("HEIC"),
            Error::ImageTooLarge { width: 20_000, height: 20_000 },
            Error::UndecodableImage("x".into()),
        ];
        for e in samples {
            assert!((400..600).contains(&e.status()), "{e:?} maps to an error status");
            assert!(e.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{e:?} has a snake_case code");
        }
        assert!(!Error::Internal("secret path".into()).public_message().contains("secret"), "server faults do not leak detail");
    }
}
