//! Finds the trust anchors and the client certificate the way libpq does (`initialize_SSL` in
//! fe-secure-openssl.c), and reports where they came from: a root file the user forgot about
//! changes what `sslmode=require` means.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::crl::{self, Crls};

pub use crate::facts::{ClientIdentityFacts, FileSource, TrustFacts};

/// libpq's `ROOT_CERT_FILE`, `USER_CERT_FILE` and `USER_KEY_FILE`, under the home directory.
const ROOT_CERT_FILE: &str = ".postgresql/root.crt";
const USER_CERT_FILE: &str = ".postgresql/postgresql.crt";
const USER_KEY_FILE: &str = ".postgresql/postgresql.key";

/// The certificates verify-ca trusts, and how they were found.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    pub facts: TrustFacts,
    /// Every certificate loaded, in file (or platform store) order.
    pub certificates: Vec<CertificateDer<'static>>,
    /// The CRLs loaded with a root file, and whether libpq turned revocation checking on.
    pub crls: Crls,
    /// What verify-ca needs of the certificates (their names, keys and dates, whether each is
    /// self-signed, webpki's trust anchors), worked out on the first verification and kept:
    /// re-checking every root's signature on every probe cost a sixth of a probe with one
    /// root, and parsing them all again would dominate with the ~140 system roots.
    prepared: OnceLock<super::verify::Prepared>,
}

impl TrustAnchors {
    pub fn new(facts: TrustFacts, certificates: Vec<CertificateDer<'static>>) -> TrustAnchors {
        TrustAnchors {
            facts,
            certificates,
            crls: Crls::default(),
            prepared: OnceLock::new(),
        }
    }

    /// The same anchors with `crls` (their facts belong in `facts.crl`).
    pub fn with_crls(mut self, crls: Crls) -> TrustAnchors {
        self.crls = crls;
        self
    }

    /// [`Self::certificates`] prepared for verify-ca, once.
    pub(crate) fn prepared(&self) -> &super::verify::Prepared {
        self.prepared
            .get_or_init(|| super::verify::Prepared::new(&self.certificates))
    }

    /// No certificate to trust: libpq's verify modes fail before looking at the chain.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

/// Loads the anchors for `sslrootcert` (already resolved from flag, environment or conninfo).
///
/// `system` means the platform's roots when `system_roots` (libpq 16+; libpq 15 looks for a
/// file called `system`); any other non-empty value is a PEM file; nothing (or the empty
/// string, as libpq treats it) means `~/.postgresql/root.crt`, whose mere existence turns
/// `require` into `verify-ca`. With a root file that loads, the CRLs of `crl` come with it
/// (libpq reads them only then: not for `system`, not without a root file).
pub fn load(
    sslrootcert: Option<&str>,
    crl: CrlSettings<'_>,
    home: Option<&Path>,
    system_roots: bool,
) -> TrustAnchors {
    let anchors = match sslrootcert.filter(|s| !s.is_empty()) {
        Some("system") if system_roots => return system(),
        Some(path) => from_file(FileSource::File, Path::new(path)),
        None => match home {
            Some(home) => from_file(FileSource::DefaultFile, &home.join(ROOT_CERT_FILE)),
            None => TrustAnchors::new(
                TrustFacts {
                    source: FileSource::None,
                    path: None,
                    exists: false,
                    certificates: 0,
                    error: None,
                    crl: None,
                },
                Vec::new(),
            ),
        },
    };
    if anchors.is_empty() {
        return anchors;
    }
    let (facts, crls) = crl::load(crl.sslcrl, crl.sslcrldir, home);
    let mut anchors = anchors.with_crls(crls);
    anchors.facts.crl = Some(facts);
    anchors
}

/// sslcrl and sslcrldir as given (empty or None: unset).
#[derive(Debug, Clone, Copy, Default)]
pub struct CrlSettings<'a> {
    pub sslcrl: Option<&'a str>,
    pub sslcrldir: Option<&'a str>,
}

/// The platform's roots. OpenSSL (inside libpq) reads its own default paths, which
/// rustls-native-certs mirrors on Linux, including `SSL_CERT_FILE` and `SSL_CERT_DIR`.
fn system() -> TrustAnchors {
    let loaded = rustls_native_certs::load_native_certs();
    let error = (!loaded.errors.is_empty()).then(|| {
        loaded
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    });
    TrustAnchors::new(
        TrustFacts {
            source: FileSource::System,
            path: None,
            exists: !loaded.certs.is_empty(),
            certificates: loaded.certs.len(),
            error,
            crl: None,
        },
        loaded.certs,
    )
}

/// A PEM file of certificates. libpq `stat()`s it first: a missing file means "no roots",
/// while a file that exists but cannot be read is an error that fails the connection
/// ("could not read root certificate file").
fn from_file(source: FileSource, path: &Path) -> TrustAnchors {
    let mut facts = TrustFacts {
        source,
        path: Some(path.display().to_string()),
        exists: std::fs::metadata(path).is_ok(),
        certificates: 0,
        error: None,
        crl: None,
    };
    let mut certificates = Vec::new();
    if facts.exists {
        match read_pem_certificates(path) {
            Ok(certs) if certs.is_empty() => {
                facts.error = Some(format!(
                    "could not read root certificate file \"{}\": no certificate found",
                    path.display()
                ));
            }
            Ok(certs) => certificates = certs,
            Err(e) => {
                facts.error = Some(format!(
                    "could not read root certificate file \"{}\": {e}",
                    path.display()
                ));
            }
        }
    }
    facts.certificates = certificates.len();
    TrustAnchors::new(facts, certificates)
}

/// Every CERTIFICATE section of a PEM file; other sections (CRLs, keys) are skipped as
/// OpenSSL skips them. A malformed section is an error, like OpenSSL's.
fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| e.to_string())
}

/// The client certificate offered when the server asks, if libpq would offer one.
pub struct ClientIdentity {
    pub facts: ClientIdentityFacts,
    /// The certificate chain, leaf first; empty unless the key loaded too.
    pub chain: Vec<CertificateDer<'static>>,
    /// Only set together with a non-empty `chain`.
    pub key: Option<PrivateKeyDer<'static>>,
}

impl ClientIdentity {
    /// Certificate and key both loaded: ready for `with_client_auth_cert`.
    pub fn is_loaded(&self) -> bool {
        self.key.is_some() && !self.chain.is_empty()
    }

    /// The certificate and key as rustls offers them to a server that asks (for a
    /// `ResolvesClientCert`); None unless loaded.
    pub fn certified_key(&self) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
        let key = self.key.as_ref()?.clone_key();
        let provider = rustls::crypto::ring::default_provider();
        rustls::sign::CertifiedKey::from_der(self.chain.clone(), key, &provider)
            .ok()
            .map(std::sync::Arc::new)
    }
}

// Hand-written so that key material can never reach a log line, whatever the key type's own
// Debug does.
impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("facts", &self.facts)
            .field("chain", &self.chain.len())
            .field("key", &self.key.as_ref().map(|_| "[private key]"))
            .finish()
    }
}

/// Finds and loads the client certificate and key as libpq does: `sslcert`, else
/// `~/.postgresql/postgresql.crt`; a missing certificate is not an error (libpq goes on
/// without one); once a certificate exists, its key (`sslkey`, else
/// `~/.postgresql/postgresql.key`) must exist, be a regular file, not be readable by group
/// or others, and match the certificate.
pub fn client_identity(
    sslcert: Option<&str>,
    sslkey: Option<&str>,
    home: Option<&Path>,
) -> ClientIdentity {
    let given = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(PathBuf::from);
    let (source, cert_path) = match (given(sslcert), home) {
        (Some(path), _) => (FileSource::File, Some(path)),
        (None, Some(home)) => (FileSource::DefaultFile, Some(home.join(USER_CERT_FILE))),
        (None, None) => (FileSource::None, None),
    };
    let mut identity = ClientIdentity {
        facts: ClientIdentityFacts {
            source,
            cert_path: cert_path.as_ref().map(|p| p.display().to_string()),
            key_path: None,
            cert_exists: false,
            key_exists: false,
            certificates: 0,
            error: None,
        },
        chain: Vec::new(),
        key: None,
    };
    let Some(cert_path) = cert_path else {
        return identity;
    };
    match std::fs::metadata(&cert_path) {
        Ok(_) => identity.facts.cert_exists = true,
        // libpq: "If file is not present, just go on without a client cert".
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(nix::libc::ENOTDIR) =>
        {
            return identity;
        }
        Err(e) => {
            identity.facts.error = Some(format!(
                "could not open certificate file \"{}\": {e}",
                cert_path.display()
            ));
            return identity;
        }
    }
    let chain = match read_pem_certificates(&cert_path) {
        Ok(chain) if !chain.is_empty() => chain,
        Ok(_) => {
            identity.facts.error = Some(format!(
                "could not read certificate file \"{}\": no certificate found",
                cert_path.display()
            ));
            return identity;
        }
        Err(e) => {
            identity.facts.error = Some(format!(
                "could not read certificate file \"{}\": {e}",
                cert_path.display()
            ));
            return identity;
        }
    };
    identity.facts.certificates = chain.len();
    // The key is only looked for once a certificate exists; the default key path is used
    // whenever sslkey is not given, even with an explicit sslcert.
    let key_path = match (given(sslkey), home) {
        (Some(path), _) => path,
        (None, Some(home)) => home.join(USER_KEY_FILE),
        (None, None) => return identity,
    };
    identity.facts.key_path = Some(key_path.display().to_string());
    match load_key(&key_path, &chain) {
        Ok(key) => {
            identity.facts.key_exists = true;
            identity.chain = chain;
            identity.key = Some(key);
        }
        Err(KeyError { exists, message }) => {
            identity.facts.key_exists = exists;
            identity.facts.error = Some(message);
        }
    }
    identity
}

struct KeyError {
    exists: bool,
    message: String,
}

/// libpq's checks on the key file, in its order, with its messages.
fn load_key(
    path: &Path,
    chain: &[CertificateDer<'static>],
) -> Result<PrivateKeyDer<'static>, KeyError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| KeyError {
        exists: false,
        message: if e.kind() == std::io::ErrorKind::NotFound {
            format!("certificate present, but not private key file \"{shown}\"")
        } else {
            format!("could not stat private key file \"{shown}\": {e}")
        },
    })?;
    let fail = |message: String| KeyError {
        exists: true,
        message,
    };
    if !meta.is_file() {
        return Err(fail(format!(
            "private key file \"{shown}\" is not a regular file"
        )));
    }
    if too_open(&meta) {
        return Err(fail(format!(
            "private key file \"{shown}\" has group or world access; file must have \
             permissions u=rw (0600) or less if owned by the current user, or permissions \
             u=rw,g=r (0640) or less if owned by root"
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| fail(format!("could not load private key file \"{shown}\": {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        fail(format!(
            "could not load private key file \"{shown}\": {e} (pgreach reads unencrypted PEM \
             keys: PKCS#1, PKCS#8 or SEC1)"
        ))
    })?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain.to_vec(), key.clone_key(), &provider).map_err(
        |e| {
            fail(format!(
                "certificate does not match private key file \"{shown}\": {e}"
            ))
        },
    )?;
    Ok(key)
}

/// libpq refuses keys with group or world access: for root-owned files group read is allowed
/// (so a system service can share a key), otherwise only the owner may have any access.
#[cfg(unix)]
fn too_open(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    if meta.uid() == 0 {
        mode & 0o037 != 0 // S_IWGRP | S_IXGRP | S_IRWXO
    } else {
        mode & 0o077 != 0 // S_IRWXG | S_IRWXO
    }
}

#[cfg(not(unix))]
fn too_open(_meta: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(cn: &str) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    fn write(path: &Path, contents: &str, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    #[test]
    fn default_root_file_absent_and_present() {
        let home = tempfile::tempdir().unwrap();
        let a = load(None, CrlSettings::default(), Some(home.path()), true);
        assert_eq!(a.facts.source, FileSource::DefaultFile);
        assert!(!a.facts.exists);
        assert!(a.is_empty());
        assert_eq!(a.facts.error, None);
        assert!(a.facts.path.unwrap().ends_with(".postgresql/root.crt"));

        let (one, _) = self_signed("one");
        let (two, _) = self_signed("two");
        write(
            &home.path().join(ROOT_CERT_FILE),
            &format!("{one}\n# comment\n{two}"),
            0o644,
        );
        // The empty string is "not set" for libpq too.
        let a = load(Some(""), CrlSettings::default(), Some(home.path()), true);
        assert_eq!(a.facts.source, FileSource::DefaultFile);
        assert!(a.facts.exists);
        assert_eq!(a.facts.certificates, 2);
        assert_eq!(a.certificates.len(), 2);
        assert_eq!(a.facts.error, None);
    }

    #[test]
    fn no_home_no_anchors() {
        let a = load(None, CrlSettings::default(), None, true);
        assert_eq!(a.facts.source, FileSource::None);
        assert!(a.is_empty());
    }

    #[test]
    fn explicit_file_missing_empty_and_broken() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.crt");
        let a = load(
            Some(missing.to_str().unwrap()),
            CrlSettings::default(),
            None,
            true,
        );
        assert_eq!(a.facts.source, FileSource::File);
        assert!(!a.facts.exists);
        assert_eq!(a.facts.error, None);

        let empty = dir.path().join("empty.crt");
        write(&empty, "just text\n", 0o644);
        let a = load(
            Some(empty.to_str().unwrap()),
            CrlSettings::default(),
            None,
            true,
        );
        assert!(a.facts.exists);
        assert!(a.is_empty());
        assert!(a.facts.error.unwrap().contains("no certificate found"));

        let broken = dir.path().join("broken.crt");
        write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nnot base64 !!!\n-----END CERTIFICATE-----\n",
            0o644,
        );
        let a = load(
            Some(broken.to_str().unwrap()),
            CrlSettings::default(),
            None,
            true,
        );
        assert!(a.facts.exists);
        assert!(a.is_empty());
        assert!(
            a.facts
                .error
                .unwrap()
                .starts_with("could not read root certificate file")
        );
    }

    #[test]
    fn system_roots_are_reported() {
        // Which roots the machine has is not ours to choose (setting SSL_CERT_FILE would race
        // with other tests), so check that the facts describe what was loaded.
        let a = load(Some("system"), CrlSettings::default(), None, true);
        assert_eq!(a.facts.source, FileSource::System);
        assert_eq!(a.facts.certificates, a.certificates.len());
        assert_eq!(a.facts.exists, !a.certificates.is_empty());
        assert_eq!(a.facts.path, None);
    }

    #[test]
    fn libpq_15_reads_system_as_a_file_name() {
        let a = load(Some("system"), CrlSettings::default(), None, false);
        assert_eq!(a.facts.source, FileSource::File);
        assert_eq!(a.facts.path.as_deref(), Some("system"));
    }

    #[test]
    fn client_identity_defaults_and_checks() {
        let home = tempfile::tempdir().unwrap();
        // Nothing there: no identity, no error.
        let id = client_identity(None, None, Some(home.path()));
        assert_eq!(id.facts.source, FileSource::DefaultFile);
        assert!(!id.facts.cert_exists);
        assert_eq!(id.facts.error, None);
        assert!(!id.is_loaded());

        let (cert, key) = self_signed("alice");
        let crt = home.path().join(USER_CERT_FILE);
        let kf = home.path().join(USER_KEY_FILE);
        write(&crt, &cert, 0o644);
        let id = client_identity(None, None, Some(home.path()));
        assert!(id.facts.cert_exists);
        assert_eq!(
            id.facts.error.as_deref(),
            Some(
                format!(
                    "certificate present, but not private key file \"{}\"",
                    kf.display()
                )
                .as_str()
            )
        );

        write(&kf, &key, 0o644);
        let id = client_identity(None, None, Some(home.path()));
        assert!(id.facts.key_exists);
        assert!(
            id.facts
                .error
                .unwrap()
                .contains("has group or world access")
        );

        write(&kf, &key, 0o600);
        let id = client_identity(None, None, Some(home.path()));
        assert_eq!(id.facts.error, None, "{:?}", id.facts);
        assert!(id.is_loaded());
        assert!(id.certified_key().is_some());
        assert_eq!(id.facts.certificates, 1);
        let shown = format!("{id:?}");
        assert!(shown.contains("[private key]"));
        assert!(!shown.contains("PRIVATE KEY"));

        // A key that belongs to another certificate.
        let (_, other_key) = self_signed("mallory");
        let other = home.path().join("other.key");
        write(&other, &other_key, 0o600);
        let id = client_identity(None, other.to_str(), Some(home.path()));
        assert!(
            id.facts
                .error
                .as_deref()
                .unwrap()
                .starts_with("certificate does not match private key file")
        );
        assert!(!id.is_loaded());
    }

    #[test]
    fn explicit_client_certificate_without_home() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("bob");
        let crt = dir.path().join("bob.crt");
        let kf = dir.path().join("bob.key");
        write(&crt, &cert, 0o644);
        write(&kf, &key, 0o600);
        let id = client_identity(crt.to_str(), kf.to_str(), None);
        assert_eq!(id.facts.source, FileSource::File);
        assert!(id.is_loaded(), "{:?}", id.facts);
        assert_eq!(id.facts.key_path.as_deref(), kf.to_str());
    }
}
