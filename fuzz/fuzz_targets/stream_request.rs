//! `GET /v1/stream` query strings with the `Authorization` and
//! `Sec-WebSocket-Protocol` headers (see `realtime::fuzzing::stream_request`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = realtime::fuzzing::stream_request(data);
});
