//! The built-in profiles, parsed at build time.
//!
//! build.rs parses each file of profiles/ with toml's own parser and writes its spanned
//! document out as a pre-order list of nodes. A profile whose text is a built-in one is
//! rebuilt from that list and handed to toml's deserializer, which is what `toml::from_str`
//! does after parsing: the same profile with the same spans comes out (tested), without
//! running the parser. Why: the parser is the largest part of reading the default profile on
//! a launch (its token and event buffers and its code are touched for the first time each
//! launch), about 0.15 ms.

use std::borrow::Cow;

use toml::de::{DeArray, DeInteger, DeTable, DeValue};
use toml::Spanned;

/// One node of a document. A table is followed by its key-value pairs, an array by its items.
#[derive(Debug)]
pub enum Node {
    Table(usize),
    Key(Text),
    Array(usize),
    Str(Text),
    /// The literal as TOML writes it (with its radix prefix).
    Int(Text),
    Float(Text),
    Datetime(Text),
    Bool(bool),
}

/// A string of `STRINGS`: offset and length.
#[derive(Clone, Copy, Debug)]
pub struct Text(u32, u32);

impl Text {
    fn get(self) -> Option<&'static str> {
        STRINGS.get(self.0 as usize..self.0 as usize + self.1 as usize)
    }
}

/// A node and its byte range in the profile's text.
type Spot = (Node, u32, u32);

include!(concat!(env!("OUT_DIR"), "/compiled_profiles.rs"));

/// The document `text` parses to, when `text` is a built-in profile's. None also when the
/// compiled list is not a whole document (a bug the unit tests catch): the caller then parses.
pub fn document(text: &str) -> Option<Spanned<DeTable<'static>>> {
    let (name, _) = super::catalog::BUILT_IN.iter().find(|(_, t)| *t == text)?;
    let (_, spots) = DOCUMENTS.iter().find(|(n, _)| n == name)?;
    let mut spots = spots.iter();
    let root = value(&mut spots)?;
    let span = root.span();
    match (root.into_inner(), spots.next()) {
        (DeValue::Table(table), None) => Some(Spanned::new(span, table)),
        _ => None,
    }
}

fn value(spots: &mut std::slice::Iter<'static, Spot>) -> Option<Spanned<DeValue<'static>>> {
    let (node, start, end) = spots.next()?;
    let value = match node {
        Node::Str(s) => DeValue::String(Cow::Borrowed(s.get()?)),
        Node::Bool(b) => DeValue::Boolean(*b),
        Node::Int(literal) if literal.get() == Some("0") => DeValue::Integer(DeInteger::default()),
        // toml builds other numbers and dates only from their text (none of the built-in
        // profiles has one today).
        Node::Int(literal) | Node::Float(literal) | Node::Datetime(literal) => {
            DeValue::parse(literal.get()?).ok()?.into_inner()
        }
        Node::Array(len) => {
            let mut items = DeArray::new();
            for _ in 0..*len {
                items.push(value(spots)?);
            }
            DeValue::Array(items)
        }
        Node::Table(len) => {
            let mut table = DeTable::new();
            for _ in 0..*len {
                let (Node::Key(key), start, end) = spots.next()? else {
                    return None;
                };
                let key = Spanned::new(*start as usize..*end as usize, Cow::Borrowed(key.get()?));
                table.insert(key, value(spots)?);
            }
            DeValue::Table(table)
        }
        Node::Key(_) => return None,
    };
    Some(Spanned::new(*start as usize..*end as usize, value))
}
