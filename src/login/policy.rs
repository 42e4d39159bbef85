//! libpq's `channel_binding` and `require_auth` settings: which authentication the client
//! accepts from the server, checked before any password leaves.

/// `channel_binding` (libpq, PostgreSQL 13+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    /// Never bind: SCRAM-SHA-256 even when -PLUS is offered.
    Disable,
    /// Bind when the server offers SCRAM-SHA-256-PLUS over TLS (libpq's default).
    Prefer,
    /// Only SCRAM-SHA-256-PLUS is acceptable; anything else ends the attempt.
    Require,
}

impl ChannelBinding {
    pub fn parse(value: Option<&str>) -> Result<ChannelBinding, String> {
        match value {
            None | Some("prefer") => Ok(ChannelBinding::Prefer),
            Some("disable") => Ok(ChannelBinding::Disable),
            Some("require") => Ok(ChannelBinding::Require),
            Some(other) => Err(format!(
                "invalid channel_binding value: \"{other}\" (expected disable, prefer or require)"
            )),
        }
    }
}

/// The authentication classes `require_auth` names (libpq 16+).
pub const METHODS: [&str; 6] = ["password", "md5", "gss", "sspi", "scram-sha-256", "none"];

/// `require_auth`: a list of methods the server may use, or (all negated with `!`) may not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequireAuth {
    /// Empty: anything goes.
    methods: Vec<String>,
    negated: bool,
}

impl RequireAuth {
    pub fn parse(value: Option<&str>) -> Result<RequireAuth, String> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(RequireAuth::default());
        };
        let mut out = RequireAuth::default();
        for (i, item) in value.split(',').map(str::trim).enumerate() {
            let (negated, name) = match item.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, item),
            };
            if i > 0 && negated != out.negated {
                return Err(format!(
                    "negative require_auth method \"{item}\" cannot be mixed with non-negative methods"
                ));
            }
            out.negated = negated;
            if !METHODS.contains(&name) {
                return Err(format!("invalid require_auth method: \"{name}\""));
            }
            out.methods.push(name.to_owned());
        }
        Ok(out)
    }

    /// Checks the method the server chose (`none` for AuthenticationOk without a request).
    /// The error is libpq's: `authentication method requirement "…" failed: …`.
    pub fn check(&self, method: &str) -> Result<(), String> {
        if self.methods.is_empty() {
            return Ok(());
        }
        let listed = self.methods.iter().any(|m| m == method);
        if listed != self.negated {
            return Ok(());
        }
        let list = self
            .methods
            .iter()
            .map(|m| format!("{}{m}", if self.negated { "!" } else { "" }))
            .collect::<Vec<_>>()
            .join(",");
        Err(format!(
            "authentication method requirement \"{list}\" failed: {}",
            match method {
                "none" => "server did not complete authentication".to_owned(),
                "password" => "server requested a cleartext password".to_owned(),
                "md5" => "server requested a hashed password".to_owned(),
                "scram-sha-256" => "server requested SASL authentication".to_owned(),
                other => format!("server requested {other} authentication"),
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_binding_values() {
        assert_eq!(ChannelBinding::parse(None), Ok(ChannelBinding::Prefer));
        assert_eq!(
            ChannelBinding::parse(Some("require")),
            Ok(ChannelBinding::Require)
        );
        assert!(ChannelBinding::parse(Some("Require")).is_err());
    }

    #[test]
    fn require_auth_lists() {
        let r = RequireAuth::parse(Some("scram-sha-256")).unwrap();
        assert!(r.check("scram-sha-256").is_ok());
        let e = r.check("md5").unwrap_err();
        assert!(e.contains("\"scram-sha-256\" failed"), "{e}");
        let r = RequireAuth::parse(Some("!password,!md5")).unwrap();
        assert!(r.check("scram-sha-256").is_ok());
        assert!(r.check("none").is_ok());
        assert!(r.check("password").is_err());
        let r = RequireAuth::parse(Some("md5,none")).unwrap();
        assert!(r.check("none").is_ok());
        assert!(RequireAuth::parse(Some("md5,!none")).is_err());
        assert!(RequireAuth::parse(Some("kerberos")).is_err());
        assert!(RequireAuth::parse(None).unwrap().check("password").is_ok());
    }
}
