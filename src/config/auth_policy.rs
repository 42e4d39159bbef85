//! What the client accepts from the server's authentication request: libpq 16+ `require_auth`
//! and `channel_binding`, parsed with libpq's rules and messages.

use crate::vocabulary::vocabulary;

vocabulary! {
    /// One method `require_auth` can name (libpq 18 adds `oauth`).
    pub enum AuthRequirement {
        Password = "password",
        Md5 = "md5",
        Gss = "gss",
        Sspi = "sspi",
        ScramSha256 = "scram-sha-256",
        Oauth = "oauth",
        /// No authentication at all (AuthenticationOk straight away: `trust`).
        None = "none",
    }
}

/// A parsed `require_auth`: the methods listed, either all allowed or (with `!`) all refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequireAuth {
    /// The value as given, for libpq's message.
    pub text: String,
    pub negated: bool,
    pub methods: Vec<AuthRequirement>,
}

/// Written as libpq reads it: the value as given.
impl serde::Serialize for RequireAuth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl RequireAuth {
    /// libpq's parse (`pqConnectOptions2`), with its messages. `oauth` is a method from libpq
    /// 18 on (`with_oauth`).
    pub fn parse(text: &str, with_oauth: bool) -> Result<RequireAuth, String> {
        let mut negated = None;
        let mut methods = Vec::new();
        for item in text.split(',') {
            let (neg, word) = match item.strip_prefix('!') {
                Some(word) => (true, word),
                None => (false, item),
            };
            match negated {
                None => negated = Some(neg),
                Some(first) if first != neg => {
                    let message = if neg {
                        format!(
                            "negative require_auth method \"{item}\" cannot be mixed with non-negative methods"
                        )
                    } else {
                        format!(
                            "require_auth method \"{item}\" cannot be mixed with negative methods"
                        )
                    };
                    return Err(message);
                }
                Some(_) => {}
            }
            let method = AuthRequirement::from_word(word)
                .filter(|m| with_oauth || *m != AuthRequirement::Oauth)
                .ok_or_else(|| format!("invalid require_auth value: \"{word}\""))?;
            if methods.contains(&method) {
                return Err(format!(
                    "require_auth method \"{word}\" is specified more than once"
                ));
            }
            methods.push(method);
        }
        Ok(RequireAuth {
            text: text.to_owned(),
            negated: negated.unwrap_or(false),
            methods,
        })
    }

    pub fn allows(&self, method: AuthRequirement) -> bool {
        self.methods.contains(&method) != self.negated
    }
}

vocabulary! {
    /// libpq's `channel_binding`.
    #[derive(Default)]
    pub enum ChannelBinding {
        Disable = "disable",
        #[default]
        Prefer = "prefer",
        Require = "require",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each message as libpq 16 and 18 print it (read with tests/support/libpq_judge.c).
    #[test]
    fn parses_like_libpq() {
        let r = RequireAuth::parse("scram-sha-256,md5", true).unwrap();
        assert!(r.allows(AuthRequirement::Md5) && !r.allows(AuthRequirement::None));
        let r = RequireAuth::parse("!password", true).unwrap();
        assert!(r.allows(AuthRequirement::None) && !r.allows(AuthRequirement::Password));
        let err = |s, oauth| RequireAuth::parse(s, oauth).unwrap_err();
        assert_eq!(
            err("md5,!password", true),
            "negative require_auth method \"!password\" cannot be mixed with non-negative methods"
        );
        assert_eq!(err("bogus", true), "invalid require_auth value: \"bogus\"");
        assert_eq!(
            err("scram-sha-256,", true),
            "invalid require_auth value: \"\""
        );
        assert_eq!(
            err("SCRAM-SHA-256", true),
            "invalid require_auth value: \"SCRAM-SHA-256\""
        );
        assert_eq!(
            err("md5,md5", true),
            "require_auth method \"md5\" is specified more than once"
        );
        assert_eq!(err("oauth", false), "invalid require_auth value: \"oauth\"");
        assert!(RequireAuth::parse("oauth", true).is_ok());
    }
}
