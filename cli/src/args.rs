//! The command line: every command, argument and flag, and the help texts `--help` prints.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::fail::EXIT_CODES_HELP;

const ABOUT: &str = "Inspect, query and maintain a ttlkv store: a directory holding data.mdb and lock.mdb.";

const LONG_ABOUT: &str = "\
Inspect, query and maintain a ttlkv store: a directory holding data.mdb and lock.mdb.

It is safe beside the C, Python and BEAM processes using the store: read commands never block \
their writers, and writes go through the same API. Every command except load refuses a PATH \
that holds no store instead of creating one.";

const AFTER_HELP: &str = BYTES_HELP;

const BYTES_HELP: &str = "\
Byte arguments (NS, KEY, VALUE, --prefix):
  TEXT     the argument's bytes as given
  @FILE    the contents of FILE (@@TEXT is the text @TEXT)
  -        standard input, read to its end (one argument per command)
  --hex    the arguments given as TEXT are hex digits (00ff...)
Keys and values are printed as text when they are printable UTF-8, else with \\xNN, \\n, \\\\ \
escapes; --raw prints the bytes as they are. --json prints one JSON document in which bytes are \
\"key\" (the text, or null when not UTF-8) and \"key_b64\" (base64, always).";

#[derive(Parser, Debug)]
#[command(
    name = "ttlkv",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = format!("{AFTER_HELP}\n\n{EXIT_CODES_HELP}"),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Accept a store directory owned by another user or writable by group or others
    #[arg(long, global = true)]
    pub allow_shared_dir: bool,

    /// Never draw a progress display (it is drawn only when standard error is a terminal)
    #[arg(long, global = true)]
    pub no_progress: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct Json {
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct Raw {
    /// Print keys and values as the bytes they are, without escapes
    #[arg(long)]
    pub raw: bool,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct Hex {
    /// Byte arguments given as text are hex digits
    #[arg(long)]
    pub hex: bool,
}

#[derive(Args, Debug, Clone)]
pub struct Entry {
    /// The store's directory
    pub path: PathBuf,
    /// The namespace (1 to 255 bytes)
    #[arg(value_name = "NS")]
    pub ns: OsString,
    /// The key
    pub key: OsString,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Entries, namespaces, deadlines, sizes, reader slots and the processes using the store
    #[command(long_about = "\
Entries, namespaces, deadlines, sizes, reader slots and the processes using the store.

Per namespace: live entries, bytes of keys and values, expiring and never-expiring entries, the \
earliest and latest deadline (read from one snapshot of every entry; --no-entries skips that \
scan). Then data.mdb's size, the pages in use, the B-tree's bytes, the size bound, the store id \
and format version, the reader slots in use by pid, and the processes that map the store \
(from /proc): a process whose map is writable runs periodic durability with write_map; \
whether another process runs sync or periodic is not visible from outside.")]
    Stats {
        /// The store's directory
        path: PathBuf,
        /// Skip the scan of every entry (counts, bytes, deadlines): only what is known at once
        #[arg(long)]
        no_entries: bool,
        #[command(flatten)]
        json: Json,
    },

    /// Every namespace that has a live entry, in byte order
    Namespaces {
        /// The store's directory
        path: PathBuf,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        raw: Raw,
    },

    /// The live keys of a namespace, in byte order
    #[command(long_about = "\
The live keys of a namespace, in byte order, one per line, from one snapshot. \
--long adds each entry's TTL and value size.")]
    #[command(after_help = BYTES_HELP)]
    Keys {
        /// The store's directory
        path: PathBuf,
        /// The namespace (1 to 255 bytes)
        #[arg(value_name = "NS")]
        ns: OsString,
        /// Only keys starting with these bytes
        #[arg(long, value_name = "P")]
        prefix: Option<OsString>,
        /// At most N keys
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Also print each entry's TTL and value size
        #[arg(short, long)]
        long: bool,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        raw: Raw,
        #[command(flatten)]
        hex: Hex,
    },

    /// How many live entries a namespace has
    #[command(after_help = BYTES_HELP)]
    Count {
        /// The store's directory
        path: PathBuf,
        /// The namespace (1 to 255 bytes)
        #[arg(value_name = "NS")]
        ns: OsString,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        hex: Hex,
    },

    /// The value of a live entry (exit 1 when there is none)
    #[command(long_about = "\
The value of a live entry, escaped unless --raw (which prints the bytes alone, without a \
newline). --json adds its deadline, TTL and version. Exit 1 when there is no live entry.")]
    #[command(after_help = BYTES_HELP)]
    Get {
        #[command(flatten)]
        entry: Entry,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        raw: Raw,
        #[command(flatten)]
        hex: Hex,
    },

    /// The time left before an entry expires: `29m 12s`, or `never` (exit 1 when absent)
    #[command(after_help = BYTES_HELP)]
    Ttl {
        #[command(flatten)]
        entry: Entry,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        hex: Hex,
    },

    /// Write an entry: the value and the deadline (now + TTL) replace the old ones
    #[command(long_about = "\
Write an entry: the value and the deadline (now + --ttl) replace any old ones. The TTL is \
required (every entry has one): 30s, 10m, 1h30m, 2d, 500ms, or never. The store must exist.")]
    #[command(after_help = BYTES_HELP)]
    Put {
        #[command(flatten)]
        entry: Entry,
        /// The value
        value: OsString,
        /// Time to live: 500ms, 10s, 30m, 1h30m, 2d, 1w, or never
        #[arg(long, value_name = "TTL")]
        ttl: String,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        hex: Hex,
    },

    /// Remove entries; prints how many live ones went (exit 1 when none did)
    #[command(after_help = BYTES_HELP)]
    Delete {
        /// The store's directory
        path: PathBuf,
        /// The namespace (1 to 255 bytes)
        #[arg(value_name = "NS")]
        ns: OsString,
        /// The keys (one transaction for all of them)
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<OsString>,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        hex: Hex,
    },

    /// Give a live entry a new deadline (now + TTL), keeping its value (exit 1 when absent)
    #[command(after_help = BYTES_HELP)]
    Touch {
        #[command(flatten)]
        entry: Entry,
        /// The new time to live
        #[arg(long, value_name = "TTL")]
        ttl: String,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        hex: Hex,
    },

    /// Add to a counter (ASCII decimal) and print the new value
    #[command(long_about = "\
Add --by (default 1, negative to decrement) to a counter stored as ASCII decimal, atomically, \
and print the new value. An existing counter keeps its deadline. A missing key is created with \
the value --by and the TTL --ttl, or, without --ttl, reported missing (exit 1). A value that is \
no counter, or a sum outside 64 bits, changes nothing (exit 4).")]
    #[command(after_help = BYTES_HELP)]
    Incr {
        #[command(flatten)]
        entry: Entry,
        /// The amount to add
        #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_name = "N")]
        by: i64,
        /// Create a missing counter with this TTL
        #[arg(long, value_name = "TTL")]
        ttl: Option<String>,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        hex: Hex,
    },

    /// Remove every expired entry now, without waiting for the expiry thread
    Purge {
        /// The store's directory
        path: PathBuf,
        #[command(flatten)]
        json: Json,
    },

    /// Check that entries and the deadline index agree; each problem is printed (exit 5)
    Verify {
        /// The store's directory
        path: PathBuf,
        #[command(flatten)]
        json: Json,
    },

    /// Remove every entry of a namespace
    #[command(long_about = "\
Remove every entry of a namespace, in transactions of at most 10,000 entries (readers and \
writers go on between them; an entry written meanwhile may survive). Prints how many live \
entries went.")]
    #[command(after_help = BYTES_HELP)]
    Clear {
        /// The store's directory
        path: PathBuf,
        /// The namespace (1 to 255 bytes)
        #[arg(value_name = "NS")]
        ns: OsString,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        hex: Hex,
    },

    /// Copy the store into a new or empty directory from one snapshot, while it is in use
    #[command(long_about = "\
Copy the store into DEST (a new or empty directory) from one read snapshot, while readers and \
writers go on, with every entry, deadline and the size bound; the copy opens as a store. \
--compact leaves free pages out, so the copy is only as large as the data: the way to shrink a \
store is a compacted backup opened in its place once every process closed the original.")]
    Backup {
        /// The store's directory
        path: PathBuf,
        /// The directory to create (or an empty one)
        dest: PathBuf,
        /// Leave free pages out (a smaller copy)
        #[arg(long)]
        compact: bool,
        #[command(flatten)]
        json: Json,
    },

    /// Write every live entry (of NS, or of all namespaces) as JSON Lines
    #[command(long_about = "\
Write every live entry (of NS, or of every namespace) from one snapshot as JSON Lines: a header \
{\"ttlkv_dump\":1,...}, one {\"ns\",\"key\",\"value\",\"deadline_ms\"} object per entry (bytes in \
base64, deadlines absolute in milliseconds since the Unix epoch, null for never), and a trailer \
{\"ttlkv_dump_end\":true,\"entries\":N} by which load tells a complete dump from a cut one. To \
standard output, or to FILE with -o (created with mode 0600: a dump holds the store's secrets, \
and it is flushed to disk before dump exits).")]
    #[command(after_help = BYTES_HELP)]
    Dump {
        /// The store's directory
        path: PathBuf,
        /// Only this namespace
        #[arg(value_name = "NS")]
        ns: Option<OsString>,
        /// Write to FILE instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        hex: Hex,
    },

    /// Read a dump into a store (created when absent), keeping deadlines, skipping expired ones
    #[command(long_about = "\
Read a dump (from FILE, or standard input when FILE is absent or -) into the store at PATH, \
which is created when absent. Entries keep their deadlines; records already expired are \
skipped; existing keys are overwritten. Written in transactions of at most 100,000 records and \
64 MiB, so a failure part way leaves the earlier transactions written. A dump with a header \
must end with its trailer: a cut one is reported (exit 10) after its entries are loaded.")]
    Load {
        /// The store's directory
        path: PathBuf,
        /// The dump file (default: standard input)
        file: Option<PathBuf>,
        #[command(flatten)]
        json: Json,
    },
}
