//! The PostgreSQL frontend/backend protocol, pre-authentication part: pure encoders and
//! decoders over byte buffers. Nothing here touches a socket, so every function can be tested
//! with exact bytes and fed hostile input.
//!
//! Names follow the protocol documentation ("Message Formats" in protocol.sgml); constants are
//! from `src/include/libpq/pqcomm.h`.

pub mod backend;
pub mod frontend;
mod reader;
pub mod session;

/// `PG_PROTOCOL(1234, 5679)`: the code that makes a startup-sized packet an SSLRequest.
pub const NEGOTIATE_SSL_CODE: u32 = (1234 << 16) | 5679;
/// `PG_PROTOCOL(1234, 5680)`: GSSENCRequest.
pub const NEGOTIATE_GSS_CODE: u32 = (1234 << 16) | 5680;
/// Protocol 3.0, the version every server since 7.4 speaks and libpq (≤18) requests by default.
pub const PROTOCOL_3_0: u32 = 3 << 16;

/// The largest backend message pgreach accepts before authentication. The server's own
/// pre-auth messages are small (an ErrorResponse with every field is well under 2 KiB, and libpq
/// rejects an authentication request longer than 2000 bytes); 64 KiB leaves room for verbose
/// localised errors while keeping a hostile peer from making us buffer without bound.
pub const MAX_PREAUTH_MESSAGE: usize = 64 * 1024;
