//! The shape of a JSON document, from two sides: the field paths (`addresses[].tls.version`)
//! and closed value sets a mirror type declares, read from its `Deserialize` impl without any
//! data; and those the README's schema block documents, parsed from its pseudo-JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

/// Field paths (`a.b[].c`) and, for fields whose value is one of a closed set, the set.
#[derive(Debug, Default)]
pub struct Shape {
    pub paths: BTreeSet<String>,
    /// Path → the JSON strings allowed there.
    pub values: BTreeMap<String, BTreeSet<String>>,
    /// Paths where the README lists values but says there are more (`| …`).
    pub open: BTreeSet<String>,
}

// ---- From a mirror type ------------------------------------------------------------------

/// The shape `T` declares: every struct field (recursing into options, sequences, tuples),
/// and the variant names of every unit enum. Maps are not entered.
pub fn of_type<'de, T: de::Deserialize<'de>>() -> Shape {
    let mut shape = Shape::default();
    T::deserialize(Tracer {
        path: String::new(),
        shape: &mut shape,
    })
    .unwrap_or_else(|e| panic!("tracing the mirror: {e}"));
    shape
}

#[derive(Debug)]
pub struct TraceError(String);

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        TraceError(msg.to_string())
    }
}

/// A deserializer that has no data: it answers every struct with its own field names (each
/// traced under its path), every sequence with one element, every enum with its first
/// variant, and every scalar with a zero value.
struct Tracer<'s> {
    path: String,
    shape: &'s mut Shape,
}

impl Tracer<'_> {
    fn child(&mut self, step: &str) -> Tracer<'_> {
        let path = match (self.path.is_empty(), step) {
            (_, "[]") => format!("{}[]", self.path),
            (true, _) => step.to_owned(),
            (false, _) => format!("{}.{step}", self.path),
        };
        Tracer {
            path,
            shape: &mut *self.shape,
        }
    }
}

macro_rules! zero {
    ($($method:ident => $visit:ident($value:expr)),+ $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
            v.$visit($value)
        })+
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = TraceError;

    zero! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(0),
        deserialize_i16 => visit_i64(0),
        deserialize_i32 => visit_i64(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u64(0),
        deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('0'),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(&[]),
        deserialize_byte_buf => visit_bytes(&[]),
        deserialize_identifier => visit_str(""),
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_unit()
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError(format!(
            "{}: a self-describing type (untagged or internally tagged enum, flatten) cannot \
             be traced",
            self.path
        )))
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, TraceError> {
        v.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, TraceError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value, TraceError> {
        v.visit_seq(Elements {
            tracer: self.child("[]"),
            left: 1,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        mut self,
        len: usize,
        v: V,
    ) -> Result<V::Value, TraceError> {
        v.visit_seq(Elements {
            tracer: self.child("[]"),
            left: len,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_tuple(len, v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_map(Fields {
            tracer: self,
            fields: &[],
            next: 0,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, TraceError> {
        for f in fields {
            let path = self.path.clone();
            self.shape.paths.insert(match path.is_empty() {
                true => f.to_string(),
                false => format!("{path}.{f}"),
            });
        }
        v.visit_map(Fields {
            tracer: self,
            fields,
            next: 0,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, TraceError> {
        let names = variants.iter().map(|s| s.to_string()).collect();
        self.shape.values.insert(self.path.clone(), names);
        v.visit_enum(variants[0].into_deserializer())
    }
}

/// A struct's fields, each traced under its own path.
struct Fields<'s> {
    tracer: Tracer<'s>,
    fields: &'static [&'static str],
    next: usize,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize((*field).into_deserializer()).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, TraceError> {
        let field = self.fields[self.next];
        self.next += 1;
        seed.deserialize(self.tracer.child(field))
    }
}

/// `left` elements of a sequence or tuple, all under `path[]`.
struct Elements<'s> {
    tracer: Tracer<'s>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_> {
    type Error = TraceError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, TraceError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let tracer = Tracer {
            path: self.tracer.path.clone(),
            shape: &mut *self.tracer.shape,
        };
        seed.deserialize(tracer).map(Some)
    }
}

// ---- From the README ---------------------------------------------------------------------

/// The shape the README's schema block documents. The block is pseudo-JSON: objects, `[ x ]`
/// for a list of `x`, alternatives with `|`, `null`, example values, `…` for "more of the
/// same", `// comments`, and named shapes: `NAME = value` (inline or after the document) used
/// as `NAME` wherever that shape recurs.
pub fn of_readme_block(block: &str) -> Shape {
    let tokens = tokenize(block);
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        named: BTreeMap::new(),
    };
    let root = parser.value();
    while parser.at < parser.tokens.len() {
        match parser.peek() {
            Some(Token::Word(_)) if parser.peek_at(1) == Some(&Token::Punct('=')) => {
                parser.value();
            }
            other => panic!("README schema: unexpected {other:?} after the document"),
        }
    }
    let mut shape = Shape::default();
    expand(&root, "", &parser.named, &mut shape, 0);
    shape
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// `{ } [ ] : , | =` and `…`.
    Punct(char),
    Str(String),
    /// A number, `null`, `true`, `false`, or the NAME of a shape.
    Word(String),
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' | '}' | '[' | ']' | ':' | ',' | '|' | '=' | '…' => out.push(Token::Punct(c)),
                '"' => {
                    let s: String = chars.by_ref().take_while(|&c| c != '"').collect();
                    out.push(Token::Str(s));
                }
                c if c.is_whitespace() => {}
                c => {
                    let mut w = c.to_string();
                    while let Some(&n) = chars.peek() {
                        if n.is_alphanumeric() || "_.-".contains(n) {
                            w.push(n);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    out.push(Token::Word(w));
                }
            }
        }
    }
    out
}

/// A documented value.
#[derive(Debug, Clone)]
enum Node {
    Object(Vec<(String, Node)>),
    List(Box<Node>),
    /// `a | b | …`: any of these (`open` when the list ends with `…`).
    Either(Vec<Node>, bool),
    /// An example string: one value of a set when among alternatives.
    Str(String),
    /// A shape defined elsewhere by name.
    Named(String),
    /// A number, `null`, `true`, `false`, `…`.
    Scalar,
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    named: BTreeMap<String, Node>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.at + ahead)
    }

    fn next(&mut self) -> Token {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t.unwrap_or_else(|| panic!("README schema: ends in the middle of a value"))
    }

    fn expect(&mut self, c: char) {
        let t = self.next();
        assert_eq!(t, Token::Punct(c), "README schema: expected {c:?}");
    }

    /// One value with its alternatives.
    fn value(&mut self) -> Node {
        let mut alternatives = vec![self.single()];
        let mut open = false;
        while self.peek() == Some(&Token::Punct('|')) {
            self.next();
            if self.peek() == Some(&Token::Punct('…')) {
                self.next();
                open = true;
            } else {
                alternatives.push(self.single());
            }
        }
        match (alternatives.len(), open) {
            (1, false) => alternatives.pop().expect("one"),
            _ => Node::Either(alternatives, open),
        }
    }

    fn single(&mut self) -> Node {
        match self.next() {
            Token::Punct('{') => self.object(),
            Token::Punct('[') => {
                let item = match self.peek() {
                    Some(Token::Punct(']')) => Node::Scalar,
                    _ => self.value(),
                };
                // `[ x, … ]`, `[ x ]` and `[ x, y ]` all document a list of x: skip to the
                // list's own end.
                let mut depth = 0;
                loop {
                    match self.next() {
                        Token::Punct('[' | '{') => depth += 1,
                        Token::Punct(']') if depth == 0 => break,
                        Token::Punct(']' | '}') => depth -= 1,
                        _ => {}
                    }
                }
                Node::List(Box::new(item))
            }
            Token::Punct('…') => Node::Scalar,
            Token::Str(s) => Node::Str(s),
            Token::Word(w) if w.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => {
                if self.peek() == Some(&Token::Punct('=')) {
                    self.next();
                    let shape = self.value();
                    self.named.insert(w.clone(), shape);
                }
                Node::Named(w)
            }
            Token::Word(_) => Node::Scalar,
            other => panic!("README schema: unexpected {other:?}"),
        }
    }

    fn object(&mut self) -> Node {
        let mut fields = Vec::new();
        loop {
            match self.next() {
                Token::Punct('}') => return Node::Object(fields),
                Token::Punct(',') | Token::Punct('…') => {}
                Token::Str(key) => {
                    self.expect(':');
                    fields.push((key, self.value()));
                }
                other => panic!("README schema: unexpected {other:?} in an object"),
            }
        }
    }
}

fn expand(node: &Node, path: &str, named: &BTreeMap<String, Node>, shape: &mut Shape, depth: u32) {
    assert!(
        depth < 32,
        "README schema: a shape that contains itself at {path}"
    );
    match node {
        Node::Object(fields) => {
            for (key, value) in fields {
                let child = match path.is_empty() {
                    true => key.clone(),
                    false => format!("{path}.{key}"),
                };
                shape.paths.insert(child.clone());
                expand(value, &child, named, shape, depth + 1);
            }
        }
        Node::List(item) => expand(item, &format!("{path}[]"), named, shape, depth + 1),
        Node::Either(alternatives, open) => {
            let strings: BTreeSet<String> = alternatives
                .iter()
                .filter_map(|a| match a {
                    Node::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            if strings.len() > 1 || (*open && !strings.is_empty()) {
                shape.values.insert(path.to_owned(), strings);
                if *open {
                    shape.open.insert(path.to_owned());
                }
            }
            for a in alternatives {
                expand(a, path, named, shape, depth + 1);
            }
        }
        Node::Named(name) => {
            let node = named.get(name).unwrap_or_else(|| {
                panic!("README schema: {name} is used at {path}, never defined")
            });
            expand(node, path, named, shape, depth + 1);
        }
        Node::Str(_) | Node::Scalar => {}
    }
}
