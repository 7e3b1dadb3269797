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
use std::ops::Range;

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
    fn get(self) -> &'static str {
        &STRINGS[self.0 as usize..(self.0 + self.1) as usize]
    }
}

/// A node and its byte range in the profile's text.
type Spot = (Node, u32, u32);

include!(concat!(env!("OUT_DIR"), "/compiled_profiles.rs"));

/// The document `text` parses to, when `text` is a built-in profile's.
pub fn document(text: &str) -> Option<Spanned<DeTable<'static>>> {
    let (name, _) = super::catalog::BUILT_IN.iter().find(|(_, t)| *t == text)?;
    let (_, spots) = DOCUMENTS.iter().find(|(n, _)| n == name)?;
    let mut spots = spots.iter();
    let root = value(&mut spots);
    let span = root.span();
    match root.into_inner() {
        DeValue::Table(table) => Some(Spanned::new(span, table)),
        _ => None,
    }
}

fn value(spots: &mut std::slice::Iter<'static, Spot>) -> Spanned<DeValue<'static>> {
    let (node, start, end) = spots.next().expect("build.rs wrote a whole document");
    let span = *start as usize..*end as usize;
    let value = match node {
        Node::Str(s) => DeValue::String(Cow::Borrowed(s.get())),
        Node::Bool(b) => DeValue::Boolean(*b),
        Node::Int(literal) if literal.get() == "0" => DeValue::Integer(DeInteger::default()),
        Node::Int(literal) | Node::Float(literal) | Node::Datetime(literal) => {
            scalar(literal.get(), &span)
        }
        Node::Array(len) => {
            let mut items = DeArray::new();
            for _ in 0..*len {
                items.push(value(spots));
            }
            DeValue::Array(items)
        }
        Node::Table(len) => {
            let mut table = DeTable::new();
            for _ in 0..*len {
                let key = match spots.next() {
                    Some((Node::Key(k), start, end)) => {
                        Spanned::new(*start as usize..*end as usize, Cow::Borrowed(k.get()))
                    }
                    other => panic!("build.rs wrote a key here, not {other:?}"),
                };
                table.insert(key, value(spots));
            }
            DeValue::Table(table)
        }
        Node::Key(k) => panic!("build.rs wrote a value here, not the key {:?}", k.get()),
    };
    Spanned::new(span, value)
}

/// A number or date other than 0: toml builds those only from their text (none of the
/// built-in profiles has one today).
fn scalar(literal: &'static str, span: &Range<usize>) -> DeValue<'static> {
    DeValue::parse(literal)
        .unwrap_or_else(|e| panic!("build.rs wrote {literal:?} at {span:?}: {e}"))
        .into_inner()
}
