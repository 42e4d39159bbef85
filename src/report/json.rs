//! The `--json` document: the facts serialised as one pretty-printed JSON object.

use std::io::{self, Write};

use crate::facts::Report;

pub fn write(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
    writeln!(out)
}
