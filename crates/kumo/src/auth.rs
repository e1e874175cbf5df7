//! Credentials: the `[auth]` section of `kumo serve`'s configuration, the key pair generated into
//! the data directory when none is configured, and the key the `kumo` CLI signs with.
//!
//! ```toml
//! [auth]
//! mode = "sigv4"                 # default; "none" serves every request unauthenticated
//! access_key_id = "AKIA..."      # both or neither; env KUMO_AUTH_ACCESS_KEY_ID
//! secret_access_key = "..."      # env KUMO_AUTH_SECRET_ACCESS_KEY
//! ```
//!
//! With `sigv4` and no configured key, the first `kumo serve` writes a random pair to
//! `<data-dir>/credentials` (AWS shared-credentials format, mode 0600) and prints it on stderr;
//! later starts reuse it.

use anyhow::{bail, Context, Result};
use kumo_api::sigv4::{Credentials, KeyRing};
use serde::Deserialize;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The file in the data directory that holds the generated key pair.
pub const CREDENTIALS_FILE: &str = "credentials";

/// `[auth]` as written in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// `sigv4` (default) or `none`.
    pub mode: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// Validated authentication settings of `kumo serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSettings {
    /// `[auth] mode = "none"`: no signature checks at all.
    Disabled,
    /// SigV4 with the configured key, or with the data directory's generated one when `None`.
    SigV4(Option<Credentials>),
}

fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn check_key(c: &Credentials) -> Result<()> {
    let id = &c.access_key_id;
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("invalid auth.access_key_id {id:?} (1 to 128 letters, digits, '_' or '-')");
    }
    let secret = &c.secret_access_key;
    if secret.is_empty()
        || secret.len() > 256
        || secret
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        bail!("invalid auth.secret_access_key (1 to 256 characters, no spaces)");
    }
    Ok(())
}

impl AuthSettings {
    /// `[auth]` from the file, overridden by `KUMO_AUTH_MODE`, `KUMO_AUTH_ACCESS_KEY_ID` and
    /// `KUMO_AUTH_SECRET_ACCESS_KEY`.
    pub fn load(file: AuthSection) -> Result<Self> {
        let mode = env_var("KUMO_AUTH_MODE").or(file.mode);
        let id = env_var("KUMO_AUTH_ACCESS_KEY_ID").or(file.access_key_id);
        let secret = env_var("KUMO_AUTH_SECRET_ACCESS_KEY").or(file.secret_access_key);
        let key = match (id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => {
                let c = Credentials {
                    access_key_id,
                    secret_access_key,
                };
                check_key(&c)?;
                Some(c)
            }
            (None, None) => None,
            _ => bail!("auth.access_key_id and auth.secret_access_key must be set together"),
        };
        match mode.as_deref() {
            None | Some("sigv4") => Ok(Self::SigV4(key)),
            Some("none") => Ok(Self::Disabled),
            Some(other) => bail!("invalid auth.mode {other:?} (expected \"sigv4\" or \"none\")"),
        }
    }
}

/// Reads `aws_access_key_id` / `aws_secret_access_key` from an AWS shared-credentials file
/// (the `[default]` profile, or the file's only keys).
pub fn read_credentials_file(path: &Path) -> Result<Credentials> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("while reading credentials from {}", path.display()))?;
    let (mut id, mut secret) = (None, None);
    let mut section_ok = true;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section_ok = name.trim() == "default";
            continue;
        }
        if !section_ok {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
        }),
        _ => bail!(
            "{} has no aws_access_key_id / aws_secret_access_key in its [default] profile",
            path.display()
        ),
    }
}

/// `n` characters drawn uniformly from `alphabet` (whose length is a power of two ≤ 256).
fn random_string(alphabet: &[u8], n: usize) -> Result<String> {
    debug_assert!(alphabet.len().is_power_of_two());
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("while reading /dev/urandom")?;
    let mask = alphabet.len() - 1;
    Ok(bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) & mask]))
        .collect())
}

/// A new random key pair, shaped like AWS's (`AKIA` + 16, and 40 characters).
fn generate() -> Result<Credentials> {
    const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Ok(Credentials {
        access_key_id: format!("AKIA{}", random_string(ID_CHARS, 16)?),
        secret_access_key: random_string(SECRET_CHARS, 40)?,
    })
}

fn write_credentials_file(path: &Path, c: &Credentials) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("while creating {}", tmp.display()))?;
    write!(
        f,
        "# Kumo API credentials, generated by `kumo serve` on its first start with this data directory.\n\
         # AWS SDKs and the aws CLI can read this file: export AWS_SHARED_CREDENTIALS_FILE={}\n\
         [default]\n\
         aws_access_key_id = {}\n\
         aws_secret_access_key = {}\n",
        path.display(),
        c.access_key_id,
        c.secret_access_key
    )
    .and_then(|()| f.sync_all())
    .with_context(|| format!("while writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("while moving {} into place", path.display()))
}

/// The authentication `kumo serve` applies: the configured key, else the data directory's
/// generated key (created and announced on stderr the first time).
pub fn server_auth(settings: &AuthSettings, data_dir: &Path) -> Result<kumo_api::Auth> {
    let key = match settings {
        AuthSettings::Disabled => {
            tracing::warn!("authentication is off ([auth] mode = \"none\"): anyone who can reach Kumo can deploy and run code");
            return Ok(kumo_api::Auth::Disabled);
        }
        AuthSettings::SigV4(Some(key)) => {
            tracing::info!(access_key_id = %key.access_key_id, "API requests must be signed with the configured key");
            key.clone()
        }
        AuthSettings::SigV4(None) => {
            let path = data_dir.join(CREDENTIALS_FILE);
            if path.exists() {
                let key = read_credentials_file(&path)?;
                check_key(&key).with_context(|| format!("in {}", path.display()))?;
                tracing::info!(access_key_id = %key.access_key_id, file = %path.display(), "API requests must be signed with the data directory's key");
                key
            } else {
                let key = generate()?;
                write_credentials_file(&path, &key)?;
                announce(&key, &path, data_dir);
                key
            }
        }
    };
    Ok(kumo_api::Auth::SigV4(KeyRing::new([key])))
}

fn announce(key: &Credentials, path: &Path, data_dir: &Path) {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let data_dir = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_owned());
    eprintln!(
        "kumo: no API credentials were configured, so this key was generated for {data}:\n\
         \n\
         \x20   AWS_ACCESS_KEY_ID={id}\n\
         \x20   AWS_SECRET_ACCESS_KEY={secret}\n\
         \n\
         It is saved in {path} (and reused on every start). Sign requests with it:\n\
         \x20   export AWS_ACCESS_KEY_ID={id} AWS_SECRET_ACCESS_KEY={secret}\n\
         \x20   aws lambda list-functions --region us-east-1 --endpoint-url http://<kumo address>\n\
         \x20   kumo list --data-dir {data}      # the kumo CLI can read the key from the data directory\n\
         or let the AWS SDKs read the file: export AWS_SHARED_CREDENTIALS_FILE={path}\n\
         To choose your own key, set [auth] access_key_id and secret_access_key; for unauthenticated\n\
         local development only, set [auth] mode = \"none\".",
        data = data_dir.display(),
        id = key.access_key_id,
        secret = key.secret_access_key,
        path = path.display(),
    );
}

/// The key the `kumo` CLI signs with: the flags (or `AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY`), else the generated key of `data_dir`, else that of `./kumo-data`
/// (the server's default data directory) when present. `None` sends requests unsigned.
pub fn client_credentials(
    access_key: Option<String>,
    secret_key: Option<String>,
    data_dir: Option<&Path>,
) -> Result<Option<Credentials>> {
    match (access_key.filter(|s| !s.is_empty()), secret_key.filter(|s| !s.is_empty())) {
        (Some(access_key_id), Some(secret_access_key)) => {
            return Ok(Some(Credentials {
                access_key_id,
                secret_access_key,
            }))
        }
        (None, None) => {}
        _ => bail!("--access-key and --secret-key (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) must be given together"),
    }
    if let Some(dir) = data_dir {
        return read_credentials_file(&dir.join(CREDENTIALS_FILE)).map(Some);
    }
    let default: PathBuf = Path::new(crate::paths::DEFAULT_DATA_DIR).join(CREDENTIALS_FILE);
    if default.is_file() {
        return read_credentials_file(&default).map(Some);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> AuthSection {
        #[derive(Deserialize)]
        struct File {
            auth: AuthSection,
        }
        toml::from_str::<File>(text).expect("valid toml").auth
    }

    #[test]
    fn auth_section_parses_and_validates() {
        let s = AuthSettings::load(section(
            "[auth]\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\n",
        ))
        .expect("valid");
        assert_eq!(
            s,
            AuthSettings::SigV4(Some(Credentials {
                access_key_id: "test".into(),
                secret_access_key: "test".into()
            }))
        );
        assert_eq!(
            AuthSettings::load(section("[auth]\nmode = \"none\"\n")).expect("valid"),
            AuthSettings::Disabled
        );
        assert!(AuthSettings::load(section("[auth]\nmode = \"basic\"\n")).is_err());
        assert!(AuthSettings::load(section("[auth]\naccess_key_id = \"x\"\n")).is_err());
        assert!(AuthSettings::load(section(
            "[auth]\naccess_key_id = \"a/b\"\nsecret_access_key = \"s\"\n"
        ))
        .is_err());
        assert!(toml::from_str::<AuthSection>("bogus = 1\n").is_err());
    }

    #[test]
    fn generated_keys_round_trip_through_the_credentials_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth = server_auth(&AuthSettings::SigV4(None), dir.path()).expect("generate");
        assert!(matches!(auth, kumo_api::Auth::SigV4(_)));
        let path = dir.path().join(CREDENTIALS_FILE);
        let first = read_credentials_file(&path).expect("readable");
        assert!(first.access_key_id.starts_with("AKIA") && first.access_key_id.len() == 20);
        assert_eq!(first.secret_access_key.len(), 40);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        server_auth(&AuthSettings::SigV4(None), dir.path()).expect("reuse");
        assert_eq!(read_credentials_file(&path).expect("readable"), first);
        let client = client_credentials(None, None, Some(dir.path())).expect("client");
        assert_eq!(client, Some(first));
    }

    #[test]
    fn client_flags_come_first_and_must_be_paired() {
        let c = client_credentials(Some("a".into()), Some("b".into()), None).expect("flags");
        assert_eq!(c.map(|c| c.access_key_id), Some("a".into()));
        assert!(client_credentials(Some("a".into()), None, None).is_err());
    }
}
