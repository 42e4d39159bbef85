//! What libpq does with the answer to its StartupMessage: the protocol version the server
//! offers (libpq 18 `min_protocol_version`), and the authentication request, which
//! `sslcertmode=require`, `require_auth` (libpq 16+) and `channel_binding=require` can refuse,
//! in libpq's words (read from libpq 15, 16 and 18 with tests/support/libpq_judge.c). Such a
//! refusal ends the attempt: libpq neither retries on the other channel nor tries the next
//! address.

use crate::config::{AuthRequirement, ChannelBinding, ProtocolVersion, RequireAuth};
use crate::facts::{AddressFacts, AuthMethod, Channel, Stage, StartupFacts};

/// The client's side of the startup.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy<'a> {
    pub require_auth: Option<&'a RequireAuth>,
    pub channel_binding: ChannelBinding,
    /// `sslcertmode=require`: the server must have asked for a client certificate.
    pub cert_required: bool,
    pub min_protocol: ProtocolVersion,
}

/// The stage and libpq's message when it refuses what the server answered over `channel`.
pub(super) fn refusal(
    policy: Policy<'_>,
    a: &AddressFacts,
    s: &StartupFacts,
    channel: Channel,
) -> Option<(Stage, String)> {
    if let Some(message) = protocol_refusal(policy, s) {
        return Some((Stage::Startup, message));
    }
    auth_refusal(policy, a, s, channel).map(|message| (Stage::Auth, message))
}

/// libpq 18's `min_protocol_version` against a server's NegotiateProtocolVersion.
fn protocol_refusal(policy: Policy<'_>, s: &StartupFacts) -> Option<String> {
    // PostgreSQL puts its whole newest version (3.0 is 196608) where the protocol
    // documentation says "minor"; libpq reads the minor out of it, as here.
    let offered_minor = s
        .negotiate_protocol
        .as_ref()
        .map(|v| v.newest_minor & 0xFFFF);
    if let Some(minor) = offered_minor
        && minor < u32::from(policy.min_protocol.minor())
    {
        return Some(format!(
            "server only supports protocol version 3.{minor}, but \"min_protocol_version\" was set to {}",
            policy.min_protocol
        ));
    }
    None
}

/// `sslcertmode=require`, `require_auth`, `channel_binding=require`.
fn auth_refusal(
    policy: Policy<'_>,
    a: &AddressFacts,
    s: &StartupFacts,
    channel: Channel,
) -> Option<String> {
    let method = s.auth?;
    let asked_for_cert = channel == Channel::Tls
        && a.tls
            .as_ref()
            .is_some_and(|t| t.client_certificate_requested);
    if policy.cert_required && !asked_for_cert {
        return Some("server did not request an SSL certificate".into());
    }
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
