//! Request ids without a system call per request.
//!
//! tower-http's `MakeRequestUuid` draws every id from the operating system (`getrandom`):
//! `strace -c` on the server under load showed one `getrandom` per request, beside the
//! four calls a request needs (read the request, send the statement, read its rows, write
//! the response). An id only has to tell requests apart in logs and traces, so each thread
//! seeds a SplitMix64 generator from the operating system once and draws from it; the ids
//! are still random version-4 UUIDs, the format clients and log queries already see.

use std::cell::Cell;

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

#[derive(Clone, Copy, Debug, Default)]
pub struct MakeFastUuid;

thread_local! {
    /// This thread's generator state: seeded from the operating system on first use.
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default())
}

/// SplitMix64 (Steele, Lea and Flood): a full-period generator whose outputs pass
/// BigCrush; each thread's sequence starts at an independent random point.
fn next(state: &Cell<u64>) -> u64 {
    let s = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
    state.set(s);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random version-4 UUID from this thread's generator.
pub fn fast_uuid() -> uuid::Uuid {
    let (a, b) = STATE.with(|s| (next(s), next(s)));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

impl MakeRequestId for MakeFastUuid {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = fast_uuid().hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<uuid::Uuid> = (0..10_000).map(|_| fast_uuid()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.get_version_num() == 4 && id.get_variant() == uuid::Variant::RFC4122));
        // Another thread starts elsewhere: its first ids are not this thread's.
        let other: Vec<uuid::Uuid> =
            std::thread::spawn(|| (0..100).map(|_| fast_uuid()).collect()).join().expect("thread");
        assert!(other.iter().all(|id| !ids.contains(id)));
    }
}
