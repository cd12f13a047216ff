//! `dump` and `load`: the JSON Lines format, a round trip that keeps every entry and deadline,
//! records already expired dropped, and dumps that are cut, malformed or from another tool.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::Value;

const MIN: Duration = Duration::from_secs(60);

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A store with 120,000 small entries (more than one load transaction of 100,000) and the odd
/// ones: an empty key, binary namespace, key and value, a 2 MiB value, entries that never
/// expire, and TTLs from seconds to weeks.
fn source(d: &Dir) -> String {
    let p = d.store();
    let s = open(&p);
    let keys: Vec<Vec<u8>> = (0..120_000u32).map(|i| format!("k{i:07}").into_bytes()).collect();
    for (n, chunk) in keys.chunks(60_000).enumerate() {
        let recs: Vec<ttlkv::RecordMs<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(i, k)| (&b"bulk"[..], &k[..], &k[..], 600_000 + (n * 60_000 + i) as u64))
            .collect();
        s.put_many_ms(&recs).unwrap();
    }
    let big: Vec<u8> = (0..2u32 << 20).map(|i| (i % 253) as u8).collect();
    s.put(b"odd", b"", b"empty key", 60 * MIN).unwrap();
    s.put(b"odd", b"\x00\xff\n\"", b"\xff\xfe\x00", 7 * 24 * 60 * MIN)
        .unwrap();
    s.put(b"odd", b"big", &big, 90 * MIN).unwrap();
    s.put(b"odd", b"forever", b"x", ttlkv::TTL_NEVER).unwrap();
    s.put(b"\x01\x02\xff", b"k", b"", 20 * MIN).unwrap();
    s.close();
    p
}

#[test]
fn dump_then_load_keeps_every_entry_and_its_deadline() {
    let d = Dir::new();
    let src = source(&d);
    let file = d.join("dump.jsonl");
    let out = ttlkv(&["dump", &src, "-o", file.to_str().unwrap()]).ok().out();
    assert!(out.starts_with("dumped 120,005 entries to "), "{out}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let text = std::fs::read_to_string(&file).unwrap();
    let first = text.lines().next().unwrap();
    let header: Value = serde_json::from_str(first).unwrap();
    assert_eq!(header["ttlkv_dump"], 1);
    assert_eq!(header["format_version"], ttlkv::FORMAT_VERSION);
    let s = open(&src);
    let id: String = s.store_id().unwrap().iter().map(|b| format!("{b:02x}")).collect();
    let want = all_entries(&s);
    s.close();
    assert_eq!(header["store_id"], id);
    assert_eq!(header["namespace"], Value::Null);
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(
        last,
        serde_json::json!({"ttlkv_dump_end": true, "entries": 120_005})
    );
    assert!(text.contains(&format!(
        "{{\"ns\":\"{}\",\"key\":\"{}\",\"value\":\"{}\",\"deadline_ms\":null}}\n",
        b64(b"odd"),
        b64(b"forever"),
        b64(b"x")
    )));

    let dest = d.join("copy");
    let j = ttlkv(&["load", "--json", dest.to_str().unwrap(), file.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(j["loaded"], 120_005);
    assert_eq!(j["records"], 120_005);
    assert_eq!(j["skipped_expired"], 0);
    assert_eq!(j["created"], true);
    let copy = open(&dest);
    assert_eq!(all_entries(&copy), want, "entries, values and deadlines");
    let copy_id: String = copy
        .store_id()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(copy_id, id, "a loaded store is a new store");
    assert!(copy.verify().unwrap().is_ok());
}

#[test]
fn load_skips_records_that_expired_and_keeps_the_rest() {
    let d = Dir::new();
    let src = d.store();
    let s = open(&src);
    s.put(b"ns", b"live", b"1", 60 * MIN).unwrap();
    s.put(b"ns", b"never", b"2", ttlkv::TTL_NEVER).unwrap();
    s.close();
    let dump = ttlkv(&["dump", &src]).ok().out();
    let mut l: Vec<String> = dump.lines().map(str::to_string).collect();
    // Two records that expired in transit (one long ago, one a minute ago); the trailer is
    // fixed to count them, as a dump taken before they expired would.
    let old = |key: &[u8], deadline: u64| {
        format!(
            "{{\"ns\":\"{}\",\"key\":\"{}\",\"value\":\"{}\",\"deadline_ms\":{deadline}}}",
            b64(b"ns"),
            b64(key),
            b64(b"old")
        )
    };
    let trailer = l.pop().unwrap();
    assert_eq!(trailer, "{\"ttlkv_dump_end\":true,\"entries\":2}");
    l.push(old(b"ancient", 1_000));
    l.push(old(b"recent", now_ms() - 60_000));
    l.push("{\"ttlkv_dump_end\":true,\"entries\":4}".into());
    let input = l.join("\n") + "\n";

    let dest = d.join("dest");
    let out = ttlkv_input(&["load", dest.to_str().unwrap()], input.as_bytes())
        .ok()
        .out();
    assert_eq!(
        out,
        format!(
            "loaded 2 entries into {} (2 already expired skipped, of 4 records)\n",
            dest.display()
        )
    );
    let copy = open(&dest);
    assert_eq!(copy.keys(b"ns").unwrap(), [b"live".to_vec(), b"never".to_vec()]);
    assert_eq!(copy.verify().unwrap().entries, 2, "nothing expired was written");
    assert_eq!(
        copy.deadline(b"ns", b"never").unwrap(),
        Some(ttlkv::DEADLINE_NEVER)
    );
}

#[test]
fn dump_of_one_namespace_and_load_from_standard_input() {
    let d = Dir::new();
    let src = d.store();
    let s = open(&src);
    s.put(b"a", b"1", b"x", 60 * MIN).unwrap();
    s.put(b"b", b"2", b"y", 60 * MIN).unwrap();
    s.put(b"b", b"3", b"z", 60 * MIN).unwrap();
    s.close();
    let dump = ttlkv(&["dump", &src, "b"]).ok().out();
    let l = lines(&dump);
    assert_eq!(l.len(), 4, "{dump}");
    assert_eq!(l[0]["namespace"], b64(b"b"));
    assert!(l[1..3].iter().all(|r| r["ns"] == b64(b"b")));
    assert_eq!(l[3]["entries"], 2);
    assert_eq!(
        ttlkv(&["dump", "--hex", &src, "61"]).ok().out().lines().count(),
        3
    );

    // Into an existing store: the dump's entries are added and overwrite the same keys.
    let dest = d.join("dest");
    let t = open(&dest);
    t.put(b"b", b"2", b"old", 60 * MIN).unwrap();
    t.put(b"c", b"9", b"kept", 60 * MIN).unwrap();
    t.close();
    let j = ttlkv_input(&["load", "--json", dest.to_str().unwrap(), "-"], dump.as_bytes())
        .ok()
        .json();
    assert_eq!(
        (j["loaded"].as_u64(), j["created"].as_bool()),
        (Some(2), Some(false))
    );
    let t = open(&dest);
    assert_eq!(t.get(b"b", b"2").unwrap().as_deref(), Some(&b"y"[..]));
    assert_eq!(t.get(b"c", b"9").unwrap().as_deref(), Some(&b"kept"[..]));
}

#[test]
fn a_dump_cut_short_is_loaded_and_reported_with_exit_10() {
    let d = Dir::new();
    let src = d.store();
    let s = open(&src);
    for i in 0..10u32 {
        s.put(b"ns", &i.to_be_bytes(), b"v", 60 * MIN).unwrap();
    }
    s.close();
    let dump = ttlkv(&["dump", &src]).ok().out();
    let cut: Vec<&str> = dump.lines().take(6).collect(); // the header and five records
    let dest = d.join("dest");
    let r = ttlkv_input(&["load", dest.to_str().unwrap()], cut.join("\n").as_bytes()).code(10);
    assert!(r.stderr.contains("cut short"), "{}", r.stderr);
    assert!(r.out().starts_with("loaded 5 entries"), "{}", r.out());
    assert_eq!(open(&dest).count(b"ns").unwrap(), 5);
}

#[test]
fn malformed_dumps_name_the_line_and_exit_10() {
    let d = Dir::new();
    let rec = |key: &str| {
        format!(
            "{{\"ns\":\"{}\",\"key\":\"{}\",\"value\":\"dg==\",\"deadline_ms\":null}}",
            b64(b"ns"),
            b64(key.as_bytes())
        )
    };
    let header = "{\"ttlkv_dump\":1}";
    let cases: Vec<(String, &str)> = vec![
        (format!("{header}\nnot json\n"), "dump line 2: not JSON"),
        (format!("{header}\n[1,2]\n"), "dump line 2: not a JSON object"),
        (
            "{\"ttlkv_dump\":99}\n".into(),
            "dump line 1: a dump of version 99",
        ),
        (
            format!(
                "{}\n{{\"ns\":\"bnM=\",\"key\":\"***\",\"value\":\"\",\"deadline_ms\":null}}\n",
                rec("a")
            ),
            "dump line 2: \"key\" is not base64",
        ),
        (
            "{\"ns\":\"bnM=\",\"key\":\"\",\"value\":\"\"}\n".into(),
            "dump line 1: no \"deadline_ms\"",
        ),
        (
            "{\"ns\":\"bnM=\",\"key\":\"\",\"value\":\"\",\"deadline_ms\":\"soon\"}\n".into(),
            "dump line 1: \"deadline_ms\" is not",
        ),
        (
            "{\"ns\":\"\",\"key\":\"\",\"value\":\"\",\"deadline_ms\":null}\n".into(),
            "a namespace is 1 to 255 bytes",
        ),
        (
            format!(
                "{{\"ns\":\"bnM=\",\"key\":\"{}\",\"value\":\"\",\"deadline_ms\":null}}\n",
                b64(&[b'k'; 600])
            ),
            "dump line 1: a key of 600 bytes",
        ),
        (
            format!(
                "{header}\n{}\n{{\"ttlkv_dump_end\":true,\"entries\":5}}\n",
                rec("a")
            ),
            "dump line 3: the trailer counts 5 entries but the dump holds 1 records",
        ),
        (
            format!(
                "{header}\n{{\"ttlkv_dump_end\":true,\"entries\":0}}\n{}\n",
                rec("a")
            ),
            "dump line 3: data after the trailer",
        ),
        (format!("{header}\n{header}\n"), "dump line 2: a second header"),
    ];
    for (i, (input, says)) in cases.iter().enumerate() {
        let dest = d.join(&format!("dest{i}"));
        let r = ttlkv_input(&["load", dest.to_str().unwrap()], input.as_bytes()).code(10);
        assert!(
            r.stderr.contains(says),
            "case {i}: expected {says:?} in {:?}",
            r.stderr
        );
    }
    // A file that is no dump at all creates no store.
    assert!(!d.join("dest0").exists());
    let r = ttlkv(&[
        "load",
        d.join("x").to_str().unwrap(),
        d.join("no-such.jsonl").to_str().unwrap(),
    ])
    .code(2);
    assert!(r.stderr.contains("no-such.jsonl"), "{}", r.stderr);
}

#[test]
fn records_written_by_another_tool_load_without_header_or_trailer() {
    let d = Dir::new();
    let dest = d.join("dest");
    let in_an_hour = now_ms() + 3_600_000;
    let input = format!(
        "\n{{\"deadline_ms\":{in_an_hour},\"value\":\"{}\",\"key\":\"{}\",\"ns\":\"{}\",\"extra\":1}}\r\n\n",
        b64(b"v"),
        b64(b"k"),
        b64(b"ns")
    );
    let out = ttlkv_input(&["load", dest.to_str().unwrap()], input.as_bytes())
        .ok()
        .out();
    assert!(out.starts_with("loaded 1 entry into"), "{out}");
    let s = open(&dest);
    assert_eq!(s.deadline(b"ns", b"k").unwrap(), Some(in_an_hour));
    // An empty input makes an empty store.
    let empty = d.join("empty");
    ttlkv_input(&["load", empty.to_str().unwrap()], b"").ok();
    assert!(empty.join("data.mdb").exists());
    assert_eq!(ttlkv(&["namespaces", empty.to_str().unwrap()]).ok().out(), "");
}
