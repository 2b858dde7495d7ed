//! Targets files: one target per line, blank lines and `#` comments ignored.
//!
//! Files can hold millions of targets, so they are streamed, never held whole: only a 64-bit
//! hash of each line is kept, to count duplicates.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hasher};
use std::io::{BufRead, BufReader, Read};

/// Targets counted in a file or list. Duplicates are included in `targets`: the job will call
/// them, so they cost; they are reported as a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetCount {
    pub targets: u64,
    pub duplicates: u64,
}

/// The set's keys are already 64-bit hashes of the lines: hashing them again would only cost.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `HashSet<u64>`; fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Longest line accepted, in bytes: a target is a domain, host or URL.
pub const MAX_LINE: usize = 4096;

/// Counts targets in lines of text. A line longer than [`MAX_LINE`] is an `InvalidData` error
/// (a binary or minified file is not a targets list), so memory stays bounded.
pub fn count_targets(reader: impl Read) -> std::io::Result<TargetCount> {
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut seen: HashSet<u64, BuildHasherDefault<PassThrough>> = HashSet::default();
    let mut count = TargetCount {
        targets: 0,
        duplicates: 0,
    };
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut line = Vec::with_capacity(256);
    let mut number = 0u64;
    loop {
        line.clear();
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX) + 1;
        if (&mut reader).take(limit).read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line {number} is longer than {MAX_LINE} bytes; a targets file lists one domain, host or URL per line"),
            ));
        }
        let target = line.trim_ascii();
        if target.is_empty() || target.starts_with(b"#") {
            continue;
        }
        count.targets += 1;
        if !seen.insert(hasher.hash_one(target)) {
            count.duplicates += 1;
        }
    }
    Ok(count)
}

/// Counts targets given inline.
pub fn count_list<'a>(targets: impl Iterator<Item = &'a str>) -> TargetCount {
    let mut seen = HashSet::new();
    let mut count = TargetCount {
        targets: 0,
        duplicates: 0,
    };
    for target in targets {
        count.targets += 1;
        if !seen.insert(target.trim()) {
            count.duplicates += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blanks_and_duplicates() {
        let text = "# clients\nexample.com\n\n  example.org  \nexample.com\r\n# end\nexample.net";
        // example.com, example.org, example.com (duplicate), example.net -> 4 targets, 1 duplicate
        let count = count_targets(text.as_bytes()).unwrap();
        assert_eq!(
            count,
            TargetCount {
                targets: 4,
                duplicates: 1
            }
        );
    }

    #[test]
    fn empty_file() {
        assert_eq!(
            count_targets(&b"\n\n# nothing\n"[..]).unwrap(),
            TargetCount {
                targets: 0,
                duplicates: 0
            }
        );
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut text = "a.com\n".to_string();
        text.push_str(&"x".repeat(MAX_LINE + 1));
        let e = count_targets(text.as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("line 2 is longer than 4096 bytes"),
            "{e}"
        );
        // exactly MAX_LINE bytes plus its newline is fine
        let ok = format!("{}\n", "y".repeat(MAX_LINE));
        assert_eq!(count_targets(ok.as_bytes()).unwrap().targets, 1);
    }

    #[test]
    fn inline_list() {
        let count = count_list(["a.com", "b.com", "a.com", "a.com"].into_iter());
        assert_eq!(
            count,
            TargetCount {
                targets: 4,
                duplicates: 2
            }
        );
    }
}
