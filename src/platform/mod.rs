//! The `workers-rs` shell: the wasm entry point and the Durable Object
//! classes, adapting platform APIs to the runtime-independent core.
//!
//! - [`edge_worker`], [`public_routes`]: the Worker's `fetch` (routes, auth, pages, proxying).
//! - [`config_do`] / [`config_cache`]: the `ServerConfig` object and its cached reads.
//! - [`vault_do`], [`room_host`], [`room_routes`], [`room_snapshots`], [`admin`]: the vault room.
//! - [`r2`], [`r2_routes`]: the bucket adapter and the Worker's attachment and snapshot routes.
//! - [`body`]: request bodies read in pieces against their limit.
//! - [`do_sql`], [`kv`], [`reply`], [`runtime`]: adapters to core traits and types.

mod admin;
mod auth_gate;
mod body;
mod config_cache;
mod config_do;
mod do_sql;
mod edge_worker;
mod kv;
mod public_routes;
mod r2;
mod r2_routes;
mod reply;
mod room_host;
mod room_routes;
mod room_snapshot_notes;
mod room_snapshots;
mod runtime;
mod vault_do;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    edge_worker::handle(req, env).await
}
