//! Turning a byte span in a profile into `file:line:column: key: message`.
//!
//! The key path (`fs[2].mode`, `seccomp.allow[0]`) comes from re-reading the document as a
//! spanned tree (toml's DeTable), which keeps the span of every key and value. That happens
//! only on the error path, so a good launch pays nothing for it.

use std::ops::Range;

use anyhow::anyhow;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::Failure;

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// The error for a problem at `span` of `file`, as one line.
pub fn error_at(
    file: &str,
    text: &str,
    span: Option<Range<usize>>,
    message: &str,
) -> anyhow::Error {
    let Some(span) = span else {
        return anyhow!(Failure::setup(format!("{file}: {message}")));
    };
    let (line, column) = line_column(text, span.start);
    let message = message.trim_end().replace('\n', " ");
    let located = match key_path_at(text, span.start) {
        Some(key) if !message.starts_with(&format!("{key}:")) => {
            format!("{file}:{line}:{column}: {key}: {message}")
        }
        _ => format!("{file}:{line}:{column}: {message}"),
    };
    anyhow!(Failure::setup(located))
}

/// The dotted path of the innermost key or value whose span contains `offset`.
pub fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let mut best: Option<(usize, String)> = None;
    visit_table(doc.get_ref(), "", offset, &mut best);
    best.map(|(_, path)| path)
}

/// Keeps the candidate whose span is smallest: the most specific node at the offset.
fn consider(span: Range<usize>, path: &str, offset: usize, best: &mut Option<(usize, String)>) {
    let contains = span.start <= offset && offset < span.end.max(span.start + 1);
    let width = span.end - span.start;
    if contains && best.as_ref().is_none_or(|(w, _)| width <= *w) {
        *best = Some((width, path.to_string()));
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Tables of every kind (`[t]`, `[[t]]` elements, inline tables) are DeTables.
fn visit_table(table: &DeTable, prefix: &str, offset: usize, best: &mut Option<(usize, String)>) {
    for (key, value) in table.iter() {
        let path = join(prefix, key.get_ref());
        consider(key.span(), &path, offset, best);
        visit_value(value, &path, offset, best);
    }
}

fn visit_value(
    value: &Spanned<DeValue>,
    path: &str,
    offset: usize,
    best: &mut Option<(usize, String)>,
) {
    consider(value.span(), path, offset, best);
    match value.get_ref() {
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                visit_value(item, &format!("{path}[{i}]"), offset, best);
            }
        }
        DeValue::Table(table) => visit_table(table, path, offset, best),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 11), (2, 6));
    }

    #[test]
    fn finds_nested_keys_and_array_elements() {
        let text = "[seccomp]\nallow = [\"read\", \"nope\"]\n[[fs]]\ntype = \"proc\"\n";
        let nope = text.find("\"nope\"").unwrap();
        assert_eq!(key_path_at(text, nope).unwrap(), "seccomp.allow[1]");
        let proc = text.find("\"proc\"").unwrap();
        assert_eq!(key_path_at(text, proc).unwrap(), "fs[0].type");
        let key = text.find("type").unwrap();
        assert_eq!(key_path_at(text, key).unwrap(), "fs[0].type");
    }

    #[test]
    fn error_names_file_line_column_and_key() {
        let text = "description = \"x\"\nuid = \"zero\"\n";
        let at = text.find("\"zero\"").unwrap();
        let e = error_at("p.toml", text, Some(at..at + 6), "invalid type");
        assert_eq!(e.to_string(), "p.toml:2:7: uid: invalid type");
    }
}
