//! NOTIFY payloads of the commands, events and tenants channels (see
//! `kitchen_adapters::fuzzing::notify_payload`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kitchen_adapters::fuzzing::notify_payload(data);
});
