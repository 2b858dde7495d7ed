//! GitHub Actions workflow commands (`::error file=…,line=…::message`).

use std::io::{self, Write};
use std::path::Path;

/// Escapes a workflow command's message: `%`, CR and LF.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value: as data, plus `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error` line; `file` and `line` are left out when unknown.
pub fn annotation(
    out: &mut dyn Write,
    file: Option<&Path>,
    line: Option<usize>,
    message: &str,
) -> io::Result<()> {
    let mut properties = Vec::new();
    if let Some(file) = file {
        properties.push(format!(
            "file={}",
            escape_property(&file.display().to_string())
        ));
        if let Some(line) = line {
            properties.push(format!("line={line}"));
        }
    }
    let properties = if properties.is_empty() {
        String::new()
    } else {
        format!(" {}", properties.join(","))
    };
    writeln!(
        out,
        "::error{properties}::{}",
        escape_data(message.trim_end())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_by_hand() {
        assert_eq!(escape_data("50% used\r\nnext"), "50%25 used%0D%0Anext");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn annotation_lines() {
        let mut out = Vec::new();
        annotation(
            &mut out,
            Some(Path::new("dir/a,b:c.yaml")),
            Some(7),
            "bad: 1,2\nmore",
        )
        .unwrap();
        annotation(&mut out, Some(Path::new("w.yaml")), None, "x").unwrap();
        annotation(&mut out, None, Some(3), "plain").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::error file=dir/a%2Cb%3Ac.yaml,line=7::bad: 1,2%0Amore\n::error file=w.yaml::x\n::error::plain\n"
        );
    }
}
