//! Loads the certificate revocation lists libpq hands OpenSSL next to a root file
//! (`initialize_SSL` in fe-secure-openssl.c), and finds the ones OpenSSL would consult for a
//! given issuer.
//!
//! libpq, once the root file loaded:
//! ```c
//! if (conn->sslcrl && strlen(conn->sslcrl) > 0) fname = conn->sslcrl;
//! if (conn->sslcrldir && strlen(conn->sslcrldir) > 0) dname = conn->sslcrldir;
//! if (!fname && !dname && have_homedir) fname = "~/.postgresql/root.crl";
//! if ((fname || dname) && X509_STORE_load_locations(cvstore, fname, dname) == 1)
//!     X509_STORE_set_flags(cvstore, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
//! /* if not found, silently ignore;  we do not require CRL */
//! ```
//! `X509_STORE_load_locations` loads the file first (every certificate and CRL in it; it fails
//! when the file is missing, unreadable or holds neither) and gives up there, so a bad sslcrl
//! also keeps sslcrldir from being used: no CRL checking at all. A directory is only
//! remembered, never opened: any non-empty sslcrldir turns checking on, and OpenSSL looks in it
//! at verification time for `<issuer name hash>.r0`, `.r1`, … (see [`name_hash`]).

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{PemObject, SectionKind};

use crate::facts::{CrlFacts, FileSource};

/// libpq's `ROOT_CRL_FILE`, under the home directory.
const ROOT_CRL_FILE: &str = ".postgresql/root.crl";

/// The CRLs OpenSSL has to hand for one root file.
#[derive(Debug, Clone, Default)]
pub struct Crls {
    /// libpq turned on `X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL`.
    pub checking: bool,
    /// The CRLs of the file, DER, in file order.
    file: Vec<Vec<u8>>,
    /// The directory's files named `<hash>.r<n>`, read once here (OpenSSL reads them lazily,
    /// per connection; within one pgreach run that is the same).
    dir: Vec<DirFile>,
}

/// One `<hash>.r<n>` file of sslcrldir.
#[derive(Debug, Clone)]
struct DirFile {
    hash: u32,
    n: u32,
    /// None: the file holds no CRL or does not parse, which stops OpenSSL's lookup there.
    crls: Option<Vec<Vec<u8>>>,
}

impl Crls {
    /// CRLs as read from a file (DER), checking on: what tests and benches judge with.
    pub fn from_file_crls(crls: Vec<Vec<u8>>) -> Crls {
        Crls {
            checking: true,
            file: crls,
            dir: Vec::new(),
        }
    }

    /// The CRLs OpenSSL would look at for a certificate issued by `issuer` (raw DER name): those
    /// of the file, and those of the directory's `<hash>.r0`, `.r1`, … up to the first gap or
    /// unreadable file, as `by_dir` looks them up. Their issuer still has to match.
    pub fn candidates(&self, issuer: &[u8]) -> Vec<&[u8]> {
        let mut out: Vec<&[u8]> = self.file.iter().map(Vec::as_slice).collect();
        if self.dir.is_empty() {
            return out;
        }
        let Some(hash) = name_hash::of_der(issuer) else {
            return out;
        };
        for n in 0.. {
            let Some(f) = self.dir.iter().find(|f| f.hash == hash && f.n == n) else {
                break;
            };
            let Some(crls) = &f.crls else {
                break;
            };
            out.extend(crls.iter().map(Vec::as_slice));
        }
        out
    }
}

/// Loads the CRL sources libpq would use with a root file, given sslcrl and sslcrldir (empty
/// means unset, as for libpq) and the home directory.
pub fn load(
    sslcrl: Option<&str>,
    sslcrldir: Option<&str>,
    home: Option<&Path>,
) -> (CrlFacts, Crls) {
    let given = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(PathBuf::from);
    let dir = given(sslcrldir);
    let (source, file) = match (given(sslcrl), &dir, home) {
        (Some(f), _, _) => (FileSource::File, Some(f)),
        (None, None, Some(home)) => (FileSource::DefaultFile, Some(home.join(ROOT_CRL_FILE))),
        _ => (FileSource::None, None),
    };
    let mut facts = CrlFacts {
        source,
        path: file.as_ref().map(|p| p.display().to_string()),
        exists: file.as_ref().is_some_and(|p| p.exists()),
        crls: 0,
        directory: dir.as_ref().map(|d| d.display().to_string()),
        directory_files: 0,
        checking: false,
        error: None,
    };
    let mut crls = Crls::default();
    if let Some(file) = &file {
        match read_file(file) {
            Ok(found) => {
                facts.crls = found.len();
                crls.file = found;
            }
            Err(e) => {
                // X509_STORE_load_locations stops at the file: the directory is never added.
                // An absent default file is the usual case, not worth an error.
                if facts.exists || source == FileSource::File {
                    facts.error = Some(e);
                }
                return (facts, crls);
            }
        }
    }
    if let Some(dir) = &dir {
        crls.dir = read_dir(dir);
        facts.directory_files = crls.dir.len();
    }
    crls.checking = file.is_some() || dir.is_some();
    facts.checking = crls.checking;
    (facts, crls)
}

/// A CRL file as `X509_load_cert_crl_file` reads it: PEM, certificates and CRLs; an error when
/// it cannot be read, a section is malformed, or it holds neither.
fn read_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("could not read \"{shown}\": {e}"))?;
    let mut crls = Vec::new();
    let mut certificates = 0;
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
        match section {
            Ok((SectionKind::Crl, der)) => crls.push(der),
            Ok((SectionKind::Certificate, _)) => certificates += 1,
            Ok(_) => {}
            Err(e) => return Err(format!("could not read \"{shown}\": {e}")),
        }
    }
    if crls.is_empty() && certificates == 0 {
        return Err(format!(
            "\"{shown}\" holds no CRL or certificate (OpenSSL: \"no certificate or crl found\")"
        ));
    }
    Ok(crls)
}

/// The directory's files named as OpenSSL's `by_dir` lookup asks for them; a missing or
/// unreadable directory just has none (OpenSSL never complains about it).
fn read_dir(dir: &Path) -> Vec<DirFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (hash, n) = parse_hashed_name(&name)?;
            let crls = std::fs::read(e.path()).ok().and_then(|bytes| {
                let found: Result<Vec<_>, _> =
                    rustls::pki_types::CertificateRevocationListDer::pem_slice_iter(&bytes)
                        .map(|c| c.map(|c| c.as_ref().to_vec()))
                        .collect();
                found.ok().filter(|f| !f.is_empty())
            });
            Some(DirFile { hash, n, crls })
        })
        .collect()
}

/// `0a1b2c3d.r0` → (0x0a1b2c3d, 0): eight lower-case hex digits (`%08lx`), `.r`, a number.
fn parse_hashed_name(name: &str) -> Option<(u32, u32)> {
    let (hash, n) = name.split_once(".r")?;
    let hex_ok = hash.len() == 8
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    // `%d`: no leading zeros.
    let n_ok =
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'));
    if !hex_ok || !n_ok {
        return None;
    }
    Some((u32::from_str_radix(hash, 16).ok()?, n.parse().ok()?))
}

pub mod name_hash;

#[cfg(test)]
mod tests;
