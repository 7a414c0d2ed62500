//! Looking for secrets in recorded workflow histories (JSON of `History`,
//! whose payloads are base64).
#![allow(dead_code)]

/// Standard base64 (with padding), for looking inside payloads.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Every string of the JSON (`raw`), and the decoded form of those that are
/// base64 (`decoded`: payload data and metadata).
pub fn strings(value: &serde_json::Value, raw: &mut Vec<String>, decoded: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => {
            raw.push(s.clone());
            if let Some(bytes) = base64_decode(s) {
                decoded.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, raw, decoded)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, raw, decoded)),
        _ => {}
    }
}

/// The histories carry tenant, command and order ids, never a credential.
pub fn assert_no_secrets(name: &str, json: &str, secrets: &[String]) {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let (mut raw, mut decoded) = (vec![json.to_owned()], Vec::new());
    strings(&value, &mut raw, &mut decoded);
    for text in raw.iter().chain(&decoded) {
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(
                !text.contains(secret.as_str()),
                "{name}: a secret leaked into the history"
            );
        }
        for marker in ["password", "Bearer ", "postgres://", "postgresql://"] {
            assert!(!text.contains(marker), "{name}: {marker:?} in the history");
        }
    }
    // A JWT ("eyJ...") inside a payload shows up once the payload is decoded
    // (base64 of any JSON object starts with "eyJ" too, so not in `raw`).
    for text in &decoded {
        assert!(
            !text.contains("eyJ"),
            "{name}: a token in a payload: {text}"
        );
    }
}
