//! Map growth from a tiny map to hundreds of megabytes, and the full error at the maximum.

mod common;

use common::*;
use ttlkv::{Durability, ErrorKind, Options};

#[test]
fn a_64_kib_map_grows_to_hold_over_200_mb_without_an_error() {
    let opts = Options::default()
        .map_size(64 << 10)
        .durability(Durability::Periodic {
            sync_interval: std::time::Duration::from_secs(1),
        });
    let (_d, s) = temp_store(opts);
    let value = vec![0x5Au8; 64 << 10];
    let n = 3_300u32; // 3,300 × 64 KiB ≈ 216 MB
    for i in 0..n {
        s.put(b"big", &i.to_be_bytes(), &value, MIN).unwrap();
    }
    let st = s.stats().unwrap();
    assert!(st.map_size >= 200_000_000, "map is {} bytes", st.map_size);
    assert!(st.used_bytes >= 200_000_000, "used {} bytes", st.used_bytes);
    assert_eq!(
        s.get(b"big", &(n - 1).to_be_bytes()).unwrap().map(|v| v.len()),
        Some(value.len())
    );
    assert_eq!(s.keys(b"big").unwrap().len(), n as usize);
}

#[test]
fn at_the_maximum_puts_fail_full_while_reads_and_deletes_work() {
    let opts = Options::default().map_size(256 << 10).max_map_size(4 << 20);
    let (_d, s) = temp_store(opts);
    let value = vec![1u8; 16 << 10];
    let mut written = 0u32;
    let err = loop {
        match s.put(b"ns", &written.to_be_bytes(), &value, MIN) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 10_000, "never became full");
    };
    assert_eq!(err.kind(), ErrorKind::Full);
    assert!(err.message().contains("max_map_size"), "{err}");
    assert!(written > 100);
    // Everything written is readable; nothing of the failed put is.
    for i in 0..written {
        assert!(s.get(b"ns", &i.to_be_bytes()).unwrap().is_some());
    }
    assert_eq!(s.get(b"ns", &written.to_be_bytes()).unwrap(), None);
    // Deleting makes room again.
    for i in 0..written / 2 {
        assert!(s.delete(b"ns", &i.to_be_bytes()).unwrap());
    }
    s.put(b"ns", b"after", &value, MIN).unwrap();
    assert!(s.verify().unwrap().is_ok());
}
