//! Bytes in and out. In: every byte argument (NS, KEY, VALUE, --prefix) is text as given, hex
//! digits with `--hex`, the contents of a file as `@FILE`, or standard input as `-` (`@@x` is
//! the text `@x`). Out: text when it is printable UTF-8, else escaped, unless `--raw`.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::fail::{Failure, Res};

/// Reads byte arguments, remembering that standard input can be read once.
pub struct Inputs {
    hex: bool,
    stdin_taken: Option<&'static str>,
}

impl Inputs {
    pub fn new(hex: bool) -> Inputs {
        Inputs {
            hex,
            stdin_taken: None,
        }
    }

    /// The bytes of the argument `what` (`"KEY"`, `"VALUE"`, …).
    pub fn read(&mut self, arg: &OsStr, what: &'static str) -> Res<Vec<u8>> {
        let raw = arg.as_bytes();
        if raw == b"-" {
            if let Some(first) = self.stdin_taken {
                return Err(Failure::usage(format!(
                    "{what} and {first} are both -: standard input can be read only once"
                )));
            }
            self.stdin_taken = Some(what);
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::usage(format!("reading {what} from standard input: {e}")))?;
            return Ok(buf);
        }
        if raw.starts_with(b"@") && !raw.starts_with(b"@@") {
            let path = OsStr::from_bytes(&raw[1..]);
            return std::fs::read(path).map_err(|e| {
                Failure::usage(format!(
                    "reading {what} from the file {}: {e} (write @@… for a text that starts with @)",
                    path.to_string_lossy()
                ))
            });
        }
        let text = if raw.starts_with(b"@@") { &raw[1..] } else { raw };
        if self.hex {
            hex_decode(text)
                .map_err(|why| Failure::usage(format!("{what} is not hex ({why}): {}", escape(text))))
        } else {
            Ok(text.to_vec())
        }
    }
}

fn hex_decode(text: &[u8]) -> Result<Vec<u8>, &'static str> {
    if text.len() % 2 != 0 {
        return Err("an odd number of digits");
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err("a character that is no hex digit"),
    };
    text.chunks(2)
        .map(|p| Ok((digit(p[0])? << 4) | digit(p[1])?))
        .collect()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Characters that are printable by `char::is_control` but invisible or that reorder text on
/// a terminal (bidirectional overrides, zero-width characters): escaped as well, so that what
/// an operator reads is what is stored.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// Bytes for a terminal: printable UTF-8 as it is; `\\`, `\n`, `\r`, `\t`, `\xNN` for control
/// and non-UTF-8 bytes, `\u{NNNN}` for invisible characters. A backslash is always doubled,
/// so the escaped form is unambiguous.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x80 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if c.is_control() || is_invisible(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The bytes as `--raw` or not asks: exactly, or escaped.
pub fn shown(bytes: &[u8], raw: bool) -> Vec<u8> {
    if raw {
        bytes.to_vec()
    } else {
        escape(bytes).into_bytes()
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn b64_decode(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| e.to_string())
}

/// Puts bytes into a JSON object as two fields: `name` (the text when the bytes are UTF-8,
/// else null) and `name_b64` (always): a script reads the text or, for binary data, decodes
/// the base64, never an escaped form it would have to undo.
pub fn put_json(obj: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).map_or(Value::Null, |s| json!(s));
    obj.insert(name.to_string(), text);
    obj.insert(format!("{name}_b64"), json!(b64(bytes)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_printable_text_and_shows_everything_else() {
        assert_eq!(escape(b"sessions"), "sessions");
        assert_eq!(escape("día ☃".as_bytes()), "día ☃");
        assert_eq!(escape(b"a\nb\t\x00\x7f\\"), "a\\nb\\t\\x00\\x7f\\\\");
        assert_eq!(escape(b"\xff\xfeok"), "\\xff\\xfeok");
        assert_eq!(escape("x\u{202e}y\u{0085}".as_bytes()), "x\\u{202e}y\\u{0085}");
        assert_eq!(escape(b"\x1b[2J"), "\\x1b[2J");
    }

    #[test]
    fn byte_arguments_are_text_hex_or_files() {
        let mut i = Inputs::new(false);
        assert_eq!(i.read(OsStr::new("abc"), "KEY").unwrap(), b"abc");
        assert_eq!(i.read(OsStr::new("@@user"), "KEY").unwrap(), b"@user");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v");
        std::fs::write(&f, b"\x00\x01").unwrap();
        let arg = format!("@{}", f.display());
        assert_eq!(i.read(OsStr::new(&arg), "VALUE").unwrap(), b"\x00\x01");
        assert_eq!(
            i.read(OsStr::new("@/nonexistent/x"), "VALUE").unwrap_err().code,
            2
        );
        let mut h = Inputs::new(true);
        assert_eq!(h.read(OsStr::new("00fFa0"), "KEY").unwrap(), b"\x00\xff\xa0");
        assert_eq!(h.read(OsStr::new(""), "KEY").unwrap(), b"");
        assert!(h.read(OsStr::new("abc"), "KEY").is_err());
        assert!(h.read(OsStr::new("zz"), "KEY").is_err());
    }
}
