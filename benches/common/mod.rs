//! What the benchmarks share: the key set.

/// `n` distinct 32-byte keys starting with `tag`, shuffled with a fixed xorshift seed, so every
/// contender sees the same random access.
pub fn keys(n: usize, tag: u8) -> Vec<[u8; 32]> {
    // Shuffled, so both sides see random access.
    let mut v: Vec<[u8; 32]> = (0..n)
        .map(|i| {
            let mut k = [0u8; 32];
            let s = format!("{}key-{:027}", tag as char, i);
            k.copy_from_slice(s.as_bytes());
            k
        })
        .collect();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}
