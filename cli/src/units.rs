//! Durations, sizes, counts and times as an operator types and reads them: `1h30m`, `29m 12s`,
//! `16.0 MiB`, `1,234,567`, `2026-05-01 12:00:00 UTC`.

use std::time::{SystemTime, UNIX_EPOCH};

use ttlkv::DEADLINE_NEVER;

/// A TTL as the store takes it: milliseconds, [`DEADLINE_NEVER`] for never.
pub type TtlMs = u64;

/// The help text of every `--ttl` argument.
pub const TTL_SYNTAX: &str =
    "a TTL is a number with a unit (500ms, 10s, 30m, 12h, 2d, 1w), several of them (1h30m), or never";

/// Parses `30m`, `1h30m`, `1h 30m`, `10s`, `500ms`, `2d`, `1w` or `never`. A bare number is
/// refused: seconds or milliseconds would be a guess.
pub fn parse_ttl(text: &str) -> Result<TtlMs, String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "never" {
        return Ok(DEADLINE_NEVER);
    }
    let bad = |why: &str| format!("invalid TTL {text:?}: {why}; {TTL_SYNTAX}");
    let mut rest = t.as_str();
    let mut total: u64 = 0;
    let mut parts = 0;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected a number"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| bad("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "" => return Err(bad("a number needs a unit")),
            u => return Err(bad(&format!("unknown unit {u:?}"))),
        };
        rest = rest[unit_len..].trim_start();
        total = n
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .filter(|&ms| ms < DEADLINE_NEVER)
            .ok_or_else(|| bad("it is too long (use never)"))?;
        parts += 1;
    }
    if parts == 0 {
        return Err(bad("it is empty"));
    }
    if total == 0 {
        return Err(bad("a TTL of 0 would expire at once"));
    }
    Ok(total)
}

/// `29m 12s`, `3d 4h`, `12s`, `450ms`: the two largest units (rounded to the second, then
/// cut after the second unit).
pub fn format_duration(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    // Rounded to the second, as redis-cli's TTL is: a TTL of 2d just set shows as 2d.
    let s = (ms + 500) / 1_000;
    let parts = [
        (s / 86_400, "d"),
        (s % 86_400 / 3_600, "h"),
        (s % 3_600 / 60, "m"),
        (s % 60, "s"),
    ];
    let first = parts.iter().position(|&(n, _)| n > 0).unwrap_or(3);
    let mut out = format!("{}{}", parts[first].0, parts[first].1);
    if let Some(&(n, unit)) = parts.get(first + 1) {
        if n > 0 {
            out.push_str(&format!(" {n}{unit}"));
        }
    }
    out
}

/// The time left until `deadline` as text: `29m 12s`, `never`, or `expired`.
pub fn format_ttl(deadline: u64, now: u64) -> String {
    if deadline == DEADLINE_NEVER {
        "never".into()
    } else if deadline <= now {
        "expired".into()
    } else {
        format_duration(deadline - now)
    }
}

/// Sizes in IEC units: `512 B`, `1.5 KiB`, `16.0 MiB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `1,234,567`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 entry`, `1,234 entries`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", format_count(n), if n == 1 { one } else { many })
}

/// Milliseconds since the Unix epoch by the wall clock (the clock deadlines are written in).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `(year, month, day, hour, minute, second, millisecond)` in UTC.
fn civil(ms: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = (ms / 1_000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3_600) as u32,
        (rem % 3_600 / 60) as u32,
        (rem % 60) as u32,
        (ms % 1_000) as u32,
    )
}

/// `2026-05-01 12:00:00 UTC`, for people.
pub fn format_time(ms: u64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// `2026-05-01T12:00:00.123Z` (RFC 3339), for programs.
pub fn rfc3339(ms: u64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_with_units_and_never() {
        assert_eq!(parse_ttl("30m"), Ok(1_800_000));
        assert_eq!(parse_ttl("1h30m"), Ok(5_400_000));
        assert_eq!(parse_ttl("1h 30m"), Ok(5_400_000));
        assert_eq!(parse_ttl("10s"), Ok(10_000));
        assert_eq!(parse_ttl("500ms"), Ok(500));
        assert_eq!(parse_ttl("2d"), Ok(172_800_000));
        assert_eq!(parse_ttl("1W"), Ok(604_800_000));
        assert_eq!(parse_ttl("never"), Ok(DEADLINE_NEVER));
        for bad in [
            "",
            "30",
            "0s",
            "5x",
            "m",
            "1h-",
            "99999999999999999999s",
            "300000000000w",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn durations_print_their_two_largest_units() {
        assert_eq!(format_duration(1_752_400), "29m 12s");
        assert_eq!(format_duration(1_752_900), "29m 13s");
        assert_eq!(format_duration(3_600_000), "1h");
        assert_eq!(format_duration(3_660_000), "1h 1m");
        assert_eq!(format_duration(273_600_000), "3d 4h");
        assert_eq!(format_duration(12_499), "12s");
        assert_eq!(format_duration(172_799_900), "2d");
        assert_eq!(format_duration(450), "450ms");
    }

    #[test]
    fn sizes_counts_and_times_print_for_people() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(16 << 20), "16.0 MiB");
        assert_eq!(format_count(1_234_567), "1,234,567");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        // 2024-02-29 12:34:56.789 UTC
        assert_eq!(rfc3339(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
    }
}
