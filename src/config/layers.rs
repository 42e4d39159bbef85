//! The merge of all sources: one raw value per libpq keyword, with the source that set it.
//!
//! Sources are applied lowest precedence first, each overriding the previous, so after the last
//! layer every keyword holds the value of the highest-precedence source that gave it.

use std::collections::HashMap;

use super::Source;
use super::pairs::Pairs;

/// A value not yet validated, and where it came from.
///
/// No `Debug`: the value may be a password.
pub(crate) struct Raw {
    pub value: String,
    pub source: Source,
    pub origin: String,
}

/// Raw values by keyword.
#[derive(Default)]
pub(crate) struct Layers {
    values: HashMap<&'static str, Raw>,
}

impl Layers {
    /// Sets `keyword` unless `value` is empty: an empty value means "not given", so a lower
    /// source still fills it in (as with Django's `HOST = ''` falling back to PGHOST).
    pub fn set(
        &mut self,
        keyword: &'static str,
        value: impl Into<String>,
        source: Source,
        origin: &str,
    ) {
        let value = value.into();
        if !value.is_empty() {
            self.insert(keyword, value, source, origin);
        }
    }

    /// Sets every pair, in order, from one connection string. Unlike `set`, an empty value is
    /// stored: in libpq `port=` (or `?port=`) replaces the value and so keeps PGPORT out, and
    /// each keyword then means its default (or, for sslmode and the like, is invalid).
    pub fn apply(&mut self, pairs: Pairs, source: Source, origin: &str) {
        for (keyword, value) in pairs {
            self.insert(keyword, value, source, origin);
        }
    }

    fn insert(&mut self, keyword: &'static str, value: String, source: Source, origin: &str) {
        let origin = origin.to_owned();
        let raw = Raw {
            value,
            source,
            origin,
        };
        self.values.insert(keyword, raw);
    }

    /// Lays `higher` over these values: each keyword it sets replaces the one here.
    pub fn overlay(&mut self, higher: Layers) {
        self.values.extend(higher.values);
    }

    pub fn get(&self, keyword: &str) -> Option<&Raw> {
        self.values.get(keyword)
    }

    /// The value of `keyword` unless it is missing or empty: for user, dbname, password, the
    /// certificate files and application_name, libpq treats an empty value as its default.
    pub fn nonempty(&self, keyword: &str) -> Option<&Raw> {
        self.get(keyword).filter(|raw| !raw.value.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_override_and_empty_single_values_do_not() {
        let mut layers = Layers::default();
        layers.set("host", "env-host", Source::Env, "PGHOST");
        layers.set("port", "5433", Source::Env, "PGPORT");
        layers.apply(vec![("host", "arg-host".into())], Source::Argument, "uri");
        layers.set("port", "", Source::Env, "DB_PORT");
        let host = layers.get("host").unwrap();
        assert_eq!(
            (host.value.as_str(), host.source, host.origin.as_str()),
            ("arg-host", Source::Argument, "uri")
        );
        let port = layers.get("port").unwrap();
        assert_eq!((port.value.as_str(), port.source), ("5433", Source::Env));
        assert!(layers.get("user").is_none());
    }

    #[test]
    fn an_empty_value_in_a_connection_string_replaces_the_environment() {
        let mut layers = Layers::default();
        layers.set("port", "5433", Source::Env, "PGPORT");
        layers.apply(vec![("port", String::new())], Source::Argument, "uri");
        let port = layers.get("port").unwrap();
        assert_eq!((port.value.as_str(), port.origin.as_str()), ("", "uri"));
        assert!(layers.nonempty("port").is_none());
    }
}
