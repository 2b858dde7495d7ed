//! Neutralisation: every user-controlled string (workflow and step names, endpoints, paths,
//! targets, server text, the guard's endpoint names) is made safe for its format here, right
//! before it is written, and nowhere else. The rule is stated at the top of `report/mod.rs`.
//!
//! The threats, by format:
//! - **Terminal** (tables, notes, warnings, errors): control characters (ANSI escapes move the
//!   cursor, recolour, retitle the window), a newline that starts a line of the attacker's choice,
//!   bidirectional overrides that reorder what a person reads.
//! - **GitHub Actions**: the runner reads workflow commands from every line of stdout and stderr:
//!   `::command::` at the start of a line (leading spaces ignored) and the legacy `##[command]`
//!   anywhere in a line (`actions/runner`, `ActionCommand.TryParseV2`/`TryParse`). A name must not
//!   raise an annotation, mask text, set an output or `stop-commands` the tool's own annotations.
//! - **Markdown** (pull-request comments, job summaries): a name must not add a heading, a row or a
//!   column, hide the rest behind `<!--`, or become a link, an image or a code block.
//! - **CSV**: RFC 4180 quoting, and OWASP's formula-injection rule (a cell starting with `=`, `+`,
//!   `-`, `@`, tab or CR gets a leading `'`) for text cells; the numbers the tool writes stay numbers.
//! - **JSON**: serde escapes what JSON needs; [`JsonFormatter`] also escapes the C1 controls, DEL,
//!   the bidirectional and line-separator characters and the `##[` of a legacy workflow command
//!   (as `\uXXXX`, so the parsed value is unchanged).
//!
//! What a person sees: `visible` escapes are Rust-like (`\n`, `\r`, `\t`, `\u{1b}`); a backslash
//! itself is not doubled (Windows paths stay readable), so the escaping is for safety, not a
//! reversible encoding.

use std::fmt::Write as _;
use std::io;

/// Characters never written as they are: the C0 and C1 controls and DEL (`char::is_control`),
/// the line and paragraph separators, the bidirectional marks, embeddings, overrides and isolates
/// ("Trojan Source"), and the byte-order mark.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `text` with every [`hidden`] character escaped visibly (`\n`, `\r`, `\t`, else `\u{XX}`)
/// and every `##[` broken as `#\u{23}[` (GitHub's legacy workflow commands). No newline, no
/// control character, no `##[` survives. The base of every other function here.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            // `##[`: the second `#` is written escaped when a `[` follows it.
            '#' if out.ends_with('#') && chars.peek() == Some(&'[') => out.push_str("\\u{23}"),
            c => out.push(c),
        }
    }
    out
}

/// For a terminal: [`visible`], and a `:` that would start the line (after spaces) is written
/// `\u{3a}`, so the text can never begin a `::command::` line, wherever the caller puts it.
/// Use it for table cells and for whole lines composed of tool text and user text.
pub fn terminal(text: &str) -> String {
    let text = visible(text);
    let start = text.len() - text.trim_start().len();
    if text[start..].starts_with(':') {
        format!("{}\\u{{3a}}{}", &text[..start], &text[start + 1..])
    } else {
        text
    }
}

/// For Markdown inline text: table cells, headings, list items. [`visible`], then a backslash
/// before every character Markdown could read as markup anywhere (`\` `` ` `` `*` `_` `[` `]`
/// `<` `>` `#` `|` `~` `$` `&`; CommonMark lets any ASCII punctuation be escaped) and before a
/// first character that could open a block or a workflow command (`-` `+` `=` `:` `!`, or the
/// `.`/`)` after a leading number: a list); leading and trailing spaces are written `&#32;` (a
/// table cell or a heading would drop them). Rendered, the text reads exactly as [`visible`]
/// wrote it: nothing can open a heading, a row, a column, a comment, a link or a list.
pub fn markdown(text: &str) -> String {
    let text = visible(text);
    let core = text.trim_matches(' ');
    let lead = text.len() - text.trim_start_matches(' ').len();
    let trail = if core.is_empty() {
        0
    } else {
        text.len() - text.trim_end_matches(' ').len()
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&"&#32;".repeat(lead));
    // A leading number followed by `.` or `)` would open an ordered list.
    let digits = core.len() - core.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    for (i, c) in core.char_indices() {
        let opens_block = match i {
            0 => matches!(c, '-' | '+' | '=' | ':' | '!'),
            i => digits > 0 && i == digits && matches!(c, '.' | ')'),
        };
        let markup = matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '$' | '&'
        );
        if opens_block || markup {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str(&"&#32;".repeat(trail));
    out
}

/// For Markdown: a code span (`` `backlinks/summary` ``) when the text can be one safely — no
/// backtick, `|`, backslash, or leading or trailing space — else [`markdown`] plain text. A code
/// span cannot escape anything inside it, so unsafe text is never put in one.
pub fn markdown_code(text: &str) -> String {
    let text = visible(text);
    let plain = text.is_empty()
        || text.contains(['`', '|', '\\'])
        || text.starts_with(' ')
        || text.ends_with(' ');
    if plain {
        markdown(&text)
    } else {
        format!("`{text}`")
    }
}

/// For HTML: raw HTML in Markdown (`<details><summary>…</summary>`, where Markdown escapes are
/// not read) and the page of `budget report`, in text and in quoted attribute values alike:
/// [`visible`], then `&`, `<`, `>`, `"`, `'` and `#` as character references, and the two
/// characters XML forbids that [`visible`] keeps (U+FFFE, U+FFFF) escaped visibly, so the text
/// can open no element, attribute, comment or entity, and the page stays well-formed XML.
pub fn html(text: &str) -> String {
    let text = visible(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '#' => out.push_str("&#35;"),
            c => out.push(c),
        }
    }
    out
}

/// A CSV text cell as written: [`visible`] (one record is one line, and a line of a quoted cell
/// could otherwise start a workflow command); a leading `'` when the first character other than
/// a space is `=`, `+`, `-` or `@` (OWASP: a spreadsheet would run it as a formula; tab and CR
/// are already escaped); then RFC 4180 quotes when the cell holds `,` or `"`, or starts with a
/// space or `:` (a quoted cell starts its line with `"`, never with `::`).
pub fn csv_text(text: &str) -> String {
    let mut cell = visible(text);
    if cell
        .trim_start_matches(' ')
        .starts_with(['=', '+', '-', '@'])
    {
        cell.insert(0, '\'');
    }
    if cell.contains([',', '"']) || cell.starts_with([' ', ':']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

/// A GitHub workflow command's message (after `::`): [`visible`] (an annotation is one line),
/// then `%` as `%25` (the runner decodes `%25`, `%0D`, `%0A` in the data).
pub fn annotation_data(text: &str) -> String {
    visible(text).replace('%', "%25")
}

/// A GitHub workflow command's property value (`file=…`): as [`annotation_data`], plus `:` as
/// `%3A` and `,` as `%2C`, which would end the value.
pub fn annotation_property(text: &str) -> String {
    annotation_data(text)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

/// serde_json's pretty formatter, writing also as `\uXXXX` what JSON may carry raw but a
/// terminal or the GitHub runner would act on: DEL and the C1 controls, the bidirectional and
/// line-separator characters of [`hidden`], and the `[` of `##[`. The parsed value is unchanged.
pub struct JsonFormatter {
    pretty: serde_json::ser::PrettyFormatter<'static>,
    /// The last characters of the string written so far (to see `##[` across fragments).
    hashes: u8,
}

impl JsonFormatter {
    pub fn new() -> Self {
        JsonFormatter {
            pretty: serde_json::ser::PrettyFormatter::new(),
            hashes: 0,
        }
    }
}

impl Default for JsonFormatter {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes `value` as pretty JSON through [`JsonFormatter`], with a final newline.
pub fn json<T: serde::Serialize + ?Sized>(out: &mut dyn io::Write, value: &T) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, JsonFormatter::new());
    value.serialize(&mut serializer).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

impl serde_json::ser::Formatter for JsonFormatter {
    fn begin_string<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.hashes = 0;
        writer.write_all(b"\"")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = hidden(c) || (c == '[' && self.hashes >= 2);
            self.hashes = if c == '#' {
                self.hashes.saturating_add(1)
            } else {
                0
            };
            if escape {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        self.hashes = 0;
        serde_json::ser::CompactFormatter.write_char_escape(writer, char_escape)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object_value(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn is(actual: String, expected: &str) {
        assert_eq!(actual, expected);
    }

    #[test]
    fn visible_by_hand() {
        is(visible("Audit\n::warning::X"), "Audit\\n::warning::X");
        is(visible("a\r\tb\u{1b}[31mred"), "a\\r\\tb\\u{1b}[31mred");
        is(visible("\u{9b}2J \u{7f}"), "\\u{9b}2J \\u{7f}");
        is(visible("abc\u{202e}fed"), "abc\\u{202e}fed");
        is(visible("x ##[error]y"), "x #\\u{23}[error]y");
        is(visible("###[x] #[ok] ## ["), "##\\u{23}[x] #[ok] ## [");
        is(visible("C:\\Users\\me ✅ é"), "C:\\Users\\me ✅ é");
    }

    #[test]
    fn terminal_by_hand() {
        is(terminal("::warning::X"), "\\u{3a}:warning::X");
        is(terminal("  ::add-mask::x"), "  \\u{3a}:add-mask::x");
        is(terminal("a::b"), "a::b");
        is(terminal("\n::error::x"), "\\n::error::x");
    }

    #[test]
    fn markdown_by_hand() {
        is(markdown("a|b"), "a\\|b");
        is(markdown("\\|"), "\\\\\\|");
        is(markdown("<!-- hide"), "\\<!-- hide");
        is(markdown("### ✅ fits"), "\\#\\#\\# ✅ fits");
        is(markdown("[x](http://e)"), "\\[x\\](http://e)");
        is(
            markdown("::warning::x --units-left"),
            "\\::warning::x --units-left",
        );
        is(markdown("*_`~$&"), "\\*\\_\\`\\~\\$\\&");
        is(markdown("1. first"), "1\\. first");
        is(markdown("12) x 3. y"), "12\\) x 3. y");
        is(markdown("- item"), "\\- item");
        is(markdown("  pad "), "&#32;&#32;pad&#32;");
        is(markdown("   "), "&#32;&#32;&#32;");
        is(markdown("two\nlines"), "two\\\\nlines");
        is(markdown("Daily report"), "Daily report");
    }

    #[test]
    fn markdown_code_by_hand() {
        is(markdown_code("backlinks/summary"), "`backlinks/summary`");
        is(markdown_code("a|b"), "a\\|b");
        is(markdown_code("a`b"), "a\\`b");
        is(markdown_code(""), "");
        is(markdown_code("x ##[y"), "x \\#\\\\u{23}\\[y");
    }

    #[test]
    fn html_by_hand() {
        is(html("<b>&\"'#\n"), "&lt;b&gt;&amp;&quot;&#39;&#35;\\n");
        is(html("</td><!--x-->"), "&lt;/td&gt;&lt;!--x--&gt;");
        is(html("a\u{ffff}b\u{fffe}"), "a\\u{ffff}b\\u{fffe}");
    }

    #[test]
    fn csv_by_hand() {
        is(csv_text("plain"), "plain");
        is(csv_text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        is(csv_text("+1"), "'+1");
        is(csv_text("-1"), "'-1");
        is(csv_text("@SUM(A1)"), "'@SUM(A1)");
        is(csv_text("  =1"), "'  =1");
        is(csv_text("\t=1"), "\\t=1");
        is(csv_text("a,b"), "\"a,b\"");
        is(csv_text("::warning::x"), "\"::warning::x\"");
        is(csv_text("two\nlines"), "two\\nlines");
    }

    #[test]
    fn annotation_by_hand() {
        is(annotation_data("50% used\r\nnext"), "50%25 used\\r\\nnext");
        is(annotation_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn json_escapes_what_serde_leaves_raw() {
        let mut out = Vec::new();
        json(
            &mut out,
            &serde_json::json!({"n": "a\u{9b}b\u{202e} ##[x] #[y] \n"}),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\n  \"n\": \"a\\u009bb\\u202e ##\\u005bx] #[y] \\n\"\n}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["n"], "a\u{9b}b\u{202e} ##[x] #[y] \n");
    }
}
