//! The progress display of long work: drawn on standard error when it is a terminal (a
//! pseudo-terminal here), never when it is a pipe, never when the data itself goes to the
//! terminal, and not with --no-progress or TERM=dumb. It never mixes into standard output.

mod common;

use common::*;

const ERASE: &str = "\x1b[K";

/// A store of 20,000 entries, a dump of it, and paths for a backup and a load.
fn setup(d: &Dir) -> (String, String) {
    let p = d.store();
    let s = open(&p);
    let keys: Vec<Vec<u8>> = (0..20_000u32).map(|i| format!("k{i:06}").into_bytes()).collect();
    let recs: Vec<ttlkv::RecordMs<'_>> = keys
        .iter()
        .map(|k| (&b"ns"[..], &k[..], &b"value"[..], 3_600_000))
        .collect();
    s.put_many_ms(&recs).unwrap();
    s.put(b"ns", b"never", b"v", ttlkv::TTL_NEVER).unwrap();
    s.close();
    let dump = d.join("dump.jsonl").to_str().unwrap().to_string();
    ttlkv(&["dump", &p, "-o", &dump]).ok();
    (p, dump)
}

#[test]
fn long_work_shows_progress_on_a_terminal_and_its_result_on_stdout() {
    let d = Dir::new();
    let (p, dump) = setup(&d);
    let again = d.join("again.jsonl").to_str().unwrap().to_string();
    let backup = d.join("backup").to_str().unwrap().to_string();
    let loaded = d.join("loaded").to_str().unwrap().to_string();
    // Each command, the start of its first frame (drawn before any work, so even quick work
    // shows one), and what it prints on stdout.
    let runs: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["dump", &p, "-o", &again],
            "dump: 0 entries, ",
            "dumped 20,001 entries",
        ),
        (
            vec!["load", &loaded, &dump],
            "load: 0 entries, ",
            "loaded 20,001 entries",
        ),
        (vec!["backup", &p, &backup], "backup: ", "copied "),
        (vec!["purge", &p], "purge: 0 expired entries removed", "removed "),
        (vec!["stats", &p], "stats: 0 entries read", "store id"),
        (
            vec!["verify", &p],
            "verify: reading every record",
            "ok: 20,001 entries",
        ),
    ];
    for (args, frame, result) in runs {
        let (run, screen) = ttlkv_on_terminal(&args, false, &[("TERM", "xterm")]);
        let run = run.ok();
        assert!(
            screen.starts_with(&format!("\r{frame}")) && screen.contains(ERASE) && screen.contains("  ["),
            "{args:?}: the terminal showed {screen:?}"
        );
        assert!(
            screen.ends_with(&format!("\r{ERASE}")),
            "{args:?}: the display is erased at the end: {screen:?}"
        );
        let out = run.out();
        assert!(out.contains(result), "{args:?}: {out}");
        assert!(
            !out.contains('\x1b') && !out.contains('\r'),
            "{args:?}: the display leaked into stdout"
        );
    }
    assert_eq!(
        std::fs::read(&again).unwrap().len(),
        std::fs::read(&dump).unwrap().len()
    );
}

#[test]
fn no_progress_on_a_pipe() {
    let d = Dir::new();
    let (p, dump) = setup(&d);
    let again = d.join("again.jsonl").to_str().unwrap().to_string();
    let backup = d.join("backup").to_str().unwrap().to_string();
    let loaded = d.join("loaded").to_str().unwrap().to_string();
    for args in [
        vec!["dump", p.as_str(), "-o", &again],
        vec!["load", &loaded, &dump],
        vec!["backup", &p, &backup],
        vec!["purge", &p],
        vec!["stats", &p],
    ] {
        let r = ttlkv(&args).ok();
        assert_eq!(r.stderr, "", "{args:?}");
    }
}

#[test]
fn no_progress_when_the_data_goes_to_the_terminal_or_when_turned_off() {
    let d = Dir::new();
    let (p, dump) = setup(&d);
    // The dump itself on the terminal: no display drawn over it.
    let (run, screen) = ttlkv_on_terminal(&["dump", &p], true, &[("TERM", "xterm")]);
    run.ok();
    assert!(screen.contains("\"ttlkv_dump\":1") && screen.contains("\"ttlkv_dump_end\""));
    assert!(!screen.contains(ERASE), "{}", &screen[..200.min(screen.len())]);

    let loaded = d.join("loaded").to_str().unwrap().to_string();
    let (run, screen) = ttlkv_on_terminal(
        &["load", "--no-progress", &loaded, &dump],
        false,
        &[("TERM", "xterm")],
    );
    run.ok();
    assert_eq!(screen, "");
    let (run, screen) = ttlkv_on_terminal(&["stats", &p], false, &[("TERM", "dumb")]);
    run.ok();
    assert_eq!(screen, "");
}
