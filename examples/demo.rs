//! `make demo`: put, get, watch a key expire, close, reopen, and see a deadline survive.
//!
//! The store lives in `$TTLKV_DEMO_DIR` when set (the C, Python and Elixir demos use the same
//! one), otherwise in a temporary directory.

use std::time::{Duration, Instant};

use ttlkv::{Options, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp;
    let dir = match std::env::var_os("TTLKV_DEMO_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().join("store")
        }
    };
    println!("ttlkv {} — store at {}", env!("CARGO_PKG_VERSION"), dir.display());
    println!("linked {}", ttlkv::lmdb_version());

    let store = Store::open(&dir, Options::default())?;
    let sessions = store.namespace("sessions", Duration::from_secs(1800))?;
    sessions.put(b"token-1", b"user=42")?;
    store.put(
        b"demo",
        b"from-rust",
        b"hello from Rust",
        Duration::from_secs(3600),
    )?;
    println!(
        "get sessions/token-1 -> {:?}",
        sessions
            .get(b"token-1")?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    );

    sessions.put_with_ttl(b"short", b"gone soon", Duration::from_millis(200))?;
    let start = Instant::now();
    while sessions.get(b"short")?.is_some() {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("sessions/short expired after {:?} (TTL 200 ms)", start.elapsed());

    let deadline = sessions.deadline(b"token-1")?.expect("token-1 is live");
    let removed = store.stats()?.expired_removed;
    println!(
        "expiry thread removed {removed} entr{}",
        if removed == 1 { "y" } else { "ies" }
    );
    store.close();
    println!("closed; reopening");

    let store = Store::open(&dir, Options::default())?;
    let after = store.deadline(b"sessions", b"token-1")?;
    println!(
        "after reopen: value {:?}, deadline {:?} (before: {deadline}) -> {}",
        store
            .get(b"sessions", b"token-1")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()),
        after,
        if after == Some(deadline) {
            "deadline survived"
        } else {
            "DEADLINE CHANGED"
        }
    );
    let keys: Vec<String> = store
        .keys(b"demo")?
        .iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    println!("keys in namespace demo: {keys:?}");
    store.close();
    if after != Some(deadline) {
        return Err("the deadline did not survive the reopen".into());
    }
    Ok(())
}
