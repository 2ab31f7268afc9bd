//! Access that can be taken back: one's own password, and the admins' worker management
//! (disable, enable, password reset, role and scope). One-line handlers into
//! [`crate::app::access`]'s use cases on [`AppState`].

use super::extract::{Auth, Client, JsonBody, Segment};
use super::openapi::ErrorResponse;
use crate::app::access::{AccessChange, PasswordChange, PasswordReset, RoleChange};
use crate::app::AppState;
use crate::error::Error;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    summary = "Change one's own password with the current one (any role). The new one must pass the password rule \
               (400 weak_password); a wrong current one is 403 wrong_password and counts towards the login locks. The \
               worker's other devices are revoked; this one keeps working.",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "AccessChange", body = AccessChange),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn own_password(
    State(s): State<AppState>,
    Auth(who): Auth,
    Client(addr): Client,
    JsonBody(req): JsonBody<PasswordChange>,
) -> Result<Response, Error> {
    Ok(Json(s.change_own_password(&who, addr, req).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/workers/{username}/disable",
    summary = "Disable a worker (admin): every device of theirs is refused at once (403 worker_disabled) and their \
               logins too; nothing is revoked, so enabling them again lets the same devices sync on.",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "the worker's username")),
    responses(
        (status = 200, description = "AccessChange", body = AccessChange),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn disable(State(s): State<AppState>, Auth(who): Auth, Segment(username): Segment) -> Result<Response, Error> {
    Ok(Json(s.set_worker_disabled(&who, username, true).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/workers/{username}/enable",
    summary = "Enable a disabled worker again (admin): their devices and logins work again.",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "the worker's username")),
    responses(
        (status = 200, description = "AccessChange", body = AccessChange),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn enable(State(s): State<AppState>, Auth(who): Auth, Segment(username): Segment) -> Result<Response, Error> {
    Ok(Json(s.set_worker_disabled(&who, username, false).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/workers/{username}/password",
    summary = "Set a worker's password (admin). It must pass the password rule (400 weak_password); every device of \
               the worker is revoked, so their tablets log in again with the new one.",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "the worker's username")),
    request_body = PasswordReset,
    responses(
        (status = 200, description = "AccessChange", body = AccessChange),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn reset_password(
    State(s): State<AppState>,
    Auth(who): Auth,
    Segment(username): Segment,
    JsonBody(req): JsonBody<PasswordReset>,
) -> Result<Response, Error> {
    Ok(Json(s.reset_password(&who, username, req).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/workers/{username}/role",
    summary = "Change a worker's role, scope or both (admin), checked as on `worker add` (unknown_role, bad_scope, \
               unknown_scope_unit). Their devices work under the new role and scope from their next request.",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "the worker's username")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "AccessChange", body = AccessChange),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn role(
    State(s): State<AppState>,
    Auth(who): Auth,
    Segment(username): Segment,
    JsonBody(req): JsonBody<RoleChange>,
) -> Result<Response, Error> {
    Ok(Json(s.change_role(&who, username, req).await?).into_response())
}
