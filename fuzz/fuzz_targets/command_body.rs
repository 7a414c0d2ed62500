//! `POST /v1/commands` bodies of every type, for each role (see
//! `command_gateway::fuzzing::command_body`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = command_gateway::fuzzing::command_body(data);
});
