//! A linear pre-scan of workflow YAML: how deep it nests, and on which line each field is.
//!
//! Two jobs, one pass over the text, before serde_yaml sees it:
//!
//! - **Depth.** serde_yaml (libyaml underneath) takes quadratic time on deep flow nesting: a
//!   200 KB `[[[[…]]]]` took 48 s before its recursion limit stopped it. The scan counts nesting
//!   (block mappings and sequences by indentation, flow `[` `{` by brackets outside quotes and
//!   comments) and refuses a file nested deeper than [`MAX_DEPTH`], in time linear in its size.
//!   A workflow needs 4 levels (the workflow, `steps`, a step, `targets: {file: …}`).
//! - **Lines.** serde_yaml gives a position only with its errors, never on values, so a problem
//!   found while validating would have no line. The scan records the line of every mapping key
//!   and of every collection in a sequence, by path (`steps[2].batch`), so a problem points at
//!   its field's own line, in block or flow style.
//!
//! Why not a YAML parser with node positions instead (yaml-rust2 or saphyr markers)? It would
//! be a second YAML implementation beside serde_yaml — the one the pricing file, the tests and the
//! documented behaviour are built on — with its own differences in what it accepts (YAML 1.1
//! versus 1.2 scalars, duplicate keys, tags), so "accepted files unchanged" could no longer be
//! promised; and it recurses too, so it would still need this depth guard in front of it. The
//! depth guard must exist anyway, and recording key lines costs it little, so serde_yaml stays.
//!
//! The scan never rejects a file for anything but depth: where it cannot follow the text (a
//! complex key, a multi-line plain scalar) it records nothing and serde_yaml has the last word.
//! It may over-count depth in odd corners (never under-count a flow bracket that YAML counts), so
//! it refuses only files far deeper than any workflow.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// The deepest nesting accepted (docs/security.md). A workflow needs 4.
pub const MAX_DEPTH: usize = 32;

/// The most mappings and lists accepted (docs/security.md). A step is one mapping (two or three
/// with `sources` and `targets` lists), and a 4 MiB workflow of plain steps holds about 150,000;
/// 2,000,000 nested `[]` in 4 MiB took serde_yaml 1.4 s and 960 MB.
pub const MAX_COLLECTIONS: usize = 250_000;

/// At most this many duplicate keys are remembered (only the first one is ever reported).
const MAX_DUPLICATES: usize = 16;

/// A path in the document (`steps[2].targets.file`) as a 64-bit hash, so the index holds no
/// strings. Paths are built the same way by the scan and by the lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PathId(u64);

impl PathId {
    pub const ROOT: Self = Self(0x9e37_79b9_7f4a_7c15);
    /// Stands for a node the scan could not place; its children are never looked up.
    const UNKNOWN: Self = Self(0x2545_f491_4f6c_dd1d);

    fn hash(parts: impl std::hash::Hash) -> u64 {
        foldhash::fast::FixedState::with_seed(0x5eed).hash_one(parts)
    }

    /// The value of mapping key `key` under this node.
    pub fn key(self, key: &str) -> Self {
        Self(Self::hash((self.0, 0u8, key)))
    }

    /// Item `index` (0-based) of the sequence at this node.
    pub fn index(self, index: usize) -> Self {
        Self(Self::hash((self.0, 1u8, index)))
    }
}

/// The keys are already hashes: hashing them again would only cost time.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdMap<V> = HashMap<PathId, V, BuildHasherDefault<PassThrough>>;
type IdSet = HashSet<PathId, BuildHasherDefault<PassThrough>>;

/// What the scan learnt: field lines and duplicate keys.
#[derive(Debug, Default)]
pub struct Outline {
    lines: IdMap<u32>,
    /// Keys set twice in one mapping, in document order: the key as written and its 2nd line.
    duplicates: Vec<(String, usize)>,
}

impl Outline {
    /// The line of the node at `path`, when the scan placed it.
    pub fn line(&self, path: PathId) -> Option<usize> {
        self.lines.get(&path).map(|&line| line as usize)
    }

    /// The line where `key` is set a second time in one mapping, if the scan saw that.
    pub fn duplicate(&self, key: &str) -> Option<usize> {
        self.duplicates
            .iter()
            .find(|(k, _)| k == key)
            .map(|&(_, line)| line)
    }
}

/// Why the scan refused a document; `line` is where it went over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep { line: usize },
    /// More than [`MAX_COLLECTIONS`] mappings and lists.
    TooMany { line: usize },
}

/// Scans `text` (without a byte order mark). Linear in its length.
pub fn scan(text: &str) -> Result<Outline, Refused> {
    let mut scanner = Scanner::default();
    for (number, line) in Lines::new(text.as_bytes()) {
        scanner.line = u32::try_from(number).unwrap_or(u32::MAX);
        scanner.scan_line(line)?;
    }
    Ok(scanner.out)
}

/// Lines split at every break libyaml knows: LF, CR LF, a lone CR, NEL, LS and PS — a break the
/// scan missed could hide nesting from it.
struct Lines<'t> {
    text: &'t [u8],
    pos: usize,
    number: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t [u8]) -> Self {
        Self {
            text,
            pos: 0,
            number: 0,
        }
    }
}

impl<'t> Iterator for Lines<'t> {
    type Item = (usize, &'t [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let start = self.pos;
        let rest = &self.text[start..];
        let mut i = 0;
        let (end, next) = loop {
            match rest.get(i) {
                None => break (rest.len(), rest.len()),
                Some(b'\n') => break (i, i + 1),
                Some(b'\r') => {
                    break (
                        i,
                        if rest.get(i + 1) == Some(&b'\n') {
                            i + 2
                        } else {
                            i + 1
                        },
                    )
                }
                Some(0xC2) if rest.get(i + 1) == Some(&0x85) => break (i, i + 2),
                Some(0xE2)
                    if rest.get(i + 1) == Some(&0x80)
                        && matches!(rest.get(i + 2), Some(0xA8 | 0xA9)) =>
                {
                    break (i, i + 3)
                }
                Some(_) => i += 1,
            }
        };
        self.pos = start + next;
        self.number += 1;
        Some((self.number, &rest[..end]))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
}

/// An open block collection: its column, kind, path, next item index and keys seen.
struct Block {
    indent: usize,
    kind: Kind,
    path: PathId,
    next_index: usize,
    keys: IdSet,
}

/// An open flow collection (`[`…`]`, `{`…`}`).
struct Flow {
    kind: Kind,
    path: PathId,
    next_index: usize,
    /// The key whose value comes next, in a flow mapping.
    key: Option<PathId>,
    keys: IdSet,
}

/// A node announced by `key:` or `- ` with nothing after it: its content is on later lines,
/// indented more than `indent` (or, after a key, a `- ` sequence at the same indent).
#[derive(Clone, Copy)]
struct Pending {
    path: PathId,
    indent: usize,
    after_key: bool,
}

#[derive(Default)]
struct Scanner {
    line: u32,
    block: Vec<Block>,
    flow: Vec<Flow>,
    pending: Option<Pending>,
    /// Inside a multi-line quoted scalar: its quote character.
    quote: Option<u8>,
    /// Inside a block scalar (`|`, `>`): lines indented more than this belong to it.
    block_scalar: Option<usize>,
    /// Mappings and lists opened so far.
    collections: usize,
    out: Outline,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn blank_or_end(line: &[u8], i: usize) -> bool {
    line.get(i).is_none_or(|&b| is_blank(b))
}

fn skip_blanks(line: &[u8], mut i: usize) -> usize {
    while line.get(i).is_some_and(|&b| is_blank(b)) {
        i += 1;
    }
    i
}

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// A comment starts at `#` at the start of a line or after a blank.
fn comment_at(line: &[u8], i: usize) -> bool {
    line.get(i) == Some(&b'#') && (i == 0 || is_blank(line[i - 1]))
}

/// The end of a quoted scalar opened at `start` (the index after its closing quote), or `None`
/// when it continues on the next line.
fn quoted_end(line: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start;
    while let Some(&b) = line.get(i) {
        if quote == b'"' && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if quote == b'\'' && line.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Text of a key as written, without its quotes.
fn key_text(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    let raw = match raw {
        [b'"', inner @ .., b'"'] | [b'\'', inner @ .., b'\''] => inner,
        other => other,
    };
    String::from_utf8_lossy(raw)
}

impl Scanner {
    fn depth(&self) -> usize {
        self.block.len() + self.flow.len()
    }

    /// Counts a collection just opened; refuses when there are too many or they nest too deep.
    fn opened(&mut self) -> Result<(), Refused> {
        let line = self.line as usize;
        self.collections += 1;
        if self.collections > MAX_COLLECTIONS {
            return Err(Refused::TooMany { line });
        }
        if self.depth() > MAX_DEPTH {
            return Err(Refused::TooDeep { line });
        }
        Ok(())
    }

    fn record(&mut self, path: PathId) {
        if path != PathId::UNKNOWN {
            self.out.lines.entry(path).or_insert(self.line);
        }
    }

    /// Records a key of a mapping whose key set is `keys`; remembers a duplicate.
    fn key(&mut self, path: PathId, raw: &[u8], duplicate: bool) {
        self.record(path);
        if duplicate && self.out.duplicates.len() < MAX_DUPLICATES {
            self.out
                .duplicates
                .push((key_text(raw).into_owned(), self.line as usize));
        }
    }

    fn scan_line(&mut self, line: &[u8]) -> Result<(), Refused> {
        let mut pos = 0;
        if let Some(quote) = self.quote {
            match quoted_end(line, 0, quote) {
                None => return Ok(()),
                Some(end) => {
                    self.quote = None;
                    pos = end;
                }
            }
            if self.flow.is_empty() {
                // Whatever follows a quoted scalar is scanned on (YAML refuses most of it).
                let parent = self.block.last().map_or(0, |b| b.indent);
                return self.content(line, pos, None, parent, false);
            }
        }
        if !self.flow.is_empty() {
            return match self.flow_chars(line, pos)? {
                None => Ok(()),
                Some(end) => {
                    let parent = self.block.last().map_or(0, |b| b.indent);
                    self.content(line, end, None, parent, false)
                }
            };
        }
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        if let Some(parent) = self.block_scalar {
            if indent > parent || line.iter().all(|&b| is_blank(b)) {
                return Ok(());
            }
            self.block_scalar = None;
        }
        let rest = &line[indent..];
        if rest.iter().all(|&b| is_blank(b)) || comment_at(line, indent) {
            return Ok(());
        }
        if indent == 0 {
            if rest.starts_with(b"%") {
                return Ok(());
            }
            let marker = rest.starts_with(b"---") || rest.starts_with(b"...");
            if marker && blank_or_end(rest, 3) {
                // A document boundary: start again from the root.
                self.block.clear();
                self.pending = rest.starts_with(b"---").then_some(Pending {
                    path: PathId::ROOT,
                    indent: 0,
                    after_key: false,
                });
                if rest.starts_with(b"---") {
                    let node = Some(PathId::ROOT);
                    return self.content(line, 3, node, 0, true);
                }
                return Ok(());
            }
        }
        let is_item = rest[0] == b'-' && blank_or_end(rest, 1);
        let mut node = None;
        if let Some(p) = self.pending.take() {
            if indent > p.indent || (indent == p.indent && is_item && p.after_key) {
                node = Some(p.path);
            }
        }
        if self.block.is_empty() && node.is_none() {
            node = Some(PathId::ROOT);
        }
        while let Some(top) = self.block.last() {
            let ends = top.indent > indent
                || (top.indent == indent && top.kind == Kind::Seq && !is_item && node.is_none());
            if !ends {
                break;
            }
            self.block.pop();
        }
        let parent = self.block.last().map_or(0, |b| b.indent);
        self.content(line, indent, node, parent, true)
    }

    /// The block collection of `kind` at column `col`: the open one, or a new one at `node`.
    fn block_at(&mut self, col: usize, kind: Kind, node: Option<PathId>) -> Result<usize, Refused> {
        let open = self
            .block
            .last()
            .is_some_and(|top| top.indent == col && top.kind == kind);
        if !open {
            let path = node.unwrap_or(PathId::UNKNOWN);
            self.block.push(Block {
                indent: col,
                kind,
                path,
                next_index: 0,
                keys: IdSet::default(),
            });
            self.opened()?;
            self.record(path);
        }
        Ok(self.block.len() - 1)
    }

    /// Block-context content from `pos`: `node` is the path a collection starting here has;
    /// `parent` the indent a block scalar's lines must exceed; `may_block` whether a block
    /// collection (`- `, `key:`) may start here (not after `key: ` on the same line).
    fn content(
        &mut self,
        line: &[u8],
        mut pos: usize,
        mut node: Option<PathId>,
        mut parent: usize,
        mut may_block: bool,
    ) -> Result<(), Refused> {
        let mut after_key = false;
        loop {
            pos = skip_blanks(line, pos);
            if pos >= line.len() || comment_at(line, pos) {
                // Nothing more on this line: the node's content, if any, follows.
                if let Some(path) = node {
                    self.pending = Some(Pending {
                        path,
                        indent: parent,
                        after_key,
                    });
                }
                return Ok(());
            }
            let c = line[pos];
            match c {
                b'-' if may_block && blank_or_end(line, pos + 1) => {
                    let at = self.block_at(pos, Kind::Seq, node)?;
                    let seq = &mut self.block[at];
                    let item = seq.path.index(seq.next_index);
                    seq.next_index += 1;
                    if seq.path != PathId::UNKNOWN {
                        self.record(item);
                    }
                    node = Some(item);
                    parent = pos;
                    after_key = false;
                    pos += 1;
                }
                b'?' | b':' if blank_or_end(line, pos + 1) => {
                    // An explicit key or value: the scan does not follow complex keys.
                    node = None;
                    pos += 1;
                }
                b'[' | b'{' => {
                    let kind = if c == b'[' { Kind::Seq } else { Kind::Map };
                    self.open_flow(kind, node.unwrap_or(PathId::UNKNOWN))?;
                    match self.flow_chars(line, pos + 1)? {
                        None => return Ok(()),
                        // A flow collection may be a key (`[a, b]: value`): scan on.
                        Some(end) => {
                            node = None;
                            may_block = false;
                            pos = end;
                        }
                    }
                }
                b'&' | b'!' => {
                    // A node property (anchor or tag): the node follows it.
                    while line.get(pos).is_some_and(|&b| !is_blank(b)) {
                        pos += 1;
                    }
                }
                b'*' => {
                    // An alias; it may be a key (`*a : value`), so the line is scanned on.
                    while line.get(pos).is_some_and(|&b| !is_blank(b)) {
                        pos += 1;
                    }
                    node = None;
                    may_block = false;
                }
                b'|' | b'>' => {
                    self.block_scalar = Some(parent);
                    return Ok(());
                }
                b'"' | b'\'' => {
                    let Some(end) = quoted_end(line, pos + 1, c) else {
                        self.quote = Some(c);
                        return Ok(());
                    };
                    let colon = skip_blanks(line, end);
                    if may_block && line.get(colon) == Some(&b':') && blank_or_end(line, colon + 1)
                    {
                        let path = self.block_key(line, pos, end, node)?;
                        node = Some(path);
                        parent = pos;
                        after_key = true;
                        may_block = false;
                        pos = colon + 1;
                    } else {
                        // A quoted value; whatever follows is scanned on (YAML refuses it).
                        node = None;
                        may_block = false;
                        pos = end;
                    }
                }
                _ => {
                    if !may_block {
                        return Ok(());
                    }
                    // A plain scalar; a key when `: ` (or `:` at the end) follows on this line.
                    let mut i = pos;
                    let colon = loop {
                        match line.get(i) {
                            None => break None,
                            Some(b':') if blank_or_end(line, i + 1) => break Some(i),
                            Some(_) if comment_at(line, i) => break None,
                            Some(_) => i += 1,
                        }
                    };
                    let Some(colon) = colon else {
                        return Ok(());
                    };
                    let mut end = colon;
                    while end > pos && is_blank(line[end - 1]) {
                        end -= 1;
                    }
                    let path = self.block_key(line, pos, end, node)?;
                    node = Some(path);
                    parent = pos;
                    after_key = true;
                    may_block = false;
                    pos = colon + 1;
                }
            }
        }
    }

    /// A block mapping key written at `line[start..end]`: records it, returns its value's path.
    fn block_key(
        &mut self,
        line: &[u8],
        start: usize,
        end: usize,
        node: Option<PathId>,
    ) -> Result<PathId, Refused> {
        let at = self.block_at(start, Kind::Map, node)?;
        let raw = &line[start..end];
        let map = &mut self.block[at];
        if map.path == PathId::UNKNOWN {
            return Ok(PathId::UNKNOWN);
        }
        let path = map.path.key(&key_text(raw));
        let duplicate = !map.keys.insert(path);
        self.key(path, raw, duplicate);
        Ok(path)
    }

    fn open_flow(&mut self, kind: Kind, path: PathId) -> Result<(), Refused> {
        self.flow.push(Flow {
            kind,
            path,
            next_index: 0,
            key: None,
            keys: IdSet::default(),
        });
        self.opened()?;
        self.record(path);
        Ok(())
    }

    /// The path of the value starting now inside the innermost flow collection.
    fn flow_value(&self) -> PathId {
        match self.flow.last() {
            Some(f) if f.kind == Kind::Seq => {
                if f.path == PathId::UNKNOWN {
                    PathId::UNKNOWN
                } else {
                    f.path.index(f.next_index)
                }
            }
            Some(f) => f.key.unwrap_or(PathId::UNKNOWN),
            None => PathId::UNKNOWN,
        }
    }

    /// A key inside the innermost flow mapping.
    fn flow_key(&mut self, raw: &[u8]) {
        let Some(f) = self.flow.last_mut() else {
            return;
        };
        if f.kind != Kind::Map {
            return;
        }
        let path = if f.path == PathId::UNKNOWN {
            PathId::UNKNOWN
        } else {
            f.path.key(&key_text(raw))
        };
        let duplicate = path != PathId::UNKNOWN && !f.keys.insert(path);
        f.key = Some(path);
        self.key(path, raw, duplicate);
    }

    /// Flow-context text from `pos` to the end of the line (`None`), or until the outermost flow
    /// collection closes (`Some` of the position after it).
    fn flow_chars(&mut self, line: &[u8], mut pos: usize) -> Result<Option<usize>, Refused> {
        loop {
            pos = skip_blanks(line, pos);
            let Some(&c) = line.get(pos) else {
                return Ok(None);
            };
            if comment_at(line, pos) {
                return Ok(None);
            }
            match c {
                b'[' | b'{' => {
                    let kind = if c == b'[' { Kind::Seq } else { Kind::Map };
                    let path = self.flow_value();
                    self.open_flow(kind, path)?;
                    pos += 1;
                }
                b']' | b'}' => {
                    self.flow.pop();
                    pos += 1;
                    if self.flow.is_empty() {
                        return Ok(Some(pos));
                    }
                }
                b',' => {
                    if let Some(f) = self.flow.last_mut() {
                        f.next_index += 1;
                        f.key = None;
                    }
                    pos += 1;
                }
                b'"' | b'\'' => {
                    let Some(end) = quoted_end(line, pos + 1, c) else {
                        self.quote = Some(c);
                        return Ok(None);
                    };
                    let colon = skip_blanks(line, end);
                    if line.get(colon) == Some(&b':') {
                        self.flow_key(&line[pos..end]);
                        pos = colon + 1;
                    } else {
                        pos = end;
                    }
                }
                b'&' | b'!' | b'*' => {
                    while line
                        .get(pos)
                        .is_some_and(|&b| !is_blank(b) && !is_flow_indicator(b))
                    {
                        pos += 1;
                    }
                }
                b':' | b'?' if blank_or_end(line, pos + 1) => pos += 1,
                _ => {
                    // A plain scalar, up to a flow indicator, `: `, `:` before an indicator,
                    // or a comment.
                    let start = pos;
                    let end = loop {
                        match line.get(pos) {
                            None => break pos,
                            Some(&b) if is_flow_indicator(b) => break pos,
                            Some(b':')
                                if pos > start
                                    && line
                                        .get(pos + 1)
                                        .is_none_or(|&n| is_blank(n) || is_flow_indicator(n)) =>
                            {
                                break pos
                            }
                            Some(_) if comment_at(line, pos) => break pos,
                            Some(_) => pos += 1,
                        }
                    };
                    if line.get(end) == Some(&b':') {
                        let mut key_end = end;
                        while key_end > start && is_blank(line[key_end - 1]) {
                            key_end -= 1;
                        }
                        self.flow_key(&line[start..key_end]);
                        pos = end + 1;
                    } else if end == start {
                        // A lone `:` or `?` glued to something: step over it.
                        pos += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn depth_ok(text: &str) {
        assert!(scan(text).is_ok(), "refused: {text:.80?}");
    }

    #[track_caller]
    fn too_deep(text: &str, line: usize) {
        assert_eq!(
            scan(text).err(),
            Some(Refused::TooDeep { line }),
            "{text:.80?}"
        );
    }

    /// `key: ` nested `n` flow levels deep (the root mapping is one more).
    fn flow(n: usize) -> String {
        format!("key: {}{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn depth_is_counted_in_flow_and_block_style() {
        // The root mapping is level 1: 31 brackets make 32 (accepted), 32 make 33.
        depth_ok(&flow(MAX_DEPTH - 1));
        too_deep(&flow(MAX_DEPTH), 1);
        too_deep(&format!("a: {}", "{b: ".repeat(40)), 1);
        // Block sequences nested on one line, and mappings by indentation.
        too_deep(&format!("a:\n{}x", "- ".repeat(40)), 2);
        let indented: String = (0..40)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        too_deep(&indented, 33);
        // Block and flow add up: root, `a` (2), `b` (3) + 30 brackets = 33.
        too_deep(&format!("a:\n  b:\n    - {}", "[".repeat(30)), 3);
    }

    #[test]
    fn collections_are_counted() {
        // 250,000 empty lists in one flow list: with the outer list and the root mapping that
        // is 250,002 collections, over the cap; 249,998 make exactly 250,000.
        let list = |n: usize| format!("a: [{}]", vec!["[]"; n].join(","));
        assert!(scan(&list(MAX_COLLECTIONS - 2)).is_ok());
        assert_eq!(
            scan(&list(MAX_COLLECTIONS)).err(),
            Some(Refused::TooMany { line: 1 })
        );
    }

    #[test]
    fn brackets_that_are_not_structure_are_not_counted() {
        let deep = "[".repeat(40);
        // In quotes (one line or several), comments, plain scalars and block scalars.
        depth_ok(&format!("a: \"{deep}\"\nb: '{deep}'\nc: \"x\n  {deep}\"\n"));
        depth_ok(&format!("a: 1 # {deep}\n# {deep}\nb: x{deep}\n"));
        depth_ok(&format!("a: |\n  {deep}\n  more\nb: >\n  {deep}\n"));
        depth_ok(&format!("a: [\"{deep}\", '{deep}', {{k: \"{deep}\"}}]\n"));
        // Escaped quotes do not end a quoted scalar early.
        depth_ok(&format!("a: \"\\\"{deep}\"\nb: 'it''s {deep}'\n"));
    }

    #[test]
    fn nesting_cannot_hide_behind_odd_structure() {
        // A flow key followed by a value, an alias key, tags and anchors, explicit keys.
        too_deep(&format!("[a]: {}", "[".repeat(40)), 1);
        too_deep(&format!("*a : {}", "[".repeat(40)), 1);
        too_deep(&format!("a: !t &x {}", "[".repeat(40)), 1);
        too_deep(&format!("? {}", "[".repeat(40)), 1);
        // Every line break libyaml knows: CR, NEL, LS, PS.
        for brk in ["\r", "\u{85}", "\u{2028}", "\u{2029}"] {
            too_deep(&format!("a: x{brk}b: {}", "[".repeat(40)), 2);
        }
    }

    #[test]
    fn keys_are_placed_on_their_lines() {
        let text = "name: x\r\nsteps:\r\n- endpoint: a\r\n  \"batch\": 5\r\n- {endpoint: b,\r\n   rows: 7}\r\n";
        let outline = scan(text).unwrap();
        let steps = PathId::ROOT.key("steps");
        let line = |p: PathId| outline.line(p);
        assert_eq!(line(PathId::ROOT.key("name")), Some(1));
        assert_eq!(line(steps), Some(2));
        assert_eq!(line(steps.index(0)), Some(3));
        assert_eq!(line(steps.index(0).key("batch")), Some(4));
        assert_eq!(line(steps.index(1)), Some(5));
        assert_eq!(line(steps.index(1).key("rows")), Some(6));
        assert_eq!(line(steps.index(2)), None);
    }

    #[test]
    fn duplicate_keys_are_placed_on_their_second_line() {
        let outline = scan("a: 1\nb:\n  c: 1\n  c: 2\nd: {e: 1, e: 2}\n").unwrap();
        assert_eq!(outline.duplicate("c"), Some(4));
        assert_eq!(outline.duplicate("e"), Some(5));
        assert_eq!(outline.duplicate("a"), None);
    }
}

#[cfg(test)]
mod laws {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The scan takes any text built from YAML's structural characters without panicking,
        /// and a nesting of `n` flow brackets is refused exactly when `n + 1 > MAX_DEPTH`.
        #[test]
        fn any_text_scans(
            text in "[\\[\\]{}:,'\"#!&*|>?a \n\r\t\\-]{0,200}",
            n in 0usize..64,
        ) {
            let _ = scan(&text);
            let nested = format!("k: {}{}", "[".repeat(n), "]".repeat(n));
            prop_assert_eq!(scan(&nested).is_ok(), n < MAX_DEPTH);
        }

        /// The scan's depth is serde_yaml's: a document is refused exactly when it nests deeper
        /// than MAX_DEPTH, written in block style (as serde_yaml writes it) or in flow style
        /// (JSON). The trees are wrapped in a chain of 20–40 one-item lists and mappings, so the
        /// limit is crossed often.
        #[test]
        fn depth_matches_the_documents(tree in tree(), chain in 20usize..40) {
            let mut value = tree;
            for i in 0..chain {
                value = if i % 2 == 0 {
                    Value::Sequence(vec![value])
                } else {
                    Value::Mapping([(Value::from("k"), value)].into_iter().collect())
                };
            }
            let expected = depth(&value) <= MAX_DEPTH;
            let block = serde_yaml::to_string(&value).unwrap();
            prop_assert_eq!(scan(&block).is_ok(), expected, "block:\n{}", block);
            let flow = serde_json::to_string(&value).unwrap();
            prop_assert_eq!(scan(&flow).is_ok(), expected, "flow: {}", flow);
        }
    }

    use serde_yaml::Value;

    fn tree() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            "[a-z]{1,4}".prop_map(Value::from),
            any::<u16>().prop_map(Value::from),
        ];
        leaf.prop_recursive(12, 64, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Sequence),
                prop::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|entries| {
                    Value::Mapping(
                        entries
                            .into_iter()
                            .map(|(k, v)| (Value::from(k), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    /// Nesting as serde_yaml counts it: each list or mapping is one level.
    fn depth(value: &Value) -> usize {
        match value {
            Value::Sequence(list) => 1 + list.iter().map(depth).max().unwrap_or(0),
            Value::Mapping(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}
