//! Renders a [`Report`](crate::facts::Report): the only code that writes to stdout.

pub mod json;
pub mod markdown;
pub mod text;
