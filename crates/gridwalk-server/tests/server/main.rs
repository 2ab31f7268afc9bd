//! The server test binary: the real router over a real database, driven with `oneshot`. It runs
//! once per engine (`cargo xtask test`): on the embedded SQLite file, and with
//! `GRIDWALK_TEST_ENGINE=postgres` on a fresh PostgreSQL database per site. Every assertion
//! message names the rule it checks.
//!
//! Modules:
//! - `kit`: the shared fixture (data directory, workers, state on a system or manual clock) and HTTP helpers.
//! - `api`: auth, push outcomes, pull scoping, hotline intake, blobs, hostile input.
//! - `openapi`: the generated document against the checked-in `openapi.json`, the router and serde's JSON.
//! - `workflow`: escalations on a manual clock (also as a config file sets them), recurrence links,
//!   department scope, rates and pledges.
//! - `open311`: GeoReport v2 conformance in JSON and XML, every filter and error, Chinese round trips.
//! - `dispatch`: named assignees, return / transfer / urge, the rules matrix on push (every cell), review before
//!   close, duplicates out of the rates, departments receiving the whole issue, the long-poll.
//! - `encoding`: zstd and gzip bodies: a compressed push stored once, answers compressed only when asked,
//!   the encodings read advertised, unknown and corrupt encodings and a decompression bomb refused, nothing stored.
//! - `notices`: messages to residents through a flaky local gateway, once each, across a restart.
//! - `access`: disable / enable, password change and reset, role and scope changes on the next sync, token expiry
//!   renewed by sync, the login throttle per address and Retry-After.
//! - `hostile`: the server tried as an attacker would: re-reporting a known id, poisoned clocks, a bad row in
//!   the escalation job, photos outside one's own events or quota, slow and idle sockets, the connection limit.
//! - `fuzz`: proptest over the wire: mutated push bodies and Open311 query strings never make a 5xx
//!   (`GRIDWALK_FUZZ_CASES` cases each; `cargo xtask fuzz` runs more).
//! - `trust`: a push refused `busy` (lock held elsewhere) stores nothing; private modes; backup while serving and restore (epoch).
//! - `console`: the district console's API: sessions (cookie, CSRF, expiry, logout), the matrix of every console
//!   route × role, scope on tickets, phones and photos, actions stored once, keyset pages, the overview against
//!   the rates, bad input storing nothing, exports parsed back, devices' own reports, the embedded pages.
//! - `foresight`: 未诉先办: every foresight route × role, bad asks refused storing nothing, hotline orders
//!   linked or attached as probable duplicates, proactive tasks made once, visits moving coverage (far ones
//!   flagged), a burst of reports making a hotspot and a warning.
//! - `postgres`: the PostgreSQL engine's own promises (in both passes): a feed cursor never skips a late commit,
//!   (device, seq) unique across two stores, one lease holder, notifications across stores, 503 when it is away.
//! - `public`: what anonymous Open311 shows (scrubbed text, courtyard points, public notes, public ids), paging,
//!   media URLs, keys kept out of the database and the log, reused order numbers, far-away points.

mod access;
mod api;
mod console;
mod dispatch;
mod encoding;
mod foresight;
mod fuzz;
mod hostile;
mod kit;
mod notices;
mod open311;
mod openapi;
mod postgres;
mod public;
mod trust;
mod workflow;
