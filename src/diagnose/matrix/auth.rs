//! What libpq does with the authentication request it reaches: `require_auth` (libpq 16+) and
//! `channel_binding=require` can refuse it, in libpq's words (read from libpq 15, 16 and 18
//! with tests/support/libpq_judge.c). Such a refusal ends the attempt: libpq neither retries on
//! the other channel nor tries the next address.

use crate::config::{AuthRequirement, ChannelBinding, RequireAuth};
use crate::facts::{AuthMethod, Channel, StartupFacts};

/// The client's side of authentication.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy<'a> {
    pub require_auth: Option<&'a RequireAuth>,
    pub channel_binding: ChannelBinding,
}

/// libpq's message when it refuses the request `s` made over `channel`.
pub(super) fn refusal(policy: Policy<'_>, s: &StartupFacts, channel: Channel) -> Option<String> {
    let method = s.auth?;
    let scram = s
        .sasl_mechanisms
        .iter()
        .any(|m| m.starts_with("SCRAM-SHA-256"));
    if let Some(required) = policy.require_auth {
        let (requirement, request) = match method {
            AuthMethod::Trust => (
                AuthRequirement::None,
                "server did not complete authentication",
            ),
            AuthMethod::Password => (
                AuthRequirement::Password,
                "server requested a cleartext password",
            ),
            AuthMethod::Md5 => (AuthRequirement::Md5, "server requested a hashed password"),
            AuthMethod::Gss => (
                AuthRequirement::Gss,
                "server requested GSSAPI authentication",
            ),
            AuthMethod::Sspi => (
                AuthRequirement::Sspi,
                "server requested SSPI authentication",
            ),
            AuthMethod::Sasl if scram => (
                AuthRequirement::ScramSha256,
                "server requested SASL authentication",
            ),
            AuthMethod::Sasl => (
                AuthRequirement::Oauth,
                "server requested SASL authentication",
            ),
            // libpq refuses these whatever the policy; the reason already says which.
            AuthMethod::KerberosV5 | AuthMethod::Other => return None,
        };
        if !required.allows(requirement) {
            return Some(format!(
                "authentication method requirement \"{}\" failed: {request}",
                required.text
            ));
        }
    }
    if policy.channel_binding != ChannelBinding::Require {
        return None;
    }
    let plus = s.sasl_mechanisms.iter().any(|m| m == "SCRAM-SHA-256-PLUS");
    match (method, channel) {
        (AuthMethod::Trust, _) => Some(
            "channel binding required, but server authenticated client without channel binding"
                .into(),
        ),
        (AuthMethod::Sasl, Channel::Plaintext) => {
            Some("channel binding required, but SSL not in use".into())
        }
        (AuthMethod::Sasl, Channel::Tls) if !plus => Some(
            "channel binding is required, but server did not offer an authentication method that supports channel binding"
                .into(),
        ),
        (AuthMethod::Sasl, Channel::Tls) => None,
        _ => Some("channel binding required but not supported by server's authentication request".into()),
    }
}
