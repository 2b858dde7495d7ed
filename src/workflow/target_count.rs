//! Targets files: one target per line, blank lines and `#` comments ignored.
//!
//! Files can hold millions of targets, so they are streamed in 64 KiB blocks, never held whole;
//! a line may be at most [`MAX_LINE`] bytes (not counting its line break). What a targets file
//! may be (docs/security.md): UTF-8 text, a leading UTF-8 byte order mark dropped; lines end in
//! LF, CR LF or a lone CR, mixed freely. A file that is UTF-16 or UTF-32 (PowerShell's `>` writes
//! UTF-16), holds a NUL byte, a control character (other than tab) or bytes that are not UTF-8
//! is refused with the line, rather than miscounted.
//!
//! Duplicates are counted from a 64-bit foldhash of each target, kept in a vector that is sorted
//! once at the end: 8 bytes per target (10,000,000 targets in 80 MB), no per-entry overhead, and
//! no SipHash (which took three quarters of the time of a 1,000,000-line plan). Two different
//! targets share a hash with odds of about n²/2⁶⁵ (3 in a million for 10 million targets); the
//! duplicate count is a warning, never a figure that is billed.

use std::hash::BuildHasher;
use std::io::{ErrorKind, Read};

/// Targets counted in a file or list. Duplicates are included in `targets`: the job will call
/// them, so they cost; they are reported as a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetCount {
    pub targets: u64,
    pub duplicates: u64,
}

/// Longest line accepted, in bytes, without its line break: a target is a domain, host or URL.
pub const MAX_LINE: usize = 4096;

/// Why a targets file is not a list of targets; worded in `diagnostic.rs`. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetsError {
    /// Reading failed part-way.
    Io {
        reason: String,
    },
    /// A UTF-16 byte order mark.
    Utf16,
    /// A UTF-32 byte order mark.
    Utf32,
    Nul {
        line: u64,
    },
    NotUtf8 {
        line: u64,
    },
    /// A control character other than tab, as `U+001B`.
    Control {
        line: u64,
        found: String,
    },
    TooLong {
        line: u64,
    },
}

/// Hashes of the targets seen, for the duplicate count.
#[derive(Default)]
struct Seen {
    hashes: Vec<u64>,
}

impl Seen {
    fn add(&mut self, target: &[u8]) {
        self.hashes
            .push(foldhash::fast::FixedState::with_seed(0x7a67).hash_one(target));
    }

    fn count(mut self) -> TargetCount {
        let targets = self.hashes.len() as u64;
        self.hashes.sort_unstable();
        // Every hash equal to the one before it is a repeat.
        let duplicates = self.hashes.windows(2).filter(|w| w[0] == w[1]).count() as u64;
        TargetCount {
            targets,
            duplicates,
        }
    }
}

/// Whether a block holds only bytes a plain ASCII targets file has: printable ASCII, tab, CR and
/// LF. Most files are such, and a whole block is checked far faster than line by line (the loop
/// has no branch, so it is vectorised); a block that is not gets every line checked.
fn plain_ascii(block: &[u8]) -> bool {
    block.iter().fold(0u8, |bad, &b| {
        let control = (b < 0x20) & (b != b'\n') & (b != b'\r') & (b != b'\t');
        bad | u8::from(control | (b >= 0x7f))
    }) == 0
}

/// Checks one line (without its break) and adds its target, if any. `plain` when its bytes are
/// known to be printable ASCII or tab.
fn line(text: &[u8], number: u64, plain: bool, seen: &mut Seen) -> Result<(), TargetsError> {
    if text.len() > MAX_LINE {
        return Err(TargetsError::TooLong { line: number });
    }
    if !plain {
        check(text, number)?;
    }
    let target = text.trim_ascii();
    if !target.is_empty() && !target.starts_with(b"#") {
        seen.add(target);
    }
    Ok(())
}

/// Refuses NUL bytes, control characters other than tab, and bytes that are not UTF-8.
fn check(text: &[u8], number: u64) -> Result<(), TargetsError> {
    let control = |c: char| TargetsError::Control {
        line: number,
        found: format!("U+{:04X}", u32::from(c)),
    };
    if text.is_ascii() {
        if let Some(&b) = text
            .iter()
            .find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(match b {
                0 => TargetsError::Nul { line: number },
                b => control(char::from(b)),
            });
        }
    } else {
        let Ok(text) = std::str::from_utf8(text) else {
            return Err(TargetsError::NotUtf8 { line: number });
        };
        if let Some(c) = text.chars().find(|&c| c.is_control() && c != '\t') {
            return Err(match c {
                '\0' => TargetsError::Nul { line: number },
                c => control(c),
            });
        }
    }
    Ok(())
}

/// Fills `buf` from `reader`; the number of bytes read (0 at the end).
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, TargetsError> {
    loop {
        match reader.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(TargetsError::Io {
                    reason: crate::io_reason(&e),
                })
            }
        }
    }
}

/// Counts the targets in a stream of lines (see the module doc for what is refused).
pub fn count_targets(mut reader: impl Read) -> Result<TargetCount, TargetsError> {
    let mut seen = Seen::default();
    let mut buf = vec![0u8; 1 << 16];
    // The first block: at least 4 bytes (or the whole file) to see a byte order mark.
    let mut filled = 0;
    while filled < 4 {
        let n = fill(&mut reader, &mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    let head = &buf[..filled];
    if head.starts_with(b"\xFF\xFE\0\0") || head.starts_with(b"\0\0\xFE\xFF") {
        return Err(TargetsError::Utf32);
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err(TargetsError::Utf16);
    }
    let mut start = if head.starts_with(crate::files::UTF8_BOM) {
        crate::files::UTF8_BOM.len()
    } else {
        0
    };
    // A line cut by the end of a block; at most MAX_LINE + 1 bytes are kept.
    let mut carry: Vec<u8> = Vec::new();
    // The line being read (1-based), and whether the last block ended in a CR (so a LF that
    // starts the next one ends no line: CR LF is one break).
    let mut number: u64 = 1;
    let mut after_cr = false;
    // Whether the carried part of a line was plain ASCII.
    let mut carry_plain = true;
    loop {
        let mut block = &buf[start..filled];
        if after_cr && block.first() == Some(&b'\n') {
            block = &block[1..];
        }
        after_cr = false;
        let plain = plain_ascii(block);
        while let Some(i) = memchr::memchr2(b'\n', b'\r', block) {
            if carry.is_empty() {
                line(&block[..i], number, plain, &mut seen)?;
            } else {
                carry.extend_from_slice(&block[..i.min(MAX_LINE + 1)]);
                line(&carry, number, plain && carry_plain, &mut seen)?;
                carry.clear();
            }
            number += 1;
            let mut next = i + 1;
            if block[i] == b'\r' {
                match block.get(next) {
                    Some(b'\n') => next += 1,
                    None => after_cr = true,
                    Some(_) => {}
                }
            }
            block = &block[next..];
        }
        if carry.len() + block.len() > MAX_LINE {
            // A binary file has no line breaks either: say NUL when there is one.
            if memchr::memchr(0, &block[..block.len().min(MAX_LINE + 1)]).is_some() {
                return Err(TargetsError::Nul { line: number });
            }
            return Err(TargetsError::TooLong { line: number });
        }
        carry_plain = plain && (carry.is_empty() || carry_plain);
        carry.extend_from_slice(block);
        start = 0;
        filled = fill(&mut reader, &mut buf)?;
        if filled == 0 {
            break;
        }
    }
    if !carry.is_empty() {
        line(&carry, number, carry_plain, &mut seen)?;
    }
    Ok(seen.count())
}

/// Counts targets given inline.
pub fn count_list<'a>(targets: impl Iterator<Item = &'a str>) -> TargetCount {
    let mut seen = Seen::default();
    for target in targets {
        seen.add(target.trim().as_bytes());
    }
    seen.count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn counts(bytes: &[u8], targets: u64, duplicates: u64) {
        assert_eq!(
            count_targets(bytes),
            Ok(TargetCount {
                targets,
                duplicates
            }),
            "input {:.80?}",
            String::from_utf8_lossy(bytes)
        );
    }

    #[track_caller]
    fn refused(bytes: &[u8], expected: TargetsError) {
        assert_eq!(
            count_targets(bytes),
            Err(expected),
            "input {:.80?}",
            String::from_utf8_lossy(bytes)
        );
    }

    #[test]
    fn comments_blanks_and_duplicates() {
        // example.com, example.org, example.com (duplicate), example.net -> 4 targets, 1 duplicate
        counts(
            b"# clients\nexample.com\n\n  example.org  \nexample.com\r\n# end\nexample.net",
            4,
            1,
        );
        counts(b"\n\n# nothing\n", 0, 0);
        counts(b"", 0, 0);
        // a.com three times: 3 targets, 2 of them repeats
        counts(b"a.com\na.com\na.com\n", 3, 2);
    }

    #[test]
    fn every_line_ending_counts_one_line() {
        // Invariant: the count does not depend on the line endings. Three targets each way:
        // LF, CR LF, a lone CR (old Mac), and all three mixed.
        counts(b"a.com\nb.com\nc.com\n", 3, 0);
        counts(b"a.com\r\nb.com\r\nc.com\r\n", 3, 0);
        counts(b"a.com\rb.com\rc.com\r", 3, 0);
        counts(b"a.com\rb.com\r\nc.com\n", 3, 0);
        // Line numbers count CR LF as one break: the NUL is on line 3 either way.
        refused(b"a\r\nb\r\n\0", TargetsError::Nul { line: 3 });
        refused(b"a\rb\r\0", TargetsError::Nul { line: 3 });
    }

    #[test]
    fn a_utf8_bom_is_dropped_and_the_first_line_counts() {
        // Invariant: the first line is a target like any other, with or without a BOM: here it
        // repeats on line 2, so 2 targets, 1 duplicate.
        counts(b"\xEF\xBB\xBFa.com\na.com\n", 2, 1);
    }

    #[test]
    fn other_encodings_and_binary_files_are_refused() {
        // "a.com" as PowerShell's `>` writes it: UTF-16 LE with a BOM.
        refused(b"\xFF\xFEa\0.\0c\0o\0m\0\r\0\n\0", TargetsError::Utf16);
        refused(b"\xFE\xFF\0a", TargetsError::Utf16);
        refused(b"\xFF\xFE\0\0a\0\0\0", TargetsError::Utf32);
        refused(b"\0\0\xFE\xFF\0\0\0a", TargetsError::Utf32);
        // UTF-16 without a BOM is NUL bytes on line 1.
        refused(b"a\0.\0c\0", TargetsError::Nul { line: 1 });
        refused(b"a.com\ncaf\xE9.com\n", TargetsError::NotUtf8 { line: 2 });
        let escape = TargetsError::Control {
            line: 2,
            found: "U+001B".into(),
        };
        refused(b"a.com\nb\x1B[31m.com\n", escape);
        let c1 = TargetsError::Control {
            line: 1,
            found: "U+0085".into(),
        };
        refused("a\u{85}b\n".as_bytes(), c1);
        // Tabs are blanks, and UTF-8 beyond ASCII is fine.
        counts("\ta.com\t\nmünchen.de\n".as_bytes(), 2, 0);
    }

    #[test]
    fn line_length_excludes_the_line_break() {
        // Exactly MAX_LINE bytes followed by LF, CR LF or CR, or at the end: accepted.
        let long = "y".repeat(MAX_LINE);
        for end in ["\n", "\r\n", "\r"] {
            counts(format!("{long}{end}a.com\n").as_bytes(), 2, 0);
            counts(format!("a.com\n{long}{end}").as_bytes(), 2, 0);
        }
        counts(format!("a.com\n{long}").as_bytes(), 2, 0);
        // One byte more is refused, on its line.
        let longer = format!("a.com\n{}\n", "x".repeat(MAX_LINE + 1));
        refused(longer.as_bytes(), TargetsError::TooLong { line: 2 });
    }

    /// A reader that hands out one byte at a time, so every line and CR LF straddles blocks.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&b, rest)), Some(slot)) => {
                    *slot = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn lines_cut_by_reads_count_the_same() {
        // a.com, b.com, a.com: 3 targets, 1 duplicate, whatever the block boundaries.
        let text = b"\xEF\xBB\xBFa.com\r\nb.com\ra.com\n";
        assert_eq!(
            count_targets(Trickle(text)),
            Ok(TargetCount {
                targets: 3,
                duplicates: 1
            })
        );
        let long = format!("a\r\n{}\r\n", "z".repeat(MAX_LINE + 1));
        assert_eq!(
            count_targets(Trickle(long.as_bytes())),
            Err(TargetsError::TooLong { line: 2 })
        );
    }

    #[test]
    fn many_targets() {
        // 100,000 lines naming t0 … t69999, the first 30,000 of them twice: 100,000 targets,
        // 30,000 repeats.
        let text: String = (0..100_000).map(|i| format!("t{}\n", i % 70_000)).collect();
        counts(text.as_bytes(), 100_000, 30_000);
    }

    #[test]
    fn inline_list() {
        let count = count_list(["a.com", "b.com", "a.com", " a.com"].into_iter());
        // a.com three times (once with a blank that is trimmed) and b.com: 4 targets, 2 repeats
        assert_eq!(
            count,
            TargetCount {
                targets: 4,
                duplicates: 2
            }
        );
    }
}
