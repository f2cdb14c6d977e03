//! Plugin version strings as Nomad parses them (`hashicorp/go-version`).

use std::fmt;
use std::str::FromStr;

/// A plugin version that Nomad's `hashicorp/go-version` parser accepts.
///
/// Both exec-based plugin kinds print their version on `fingerprint`. Nomad
/// parses it with go-version and publishes it as a node attribute that the
/// scheduler requires before it places a volume or a task:
///
/// * host volumes: `plugins.host_volume.<id>.version` = [`canonical`](Self::canonical)
///   (`v1.2` becomes `1.2.0`);
/// * secret providers: `plugins.secrets.<id>.version` = [`original`](Self::original)
///   (the string exactly as printed).
///
/// A string go-version rejects makes Nomad skip the plugin, so the SDK
/// validates it before printing anything.
///
/// ```
/// use nomad_plugin_sdk::common::PluginVersion;
///
/// let v: PluginVersion = "v1.2-beta.1+build.7".parse().unwrap();
/// assert_eq!(v.original(), "v1.2-beta.1+build.7");
/// assert_eq!(v.canonical(), "1.2.0-beta.1+build.7");
/// assert!("1.0 ".parse::<PluginVersion>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginVersion {
    original: String,
    segments: Vec<i64>,
    prerelease: String,
    metadata: String,
}

/// Why a version string is not one Nomad can parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed version {version:?}: {reason} (Nomad expects e.g. \"1.2.3\", \"v1.2\" or \"1.0.0-beta.1\")")]
pub struct VersionError {
    version: String,
    reason: &'static str,
}

impl PluginVersion {
    /// Parses `version` with go-version's rules: an optional `v`, dot-separated
    /// decimal segments, an optional pre-release (`-rc.1`, `-1`, or `beta1`
    /// without a dash) and optional `+metadata`, with nothing around it.
    pub fn parse(version: &str) -> Result<Self, VersionError> {
        let fail = |reason| VersionError {
            version: version.to_owned(),
            reason,
        };
        let rest = version.strip_prefix('v').unwrap_or(version);
        let numeric_end = numeric_prefix_len(rest);
        if numeric_end == 0 {
            return Err(fail("it must start with a number"));
        }
        let mut segments = Vec::new();
        for part in rest[..numeric_end].split('.') {
            segments.push(
                part.parse::<i64>()
                    .map_err(|_| fail("a numeric segment does not fit in 64 bits"))?,
            );
        }
        while segments.len() < 3 {
            segments.push(0);
        }
        let tail = &rest[numeric_end..];
        let (pre_part, metadata) = match tail.split_once('+') {
            Some((pre, meta)) => {
                if !dotted_identifiers(meta) {
                    return Err(fail("the +metadata part is malformed"));
                }
                (pre, meta)
            }
            None => (tail, ""),
        };
        let prerelease =
            prerelease(pre_part).ok_or_else(|| fail("the pre-release part is malformed"))?;
        Ok(Self {
            original: version.to_owned(),
            segments,
            prerelease: prerelease.to_owned(),
            metadata: metadata.to_owned(),
        })
    }

    /// The string as given; secret providers' node attribute uses this.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// go-version's canonical form (`Version.String()`): segments padded to
    /// three, no `v`, no leading zeros. Host volume node attributes use this.
    pub fn canonical(&self) -> String {
        let mut out = self
            .segments
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(".");
        if !self.prerelease.is_empty() {
            out.push('-');
            out.push_str(&self.prerelease);
        }
        if !self.metadata.is_empty() {
            out.push('+');
            out.push_str(&self.metadata);
        }
        out
    }
}

impl FromStr for PluginVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PluginVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// Length of the longest `[0-9]+(\.[0-9]+)*` prefix of `s`.
fn numeric_prefix_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut end = 0;
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return end;
        }
        end = i;
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
        } else {
            return end;
        }
    }
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '~'
}

/// `[0-9A-Za-z-~]+(\.[0-9A-Za-z-~]+)*`
fn dotted_identifiers(s: &str) -> bool {
    s.split('.')
        .all(|part| !part.is_empty() && part.chars().all(ident_char))
}

/// The pre-release captured from what follows the numeric segments (before
/// any `+`), following the alternation order of go-version's pattern: first
/// `-` + digit-led identifiers, then an optional `-` + letter-led
/// identifiers. `None` when neither matches.
fn prerelease(s: &str) -> Option<&str> {
    if s.is_empty() {
        return Some("");
    }
    let letter_led = |t: &str| {
        t.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '-' || c == '~')
            && dotted_identifiers(t)
    };
    if let Some(t) = s.strip_prefix('-') {
        if t.chars().next().is_some_and(|c| c.is_ascii_digit()) && dotted_identifiers(t) {
            return Some(t);
        }
        if letter_led(t) {
            return Some(t);
        }
    }
    letter_led(s).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_go_version_accepts() {
        for (input, canonical) in [
            ("1", "1.0.0"),
            ("1.2", "1.2.0"),
            ("v1.2.3", "1.2.3"),
            ("01.004.0", "1.4.0"),
            ("1.2.3.4", "1.2.3.4"),
            ("1.0.0-beta.1", "1.0.0-beta.1"),
            ("1.0.0-1", "1.0.0-1"),
            ("1.0beta1", "1.0.0-beta1"),
            ("1.0.0+build.5", "1.0.0+build.5"),
            ("1.0.0-rc.1+b-7", "1.0.0-rc.1+b-7"),
            ("1.0-", "1.0.0--"),
            ("1.0~x", "1.0.0-~x"),
        ] {
            let v = PluginVersion::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(v.canonical(), canonical, "{input}");
            assert_eq!(v.original(), input);
        }
    }

    #[test]
    fn rejects_what_go_version_rejects() {
        for input in [
            "",
            "v",
            " 1.0",
            "1.0 ",
            "1.0\n",
            "x1",
            "1..2",
            "1.",
            "1.0+",
            "1.0+a..b",
            "1.0-a..b",
            "1.0.",
            "1.0_1",
            "99999999999999999999",
            "1.0+a+b",
        ] {
            assert!(
                PluginVersion::parse(input).is_err(),
                "{input:?} should be rejected"
            );
        }
    }

    #[test]
    fn error_names_the_version() {
        let err = PluginVersion::parse("one").unwrap_err().to_string();
        assert!(err.contains("\"one\""), "{err}");
    }
}
