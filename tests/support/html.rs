//! A small, tolerant HTML reader for tests: the tables of a page by `id`, as rows of cell text,
//! and attributes of elements by `id`. It reads both what `budget report` writes (well-formed,
//! `<br/>`) and what a browser's `--dump-dom` gives back (HTML serialisation: `<br>`, `&nbsp;`,
//! inserted `<tbody>`), so a test can compare the file with what the browser built from it.
//!
//! Not a full HTML parser: no implied end tags beyond what the two sources need, no nested
//! tables; `<style>` and `<script>` contents are skipped; cell text is whitespace-collapsed.

use std::collections::BTreeMap;

/// One table: caption, header cells, body rows, foot rows (cell text, `<th>` and `<td>` alike).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub caption: String,
    pub head: Vec<String>,
    pub body: Vec<Vec<String>>,
    pub foot: Vec<Vec<String>>,
}

impl Table {
    /// The cell of `row` under the header `column` (panics with the table when missing).
    #[track_caller]
    pub fn cell<'a>(&'a self, row: &'a [String], column: &str) -> &'a str {
        let i = self
            .head
            .iter()
            .position(|h| h == column)
            .unwrap_or_else(|| panic!("no column {column:?} in {:?}", self.head));
        row.get(i)
            .unwrap_or_else(|| panic!("row {row:?} has no cell {i} ({column})"))
    }

    /// The body row whose first header-like cell (any cell) equals `key`.
    #[track_caller]
    pub fn row(&self, key: &str) -> &[String] {
        self.body
            .iter()
            .chain(&self.foot)
            .find(|r| r.iter().any(|c| c == key))
            .unwrap_or_else(|| panic!("no row {key:?} in {self:#?}"))
    }
}

/// A tag: its name (lowercase), whether it closes, whether it closes itself, its attributes.
struct Tag {
    name: String,
    closing: bool,
    attributes: Vec<(String, String)>,
}

/// `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` `&nbsp;` and numeric references back to characters.
pub fn decode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';').filter(|end| *end <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                u32::from_str_radix(&entity[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
            }
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_tag(inner: &str) -> Tag {
    let closing = inner.starts_with('/');
    let inner = inner.trim_start_matches('/').trim_end_matches('/');
    let name_end = inner
        .find(|c: char| c.is_whitespace())
        .unwrap_or(inner.len());
    let name = inner[..name_end].to_ascii_lowercase();
    let mut attributes = Vec::new();
    let mut rest = inner[name_end..].trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..key_end].to_ascii_lowercase();
        rest = rest[key_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (v, remaining) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let end = after[1..].find(q).map_or(after.len(), |e| e + 1);
                    (&after[1..end], after.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after
                        .find(|c: char| c.is_whitespace())
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            value = decode(v);
            rest = remaining.trim_start();
        }
        if !key.is_empty() {
            attributes.push((key, value));
        }
    }
    Tag {
        name,
        closing,
        attributes,
    }
}

/// Calls `visit` with every tag and every run of text (decoded), in order; skips comments,
/// declarations and the contents of `<style>` and `<script>`.
fn scan(html: &str, mut visit: impl FnMut(Option<&Tag>, &str)) {
    let mut rest = html;
    while !rest.is_empty() {
        let Some(open) = rest.find('<') else {
            visit(None, &decode(rest));
            break;
        };
        if open > 0 {
            visit(None, &decode(&rest[..open]));
        }
        let tail = &rest[open..];
        if let Some(comment) = tail.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        if tail.starts_with("<!") || tail.starts_with("<?") {
            rest = tail.find('>').map_or("", |end| &tail[end + 1..]);
            continue;
        }
        // The tag ends at the first `>` outside quotes.
        let mut quote = None;
        let mut end = tail.len();
        for (i, c) in tail.char_indices().skip(1) {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let tag = parse_tag(&tail[1..end.min(tail.len())]);
        rest = tail.get(end + 1..).unwrap_or("");
        let raw = !tag.closing && (tag.name == "style" || tag.name == "script");
        let name = tag.name.clone();
        visit(Some(&tag), "");
        if raw {
            let close = format!("</{name}");
            let end = rest.to_ascii_lowercase().find(&close).unwrap_or(rest.len());
            rest = &rest[end..];
        }
    }
}

/// Whitespace runs (spaces, line breaks, no-break spaces) as one space, trimmed.
fn collapse(text: &str) -> String {
    text.split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every table that has an `id`, by id.
pub fn tables(html: &str) -> BTreeMap<String, Table> {
    #[derive(PartialEq)]
    enum Part {
        Head,
        Body,
        Foot,
    }
    let mut tables = BTreeMap::new();
    let mut current: Option<(String, Table)> = None;
    let mut part = Part::Body;
    let mut row: Option<Vec<String>> = None;
    let mut cell: Option<String> = None;
    let mut caption: Option<String> = None;
    scan(html, |tag, text| {
        let Some(tag) = tag else {
            if let Some(cell) = cell.as_mut() {
                cell.push_str(text);
            } else if let Some(caption) = caption.as_mut() {
                caption.push_str(text);
            }
            return;
        };
        match (tag.name.as_str(), tag.closing) {
            ("table", false) => {
                let id = tag
                    .attributes
                    .iter()
                    .find(|(k, _)| k == "id")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                current = Some((id, Table::default()));
                part = Part::Body;
            }
            ("table", true) => {
                if let Some((id, table)) = current.take() {
                    if !id.is_empty() {
                        tables.insert(id, table);
                    }
                }
            }
            ("caption", false) => caption = Some(String::new()),
            ("caption", true) => {
                if let (Some(text), Some((_, table))) = (caption.take(), current.as_mut()) {
                    table.caption = collapse(&text);
                }
            }
            ("thead", false) => part = Part::Head,
            ("tbody", false) => part = Part::Body,
            ("tfoot", false) => part = Part::Foot,
            ("tr", false) => row = Some(Vec::new()),
            ("tr", true) => {
                if let (Some(cells), Some((_, table))) = (row.take(), current.as_mut()) {
                    match part {
                        Part::Head => table.head = cells,
                        Part::Body => table.body.push(cells),
                        Part::Foot => table.foot.push(cells),
                    }
                }
            }
            ("th" | "td", false) => cell = Some(String::new()),
            ("th" | "td", true) => {
                if let (Some(text), Some(cells)) = (cell.take(), row.as_mut()) {
                    cells.push(collapse(&text));
                }
            }
            ("br", _) => {
                if let Some(cell) = cell.as_mut() {
                    cell.push(' ');
                }
            }
            _ => {}
        }
    });
    tables
}

/// The value of `attribute` on the element whose `id` is `id`.
pub fn attribute(html: &str, id: &str, attribute: &str) -> Option<String> {
    let mut found = None;
    scan(html, |tag, _| {
        let Some(tag) = tag.filter(|t| !t.closing) else {
            return;
        };
        if found.is_none() && tag.attributes.iter().any(|(k, v)| k == "id" && v == id) {
            found = tag
                .attributes
                .iter()
                .find(|(k, _)| k == attribute)
                .map(|(_, v)| v.clone());
        }
    });
    found
}

/// The text of every element named `name` (whitespace-collapsed), in order; nested elements
/// of the same name are not expected.
pub fn texts(html: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    scan(html, |tag, text| match tag {
        None => {
            if let Some(current) = current.as_mut() {
                current.push_str(text);
            }
        }
        Some(tag) if tag.name == name && !tag.closing => current = Some(String::new()),
        Some(tag) if tag.name == name && tag.closing => {
            if let Some(text) = current.take() {
                out.push(collapse(&text));
            }
        }
        Some(_) => {}
    });
    out
}

/// Every tag named `name`, as its attributes.
pub fn tags(html: &str, name: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    scan(html, |tag, _| {
        if let Some(tag) = tag.filter(|t| t.name == name && !t.closing) {
            out.push(tag.attributes.clone());
        }
    });
    out
}

/// A figure as a page shows it (`1,234`, `$5.00`, `40%`) as a plain number string.
pub fn plain(figure: &str) -> String {
    figure
        .trim()
        .trim_start_matches('$')
        .trim_end_matches('%')
        .replace(',', "")
}
