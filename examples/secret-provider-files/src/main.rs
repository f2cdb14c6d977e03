//! A reference Nomad secret provider: secrets are files in a directory tree
//! that only the agent's user can write, one tree per Nomad namespace.
//!
//! `fetch db/postgres` from a job in namespace `prod` reads
//! `<root>/prod/db/postgres`, which holds either `KEY=value` lines (blank
//! lines and `#` comments ignored) or a JSON object. The root comes from a
//! JSON file beside the plugin, `<plugin>.json` (`{"root": "/etc/nomad-secrets"}`),
//! because Nomad passes the plugin no environment of its own; without it the
//! root is `/etc/nomad-secrets`.
//!
//! Permission rules, checked on every fetch (any failure denies the read):
//! the config file, the root and every directory below it must be owned by
//! the plugin's user (or root) and not writable by group or others; the
//! secret file must be a regular file with no group or other permissions at
//! all (`chmod 600`); no symbolic links anywhere below the root.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nomad_plugin_sdk::common::PluginVersion;
use nomad_plugin_sdk::secrets::{
    self, FetchRequest, Fingerprint, SecretProvider, Secrets, SecretsError,
};

const DEFAULT_ROOT: &str = "/etc/nomad-secrets";
const MAX_FILE: u64 = 1 << 20;

struct Files {
    /// `<plugin>.json`.
    config: PathBuf,
}

/// One path component: `[A-Za-z0-9._-]+`, not starting with `.`.
fn valid_component(c: &str) -> bool {
    !c.is_empty()
        && !c.starts_with('.')
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Owned by us or root, not writable by group or others.
fn check_trusted(path: &Path, meta: &Metadata, what: &str) -> Result<(), String> {
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link; links are not followed",
            path.display()
        ));
    }
    if meta.uid() != euid() && meta.uid() != 0 {
        return Err(format!(
            "{what} {} is owned by uid {}, not by the agent's user",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{what} {} has mode {:04o}: group or others can write it (chmod go-w)",
            path.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

fn lstat(path: &Path) -> Result<Option<Metadata>, std::io::Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Files {
    fn root(&self) -> Result<PathBuf, SecretsError> {
        let meta = lstat(&self.config)
            .map_err(|e| SecretsError::io(format!("reading {}", self.config.display()), e))?;
        let Some(meta) = meta else {
            return Ok(PathBuf::from(DEFAULT_ROOT));
        };
        check_trusted(&self.config, &meta, "the configuration file")
            .map_err(SecretsError::other)?;
        let text = std::fs::read_to_string(&self.config)
            .map_err(|e| SecretsError::io(format!("reading {}", self.config.display()), e))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            SecretsError::other(format!("{} is not valid JSON: {e}", self.config.display()))
        })?;
        match value.get("root").and_then(|r| r.as_str()) {
            Some(root) if Path::new(root).is_absolute() => Ok(PathBuf::from(root)),
            _ => Err(SecretsError::other(format!(
                "{} must hold {{\"root\": \"/absolute/path\"}}",
                self.config.display()
            ))),
        }
    }

    fn read(&self, namespace: &str, path: &str) -> Result<Secrets, SecretsError> {
        let components: Vec<&str> = path.split('/').collect();
        if !components.iter().all(|c| valid_component(c)) {
            return Err(SecretsError::denied(
                path,
                "a path is '/'-separated names of [A-Za-z0-9._-] that do not start with '.'",
            ));
        }
        let root = self.root()?;
        let io = |p: &Path| {
            let context = format!("reading {}", p.display());
            move |e| SecretsError::io(context, e)
        };
        let denied = |why: String| SecretsError::denied(path, why);

        // Walk down from the root, checking every directory.
        let mut current = root.clone();
        let dirs =
            std::iter::once(namespace).chain(components[..components.len() - 1].iter().copied());
        let root_meta = lstat(&current).map_err(io(&current))?.ok_or_else(|| {
            SecretsError::other(format!(
                "the secrets root {} does not exist",
                root.display()
            ))
        })?;
        check_trusted(&current, &root_meta, "directory").map_err(denied)?;
        for dir in dirs {
            current.push(dir);
            match lstat(&current).map_err(io(&current))? {
                None => return Err(SecretsError::not_found(path)),
                Some(m) if !m.is_dir() && !m.file_type().is_symlink() => {
                    return Err(SecretsError::not_found(path))
                }
                Some(m) => check_trusted(&current, &m, "directory").map_err(denied)?,
            }
        }
        current.push(components[components.len() - 1]);
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&current)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SecretsError::not_found(path))
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(denied(format!(
                    "{} is a symbolic link; links are not followed",
                    current.display()
                )));
            }
            Err(e) => return Err(io(&current)(e)),
        };
        // Checked on the open file, so it cannot be swapped in between.
        let meta = file.metadata().map_err(io(&current))?;
        if !meta.is_file() {
            return Err(SecretsError::not_found(path));
        }
        check_trusted(&current, &meta, "secret file").map_err(denied)?;
        if meta.mode() & 0o077 != 0 {
            return Err(denied(format!(
                "{} has mode {:04o}: group or others can access it (chmod 600)",
                current.display(),
                meta.mode() & 0o7777
            )));
        }
        if meta.len() > MAX_FILE {
            return Err(SecretsError::other(format!(
                "{} is larger than 1 MiB",
                current.display()
            )));
        }
        let mut text = String::new();
        file.take(MAX_FILE)
            .read_to_string(&mut text)
            .map_err(io(&current))?;
        parse(&text).map_err(|e| SecretsError::other(format!("secret {path:?}: {e}")))
    }
}

/// `KEY=value` lines, or a JSON object whose scalar values become strings.
fn parse(text: &str) -> Result<Secrets, String> {
    if text.trim_start().starts_with('{') {
        let map: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        return map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k, s)),
                serde_json::Value::Number(n) => Ok((k, n.to_string())),
                serde_json::Value::Bool(b) => Ok((k, b.to_string())),
                _ => Err(format!(
                    "the value of {k:?} is not a string, number or boolean"
                )),
            })
            .collect();
    }
    let mut out = Secrets::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.insert(k.trim().to_owned(), v.to_owned());
            }
            _ => return Err(format!("line {} is not KEY=value", n + 1)),
        }
    }
    Ok(out)
}

#[nomad_plugin_sdk::async_trait]
impl SecretProvider for Files {
    async fn fingerprint(&self) -> Result<Fingerprint, SecretsError> {
        Ok(Fingerprint::new(PluginVersion::parse(env!(
            "CARGO_PKG_VERSION"
        ))?))
    }

    async fn fetch(&self, req: &FetchRequest) -> Result<Secrets, SecretsError> {
        // The namespace comes from Nomad, never from the job's env{}.
        let namespace = req.namespace.as_deref().ok_or_else(|| {
            SecretsError::other("NOMAD_NAMESPACE is not set: this provider scopes secrets by namespace and needs Nomad 1.11.1 or later")
        })?;
        if !valid_component(namespace) {
            return Err(SecretsError::other(format!(
                "namespace {namespace:?} cannot be a directory name"
            )));
        }
        let (namespace, path, files) = (
            namespace.to_owned(),
            req.path.clone(),
            Files {
                config: self.config.clone(),
            },
        );
        tokio::task::spawn_blocking(move || files.read(&namespace, &path))
            .await
            .map_err(|e| SecretsError::other(format!("reading the secret failed: {e}")))?
    }
}

fn main() -> std::process::ExitCode {
    // argv[0] is the path Nomad executed: <common_plugin_dir>/secrets/<name>.
    let exe = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_default();
    let mut config = exe.into_os_string();
    config.push(".json");
    secrets::serve(Files {
        config: PathBuf::from(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_formats() {
        let kv = parse("# db\nuser=app\n\npassword=a=b\n").unwrap();
        assert_eq!(
            (kv["user"].as_str(), kv["password"].as_str()),
            ("app", "a=b")
        );
        let js = parse(r#"{"port": 5432, "tls": true, "host": "db"}"#).unwrap();
        assert_eq!(
            (js["port"].as_str(), js["tls"].as_str(), js["host"].as_str()),
            ("5432", "true", "db")
        );
        assert!(parse("novalue\n").is_err());
        assert!(parse(r#"{"nested": {"a": 1}}"#).is_err());
    }

    #[test]
    fn components() {
        for ok in ["db", "postgres-1", "a.b", "--help"] {
            assert!(valid_component(ok), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a b", "a\\b"] {
            assert!(!valid_component(bad), "{bad}");
        }
    }
}
