//! Parsers plus merges on arbitrary input: never a panic; when a merge succeeds it is
//! idempotent and undoing it gives the input back.
//!
//! Run (needs a nightly toolchain and `cargo install cargo-fuzz`):
//!     cargo +nightly fuzz run merge
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        memsafe::sync::check_round_trip(text);
    }
});
