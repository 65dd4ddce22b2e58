//! The stateless Worker edge: route classification, CORS, capabilities.
//!
//! Everything here is pure and runs natively under `cargo test`; the platform
//! shell feeds it request parts, secrets, clock and randomness, and performs
//! the I/O it asks for.
//!
//! - [`router`]: method + path to [`router::Route`] (spec 4).
//! - [`http`]: the [`http::Reply`] type, CORS, and [`http::EdgeError`] with its
//!   single status mapping (spec 3).
//! - [`auth`]: auth modes, the stored config, token checks (spec 5.1–5.3).
//! - [`ticket`]: signed WebSocket tickets (spec 5.5), signed with the key
//!   [`ticket_key`] derives from the auth secret; those the TypeScript server
//!   signed with the secret itself are accepted until they expire.
//! - [`admission`]: sync-socket admission and its rejection protocol (5.6–5.7).
//! - [`capabilities`]: `/api/capabilities` and the version constants (6.3).
//! - [`config_rules`]: claim and update-metadata input rules (6.4–6.6), with
//!   [`repo_url`] for the repository URL.
//! - [`pages`]: the claim, running and mobile-setup HTML pages and the setup
//!   QR code (6.1–6.2).
//! - [`blobs`], [`snapshots`]: the R2 routes' input rules (7.3–7.4).
//! - [`body`]: the body limit of each route that reads one, and the bounded
//!   piece-by-piece read.
//! - [`compression`]: the answer to a sync socket's `permessage-deflate` offer.
//! - [`js`]: the JavaScript built-in semantics the contract inherits.

pub mod admission;
pub mod auth;
pub mod auth_throttle;
pub mod blobs;
pub mod body;
pub mod capabilities;
pub mod compression;
pub mod config_rules;
pub mod http;
pub mod js;
pub mod pages;
pub mod repo_url;
pub mod router;
pub mod snapshot_notes;
pub mod snapshots;
pub mod ticket;
pub mod ticket_key;
pub mod vault_id;
