//! The input side of a sweep: lines read one at a time on a thread of their own, comments
//! dropped, CIDR blocks expanded, then the shard and resume filters; what survives goes down a
//! bounded channel, so a million-line file is never held in memory.

use std::collections::HashSet;
use std::io::{self, BufRead};

use tokio::sync::mpsc;

use super::cidr;

/// Longest input line accepted; a longer one is reported as invalid, not buffered.
const MAX_LINE: usize = 64 * 1024;

/// One unit of work from the input.
#[derive(Debug)]
pub enum Item {
    /// A target line, normalised (see [`normalise`]).
    Target(String),
    /// A line that cannot be a target, with the reason; it is reported, never silently lost.
    Invalid { line: String, error: String },
}

/// Which lines this run takes.
pub struct Filter {
    pub shard: Option<Shard>,
    /// Keys (see [`key_hash`]) of targets a previous run already reported.
    pub done: HashSet<u64>,
    pub max_cidr: u64,
}

/// `--shard I/N`: this run takes the lines whose hash is I-1 modulo N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s:?}: expected I/N with 1 <= I <= N, like 2/8");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard {
            index: index - 1,
            count,
        })
    }

    pub fn takes(&self, key: &str) -> bool {
        fnv1a(key.as_bytes()) % self.count == self.index
    }
}

/// FNV-1a, 64 bits: stable across machines, builds and versions, which a shard split and a
/// resume file need (std's hasher is seeded per process).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A line as it is matched against shards and earlier output: comment and surrounding blanks
/// removed; `None` for a blank or comment line. A `#` starts a comment at the start of the line
/// or after a blank (so `host=h password=a#b` keeps its `#`).
pub fn normalise(line: &str) -> Option<&str> {
    let mut end = line.len();
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            end = i;
            break;
        }
    }
    let t = line[..end].trim();
    (!t.is_empty()).then_some(t)
}

/// The name a target carries in the output and in `--resume`: the normalised line with any
/// password replaced by `***`.
pub fn target_key(normalised: &str) -> String {
    crate::config::redact_connection_string(normalised)
}

pub fn key_hash(key: &str) -> u64 {
    fnv1a(key.as_bytes())
}

/// Reads `input` on the calling (blocking) thread and sends what this run takes down `tx`;
/// stops early when the receiver is gone (the sweep was interrupted). Returns how many
/// targets were skipped because `--resume` had them.
pub fn feed(input: impl BufRead, filter: &Filter, tx: &mpsc::Sender<Item>) -> io::Result<u64> {
    let mut skipped = 0u64;
    let send = |item: Item| tx.blocking_send(item).is_ok();
    let take = |line: &str, skipped: &mut u64| -> bool {
        let key = target_key(line);
        if filter.shard.is_some_and(|s| !s.takes(&key)) {
            return true;
        }
        if filter.done.contains(&key_hash(&key)) {
            *skipped += 1;
            return true;
        }
        send(Item::Target(line.to_owned()))
    };
    let mut buf = Vec::new();
    let mut input = input.take(0);
    loop {
        buf.clear();
        // Read at most MAX_LINE+1 bytes of a line; the rest of an overlong line is discarded.
        input.set_limit(MAX_LINE as u64 + 1);
        let n = input.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(skipped);
        }
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            skip_rest_of_line(input.get_mut())?;
            let head = String::from_utf8_lossy(&buf[..80]).into_owned();
            let item = Item::Invalid {
                line: head,
                error: format!("line longer than {MAX_LINE} bytes"),
            };
            if !send(item) {
                return Ok(skipped);
            }
            continue;
        }
        let text = String::from_utf8_lossy(&buf);
        let Some(line) = normalise(&text) else {
            continue;
        };
        let go_on = match cidr::parse(line, filter.max_cidr) {
            None => take(line, &mut skipped),
            Some(Err(e)) => send(Item::Invalid {
                line: line.to_owned(),
                error: e.0,
            }),
            Some(Ok(block)) => block.lines().all(|l| take(&l, &mut skipped)),
        };
        if !go_on {
            return Ok(skipped);
        }
    }
}

fn skip_rest_of_line(input: &mut impl BufRead) -> io::Result<()> {
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = chunk.len();
                input.consume(n);
            }
        }
    }
}

/// The targets an earlier sweep output already holds: every `{"type":"target"|"invalid",
/// "target":KEY,…}` line. A torn last line (the earlier run was killed mid-write) is ignored,
/// so that target is probed again.
pub fn read_done(input: impl BufRead) -> io::Result<HashSet<u64>> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "type")]
        kind: String,
        target: Option<String>,
    }
    let mut done = HashSet::new();
    for line in input.lines() {
        let line = line?;
        let Ok(env) = serde_json::from_str::<Envelope>(&line) else {
            continue;
        };
        if let ("target" | "invalid", Some(t)) = (env.kind.as_str(), env.target) {
            done.insert(key_hash(&t));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, filter: Filter) -> (Vec<String>, u64) {
        let (tx, mut rx) = mpsc::channel(1 << 20);
        let skipped = feed(input.as_bytes(), &filter, &tx).unwrap();
        drop(tx);
        let mut out = Vec::new();
        while let Ok(item) = rx.try_recv() {
            out.push(match item {
                Item::Target(t) => t,
                Item::Invalid { line, .. } => format!("invalid:{line}"),
            });
        }
        (out, skipped)
    }

    fn all() -> Filter {
        Filter {
            shard: None,
            done: HashSet::new(),
            max_cidr: 1 << 16,
        }
    }

    #[test]
    fn comments_blanks_and_cidr() {
        let input = "# fleet\n\n  db1:5432  # primary\n127.0.1.0/31:5433\nhost=h password=a#b\n10.0.0.0/8\n";
        let (out, _) = run(input, all());
        assert_eq!(
            out,
            [
                "db1:5432",
                "127.0.1.0:5433",
                "127.0.1.1:5433",
                "host=h password=a#b",
                "invalid:10.0.0.0/8"
            ]
        );
    }

    #[test]
    fn shards_partition_the_input_deterministically() {
        let input: String = (0..1000).map(|i| format!("db{i}.example:5432\n")).collect();
        let mut union = Vec::new();
        for i in 1..=4 {
            let filter = Filter {
                shard: Some(Shard::parse(&format!("{i}/4")).unwrap()),
                ..all()
            };
            let (part, _) = run(&input, filter);
            // Roughly a quarter each, and the same answer every time.
            assert!((150..350).contains(&part.len()), "{}", part.len());
            union.extend(part);
        }
        union.sort();
        let (mut full, _) = run(&input, all());
        full.sort();
        assert_eq!(union, full);
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 1, count: 4 });
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        // Pinned: the split must not change between versions (FNV-1a reference values).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn resume_reads_targets_and_ignores_a_torn_line() {
        let previous = concat!(
            "{\"type\":\"target\",\"target\":\"db1:5432\",\"data\":{\"x\":1}}\n",
            "{\"type\":\"invalid\",\"target\":\"bad line\",\"data\":{}}\n",
            "{\"type\":\"summary\",\"data\":{}}\n",
            "{\"type\":\"target\",\"target\":\"postgres://u:***@h/db\",\"data\":{}}\n",
            "{\"type\":\"target\",\"target\":\"db3:54",
        );
        let done = read_done(previous.as_bytes()).unwrap();
        assert_eq!(done.len(), 3);
        let input = "db1:5432\nbad line\ndb2:5432\npostgres://u:secret@h/db\ndb3:5432\n";
        let (out, skipped) = run(input, Filter { done, ..all() });
        assert_eq!(out, ["db2:5432", "db3:5432"]);
        assert_eq!(skipped, 3);
    }

    #[test]
    fn overlong_lines_are_reported_not_buffered() {
        let input = format!("{}\ndb1\n", "x".repeat(MAX_LINE + 10));
        let (out, _) = run(&input, all());
        assert_eq!(out.len(), 2);
        assert!(out[0].starts_with("invalid:xxx"));
        assert_eq!(out[1], "db1");
    }
}
