//! Small platform facts the core takes as parameters: the clock, randomness,
//! and string bindings from the environment.

use wasm_bindgen::prelude::*;
use worker::Env;

#[wasm_bindgen]
extern "C" {
    /// Fills the slice from the platform's CSPRNG.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// Unix milliseconds.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// `N` bytes from `crypto.getRandomValues`.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    get_random_values(&mut buf);
    buf
}

/// A string binding (a plain variable or a secret), if set.
pub fn env_string(env: &Env, name: &str) -> Option<String> {
    if let Ok(var) = env.var(name) {
        return Some(var.to_string());
    }
    env.secret(name).ok().map(|s| s.to_string())
}

/// WebAssembly linear memory of this isolate, in bytes.
pub fn wasm_memory_bytes() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    u64::from(buffer.byte_length())
}
