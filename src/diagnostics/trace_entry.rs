//! The shape of one stored trace entry (spec 11.2): `{ts, event, roomId,
//! ...data}` normalized so that no entry can grow the key-value store much.
//!
//! Data arrives as JSON, which cannot hold non-finite numbers, bigints, byte
//! buffers or `undefined`; the spec's rules for those have nothing to act on.

use serde_json::{Map, Value};

pub const MAX_TRACE_ENTRY_BYTES: usize = 16 * 1024;
const MAX_STRING_BYTES: usize = 2048;
const MAX_ARRAY_ITEMS: usize = 20;
const MAX_OBJECT_KEYS: usize = 20;
const MAX_DEPTH: usize = 4;
const ELLIPSIS: &str = "...";
const CORE_KEYS: [&str; 3] = ["ts", "event", "roomId"];

/// Cuts `value` to at most `max_bytes` UTF-8 bytes, ending in `...` when cut.
pub fn truncate_utf8(value: &str, max_bytes: usize) -> String {
    if value.len() <= max_bytes {
        return value.to_owned();
    }
    let (budget, suffix) = match max_bytes.checked_sub(ELLIPSIS.len()) {
        Some(budget) if budget > 0 => (budget, ELLIPSIS),
        _ => (max_bytes, ""),
    };
    let mut end = budget;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &value[..end])
}

/// Bounds strings, arrays, objects and nesting depth of one data value.
fn normalize(value: &Value, depth: usize) -> Value {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
        Value::String(s) => Value::String(truncate_utf8(s, MAX_STRING_BYTES)),
        _ if depth >= MAX_DEPTH => Value::from("[trace-depth-truncated]"),
        Value::Array(items) => {
            let mut out: Vec<Value> =
                items.iter().take(MAX_ARRAY_ITEMS).map(|v| normalize(v, depth + 1)).collect();
            if items.len() > MAX_ARRAY_ITEMS {
                out.push(Value::from(format!("[+{} more items]", items.len() - MAX_ARRAY_ITEMS)));
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .take(MAX_OBJECT_KEYS)
                .map(|(k, v)| (k.clone(), normalize(v, depth + 1)))
                .collect();
            if map.len() > MAX_OBJECT_KEYS {
                out.insert("__truncatedKeys".into(), Value::from(map.len() - MAX_OBJECT_KEYS));
            }
            Value::Object(out)
        }
    }
}

fn json_len(value: &Map<String, Value>) -> usize {
    serde_json::to_string(value).map_or(usize::MAX, |s| s.len())
}

/// Builds the stored entry. Data keys named like the core keys are dropped
/// (the server's values win). `traceTruncated: true` marks any change; an
/// entry over 16 KiB keeps only the core keys and the list of data keys.
pub fn prepare_trace_entry(
    ts: &str,
    event: &str,
    room_id: &str,
    data: &Map<String, Value>,
) -> Value {
    let mut core = Map::new();
    core.insert("ts".into(), truncate_utf8(ts, 128).into());
    core.insert("event".into(), truncate_utf8(event, 256).into());
    core.insert("roomId".into(), truncate_utf8(room_id, 256).into());
    let mut truncated = core["ts"] != ts || core["event"] != event || core["roomId"] != room_id;

    let data = data.iter().filter(|(k, _)| !CORE_KEYS.contains(&k.as_str()));
    for (key, value) in data.clone() {
        let normalized = normalize(value, 0);
        truncated |= normalized != *value;
        core.insert(key.clone(), normalized);
    }
    if truncated {
        core.insert("traceTruncated".into(), Value::Bool(true));
    }
    if json_len(&core) <= MAX_TRACE_ENTRY_BYTES {
        return Value::Object(core);
    }

    let keys: Vec<&str> = data.map(|(k, _)| k.as_str()).collect();
    let mut meta: Map<String, Value> =
        CORE_KEYS.iter().map(|&k| (k.to_owned(), core[k].clone())).collect();
    meta.insert("traceTruncated".into(), Value::Bool(true));
    meta.insert("traceOriginalKeys".into(), truncate_utf8(&keys.join(","), 1024).into());
    if json_len(&meta) <= MAX_TRACE_ENTRY_BYTES {
        return Value::Object(meta);
    }
    // Unreachable with the limits above; kept as the last resort the spec names.
    meta.remove("traceOriginalKeys");
    Value::Object(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(data: Value) -> Value {
        let Value::Object(data) = data else { panic!("data must be an object") };
        prepare_trace_entry("2026-05-28T10:11:12.345Z", "ev", "room", &data)
    }

    #[test]
    fn small_entries_pass_unchanged_with_core_keys_first() {
        let out = entry(json!({"b": 1, "a": "x", "ts": "ignored", "nested": {"k": [1, 2]}}));
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"ts":"2026-05-28T10:11:12.345Z","event":"ev","roomId":"room","b":1,"a":"x","nested":{"k":[1,2]}}"#
        );
    }

    #[test]
    fn truncate_utf8_respects_char_boundaries() {
        assert_eq!(truncate_utf8("abcdef", 6), "abcdef");
        assert_eq!(truncate_utf8("abcdefg", 6), "abc...");
        // "é" is two bytes: 5 - 3 = 2 bytes fit "a" plus half of "é".
        assert_eq!(truncate_utf8("aééé", 5), "a...");
        assert_eq!(truncate_utf8("abcdef", 3), "abc");
    }

    #[test]
    fn bounds_strings_arrays_objects_and_depth() {
        let long = "x".repeat(3000);
        let items: Vec<u32> = (0..25).collect();
        let wide: Map<String, Value> = (0..23).map(|i| (format!("k{i}"), json!(i))).collect();
        let out = entry(json!({
            "s": long, "arr": items, "obj": wide,
            "deep": {"a": {"b": {"c": {"d": {"e": 1}, "f": 1}, "n": 2}}},
        }));
        assert_eq!(out["s"].as_str().unwrap().len(), 2048);
        assert!(out["s"].as_str().unwrap().ends_with("..."));
        let arr = out["arr"].as_array().unwrap();
        assert_eq!(arr.len(), 21);
        assert_eq!(arr[20], "[+5 more items]");
        let obj = out["obj"].as_object().unwrap();
        assert_eq!(obj.len(), 21);
        assert_eq!(obj["__truncatedKeys"], 3);
        // Top-level values are depth 0; containers at depth 4 are replaced.
        assert_eq!(
            out["deep"],
            json!({"a": {"b": {"c": {"d": "[trace-depth-truncated]", "f": 1}, "n": 2}}})
        );
        assert_eq!(out["traceTruncated"], true);
    }

    #[test]
    fn long_core_fields_are_cut_and_flagged() {
        let Value::Object(data) = json!({}) else { unreachable!() };
        let out = prepare_trace_entry("t", &"e".repeat(300), "r", &data);
        assert_eq!(out["event"].as_str().unwrap().len(), 256);
        assert_eq!(out["traceTruncated"], true);
    }

    #[test]
    fn oversized_entries_keep_core_and_key_list() {
        let data: Map<String, Value> =
            (0..20).map(|i| (format!("key{i}"), json!("y".repeat(2000)))).collect();
        let out = entry(Value::Object(data));
        let keys: Vec<String> = (0..20).map(|i| format!("key{i}")).collect();
        assert_eq!(
            out,
            json!({
                "ts": "2026-05-28T10:11:12.345Z", "event": "ev", "roomId": "room",
                "traceTruncated": true, "traceOriginalKeys": keys.join(","),
            })
        );
        let many: Map<String, Value> =
            (0..400).map(|i| (format!("{i:08}"), json!("y".repeat(100)))).collect();
        let out = entry(Value::Object(many));
        assert_eq!(out["traceOriginalKeys"].as_str().unwrap().len(), 1024);
    }
}
