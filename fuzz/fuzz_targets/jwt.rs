//! Bearer tokens: JWT header decoding and claims handling, tenant and
//! platform (see `kitchen_adapters::fuzzing::jwt`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kitchen_adapters::fuzzing::jwt(data);
});
