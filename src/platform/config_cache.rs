//! The Worker's view of the `ServerConfig` object: read through a 60 s
//! isolate-memory cache (spec 5.4) with concurrent reads merged into one
//! fetch, and cleared after a claim or metadata write.

use crate::edge::auth::StoredConfig;
use crate::internal_routes::{ConfigRoute, InternalRoute};
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use std::cell::RefCell;
use worker::{Env, Result};

use super::config_do::CONFIG_OBJECT_NAME;
use super::runtime::now_ms;

const TTL_MS: u64 = 60_000;

type Inflight = Shared<LocalBoxFuture<'static, std::result::Result<StoredConfig, String>>>;

thread_local! {
    static CACHED: RefCell<Option<(u64, StoredConfig)>> = const { RefCell::new(None) };
    static INFLIGHT: RefCell<Option<Inflight>> = const { RefCell::new(None) };
}

/// Forgets the cached config (after a claim or an update-metadata write).
pub fn invalidate() {
    CACHED.with(|c| c.borrow_mut().take());
    INFLIGHT.with(|f| f.borrow_mut().take());
}

/// The stored config, at most 60 s old.
pub async fn stored_config(env: &Env) -> Result<StoredConfig> {
    let now = now_ms();
    if let Some(config) = CACHED.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(at, _)| now.saturating_sub(*at) < TTL_MS)
            .map(|(_, cfg)| cfg.clone())
    }) {
        return Ok(config);
    }
    let inflight = INFLIGHT.with(|f| {
        f.borrow_mut()
            .get_or_insert_with(|| {
                let env = env.clone();
                async move { fetch_config(&env).await.map_err(|e| e.to_string()) }
                    .boxed_local()
                    .shared()
            })
            .clone()
    });
    let result = inflight.await;
    INFLIGHT.with(|f| f.borrow_mut().take());
    let config = result.map_err(worker::Error::RustError)?;
    CACHED.with(|c| *c.borrow_mut() = Some((now_ms(), config.clone())));
    Ok(config)
}

/// A request to the config object (`https://internal/__yaos/...`).
pub async fn config_fetch(env: &Env, req: worker::Request) -> Result<worker::Response> {
    env.durable_object("YAOS_CONFIG")?
        .get_by_name(CONFIG_OBJECT_NAME)?
        .fetch_with_request(req)
        .await
}

async fn fetch_config(env: &Env) -> Result<StoredConfig> {
    let route = ConfigRoute::Config;
    let req = worker::Request::new(&route.url(), worker::Method::from(route.method().to_owned()))?;
    let mut res = config_fetch(env, req).await?;
    if res.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "config object answered {}",
            res.status_code()
        )));
    }
    Ok(res.json::<StoredConfig>().await?.normalized())
}
