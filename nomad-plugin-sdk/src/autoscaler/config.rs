//! Plugin configuration: the flat string map the agent sends, and a typed
//! view of the `nomad_*` keys it merges in so a plugin can reach the Nomad
//! API the way the agent does.
//!
//! An agent block such as
//!
//! ```hcl
//! apm "procfs" {
//!   driver = "apm-procfs"
//!   config = { sample_interval = "1s" }
//! }
//! ```
//!
//! reaches [`Base::set_config`](super::Base::set_config) as the map
//! `{sample_interval = "1s", nomad_address = "http://127.0.0.1:4646", ...}`.
//! Unless the block sets `nomad_config_inherit` to a false value, the agent
//! adds its own Nomad settings under the [`keys`] below: only those that are
//! set in the agent (its `nomad { ... }` block or the `NOMAD_*` environment),
//! and only where the block does not set the key itself. A default agent
//! therefore sends `nomad_address` and `nomad_block-query-wait-time`
//! (`5m0s`, the agent's default blocking-query wait).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::error::AutoscalerError;

/// The config keys the agent merges in, spelled as the autoscaler spells
/// them (note the hyphens).
pub mod keys {
    /// Whether the agent merges its Nomad settings into this plugin's
    /// config (any spelling Go's `strconv.ParseBool` accepts; absent means
    /// yes, an unparseable value means no).
    pub const NOMAD_CONFIG_INHERIT: &str = "nomad_config_inherit";
    /// Nomad HTTP API address, for example `http://127.0.0.1:4646`.
    pub const NOMAD_ADDRESS: &str = "nomad_address";
    /// Region to send requests to.
    pub const NOMAD_REGION: &str = "nomad_region";
    /// Namespace to use (`*` for all).
    pub const NOMAD_NAMESPACE: &str = "nomad_namespace";
    /// ACL token (secret ID).
    pub const NOMAD_TOKEN: &str = "nomad_token";
    /// HTTP basic auth as `user` or `user:password`.
    pub const NOMAD_HTTP_AUTH: &str = "nomad_http-auth";
    /// Path to a PEM CA certificate.
    pub const NOMAD_CA_CERT: &str = "nomad_ca-cert";
    /// Path to a directory of PEM CA certificates.
    pub const NOMAD_CA_PATH: &str = "nomad_ca-path";
    /// Path to a PEM client certificate.
    pub const NOMAD_CLIENT_CERT: &str = "nomad_client-cert";
    /// Path to the client certificate's key.
    pub const NOMAD_CLIENT_KEY: &str = "nomad_client-key";
    /// Server name to verify in the server's certificate.
    pub const NOMAD_TLS_SERVER_NAME: &str = "nomad_tls-server-name";
    /// Skip TLS verification (`true`/`false`; the agent only sends `true`).
    pub const NOMAD_SKIP_VERIFY: &str = "nomad_skip-verify";
    /// Wait time of blocking queries, as a Go duration (`5m0s`).
    pub const NOMAD_BLOCK_QUERY_WAIT_TIME: &str = "nomad_block-query-wait-time";
    /// In a target's per-policy config: how long the agent waits for a
    /// `Status` answer, as a Go duration (set to 75% of the policy's
    /// evaluation interval).
    pub const GRPC_TIMEOUT: &str = "_nomad_autoscaler_grpc_timeout";
}

/// A flat string map of settings: the plugin's agent config in
/// [`Base::set_config`](super::Base::set_config), a strategy block's
/// settings, or a target block's settings in a policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigMap(BTreeMap<String, String>);

impl ConfigMap {
    /// An empty map.
    pub fn new() -> Self {
        ConfigMap::default()
    }

    /// The value of `key`, if present (possibly empty).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The value of `key` when present and not empty: the agent treats an
    /// empty value as unset.
    pub fn get_non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// The value of `key` parsed as `T`, `None` when absent or empty, an
    /// error naming the key when it does not parse.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, AutoscalerError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get_non_empty(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|e| AutoscalerError::config(key, format!("{v:?}: {e}"))),
        }
    }

    /// The value of `key` as a boolean, with the spellings Go's
    /// `strconv.ParseBool` accepts (`1 t T TRUE true True` and their
    /// false counterparts).
    pub fn parse_bool(&self, key: &str) -> Result<Option<bool>, AutoscalerError> {
        match self.get_non_empty(key) {
            None => Ok(None),
            Some(v) => parse_go_bool(v)
                .map(Some)
                .ok_or_else(|| AutoscalerError::config(key, format!("{v:?} is not a boolean"))),
        }
    }

    /// The value of `key` as a Go duration (`1m30s`, `250ms`, `1.5h`).
    pub fn parse_duration(&self, key: &str) -> Result<Option<Duration>, AutoscalerError> {
        match self.get_non_empty(key) {
            None => Ok(None),
            Some(v) => parse_go_duration(v)
                .map(Some)
                .map_err(|e| AutoscalerError::config(key, e)),
        }
    }

    /// Sets `key`.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The typed view of the `nomad_*` keys.
    pub fn nomad(&self) -> Result<NomadConfig, AutoscalerError> {
        NomadConfig::from_config(self)
    }

    /// A target config's `_nomad_autoscaler_grpc_timeout`: how long the
    /// agent waits for the answer to `Status`.
    pub fn grpc_timeout(&self) -> Result<Option<Duration>, AutoscalerError> {
        self.parse_duration(keys::GRPC_TIMEOUT)
    }

    /// Whether the agent merges its Nomad settings into a plugin block with
    /// this config, decided as the agent decides it: yes when
    /// `nomad_config_inherit` is absent, otherwise what the value parses to,
    /// and no when it does not parse (the agent logs an error then).
    pub fn inherits_nomad_config(&self) -> bool {
        match self.get(keys::NOMAD_CONFIG_INHERIT) {
            None => true,
            Some(v) => parse_go_bool(v).unwrap_or(false),
        }
    }

    /// Merges an agent's Nomad settings into this plugin config, as the
    /// autoscaler's agent does before `SetConfig`: nothing when
    /// [`inherits_nomad_config`](Self::inherits_nomad_config) is false;
    /// otherwise each setting the agent has, under its `nomad_*` key, where
    /// this map has no non-empty value for that key. `skip_verify` is only
    /// merged when true.
    pub fn merge_agent_nomad_config(&mut self, agent: &NomadConfig) {
        if !self.inherits_nomad_config() {
            return;
        }
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                if self.get_non_empty(key).is_none() {
                    self.insert(key, v);
                }
            }
        };
        put(keys::NOMAD_ADDRESS, agent.address.clone());
        put(keys::NOMAD_REGION, agent.region.clone());
        put(keys::NOMAD_NAMESPACE, agent.namespace.clone());
        put(keys::NOMAD_TOKEN, agent.token.clone());
        put(keys::NOMAD_CA_CERT, agent.ca_cert.clone());
        put(keys::NOMAD_CA_PATH, agent.ca_path.clone());
        put(keys::NOMAD_CLIENT_CERT, agent.client_cert.clone());
        put(keys::NOMAD_CLIENT_KEY, agent.client_key.clone());
        put(keys::NOMAD_TLS_SERVER_NAME, agent.tls_server_name.clone());
        put(
            keys::NOMAD_SKIP_VERIFY,
            agent.skip_verify.then(|| "true".to_string()),
        );
        put(
            keys::NOMAD_HTTP_AUTH,
            agent.http_auth.as_ref().map(HttpAuth::to_string),
        );
        put(
            keys::NOMAD_BLOCK_QUERY_WAIT_TIME,
            agent
                .block_query_wait_time
                .filter(|d| !d.is_zero())
                .map(format_go_duration),
        );
    }

    /// The underlying map.
    pub fn into_inner(self) -> BTreeMap<String, String> {
        self.0
    }
}

impl From<HashMap<String, String>> for ConfigMap {
    fn from(map: HashMap<String, String>) -> Self {
        ConfigMap(map.into_iter().collect())
    }
}

impl From<BTreeMap<String, String>> for ConfigMap {
    fn from(map: BTreeMap<String, String>) -> Self {
        ConfigMap(map)
    }
}

impl From<ConfigMap> for HashMap<String, String> {
    fn from(map: ConfigMap) -> Self {
        map.0.into_iter().collect()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ConfigMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        ConfigMap(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// HTTP basic auth credentials for the Nomad API.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpAuth {
    /// User name.
    pub username: String,
    /// Password; empty when the setting had no `:`.
    pub password: String,
}

impl HttpAuth {
    /// Splits `user:password` at the first `:`, as the autoscaler does.
    pub fn parse(s: &str) -> Self {
        match s.split_once(':') {
            Some((u, p)) => HttpAuth {
                username: u.into(),
                password: p.into(),
            },
            None => HttpAuth {
                username: s.into(),
                password: String::new(),
            },
        }
    }
}

impl fmt::Display for HttpAuth {
    /// The wire form: `user`, or `user:password` when there is a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.password.is_empty() {
            f.write_str(&self.username)
        } else {
            write!(f, "{}:{}", self.username, self.password)
        }
    }
}

impl fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to reach the Nomad API: the typed view of the `nomad_*` keys.
///
/// Fields are `None` when the key is absent or empty; the Nomad API
/// client's defaults (`NOMAD_ADDR`, `http://127.0.0.1:4646`, ...) then
/// apply, as they do for the autoscaler's Go plugins.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct NomadConfig {
    /// `nomad_address`.
    pub address: Option<String>,
    /// `nomad_region`.
    pub region: Option<String>,
    /// `nomad_namespace`.
    pub namespace: Option<String>,
    /// `nomad_token`.
    pub token: Option<String>,
    /// `nomad_http-auth`.
    pub http_auth: Option<HttpAuth>,
    /// `nomad_ca-cert`.
    pub ca_cert: Option<String>,
    /// `nomad_ca-path`.
    pub ca_path: Option<String>,
    /// `nomad_client-cert`.
    pub client_cert: Option<String>,
    /// `nomad_client-key`.
    pub client_key: Option<String>,
    /// `nomad_tls-server-name`.
    pub tls_server_name: Option<String>,
    /// `nomad_skip-verify`.
    pub skip_verify: bool,
    /// `nomad_block-query-wait-time`.
    pub block_query_wait_time: Option<Duration>,
}

impl NomadConfig {
    /// Reads the `nomad_*` keys of a plugin config. Unlike the autoscaler's
    /// Go helper, which silently treats a malformed `nomad_skip-verify` or
    /// `nomad_block-query-wait-time` as unset, this reports the key.
    pub fn from_config(config: &ConfigMap) -> Result<Self, AutoscalerError> {
        let s = |key| config.get_non_empty(key).map(str::to_string);
        Ok(NomadConfig {
            address: s(keys::NOMAD_ADDRESS),
            region: s(keys::NOMAD_REGION),
            namespace: s(keys::NOMAD_NAMESPACE),
            token: s(keys::NOMAD_TOKEN),
            http_auth: config
                .get_non_empty(keys::NOMAD_HTTP_AUTH)
                .map(HttpAuth::parse),
            ca_cert: s(keys::NOMAD_CA_CERT),
            ca_path: s(keys::NOMAD_CA_PATH),
            client_cert: s(keys::NOMAD_CLIENT_CERT),
            client_key: s(keys::NOMAD_CLIENT_KEY),
            tls_server_name: s(keys::NOMAD_TLS_SERVER_NAME),
            skip_verify: config.parse_bool(keys::NOMAD_SKIP_VERIFY)?.unwrap_or(false),
            block_query_wait_time: config.parse_duration(keys::NOMAD_BLOCK_QUERY_WAIT_TIME)?,
        })
    }

    /// The address to use: `nomad_address`, else `NOMAD_ADDR` from the
    /// environment, else Nomad's default `http://127.0.0.1:4646`.
    pub fn address_or_default(&self) -> String {
        self.address
            .clone()
            .or_else(|| std::env::var("NOMAD_ADDR").ok().filter(|a| !a.is_empty()))
            .unwrap_or_else(|| "http://127.0.0.1:4646".into())
    }

    /// Whether any TLS setting is present.
    pub fn uses_tls(&self) -> bool {
        self.ca_cert.is_some()
            || self.ca_path.is_some()
            || self.client_cert.is_some()
            || self.client_key.is_some()
            || self.tls_server_name.is_some()
            || self.skip_verify
            || self
                .address
                .as_deref()
                .is_some_and(|a| a.starts_with("https://"))
    }
}

impl fmt::Debug for NomadConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NomadConfig")
            .field("address", &self.address)
            .field("region", &self.region)
            .field("namespace", &self.namespace)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("http_auth", &self.http_auth)
            .field("ca_cert", &self.ca_cert)
            .field("ca_path", &self.ca_path)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("tls_server_name", &self.tls_server_name)
            .field("skip_verify", &self.skip_verify)
            .field("block_query_wait_time", &self.block_query_wait_time)
            .finish()
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses a Go duration (`time.ParseDuration`): a sequence of decimal
/// numbers, each with an optional fraction and a unit (`ns`, `us`/`µs`,
/// `ms`, `s`, `m`, `h`), such as `300ms` or `1h2m3.5s`; `0` alone is zero.
/// Negative durations are refused: nothing in a plugin config means one.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad =
        || format!("invalid duration {s:?} (expected a Go duration such as \"90s\" or \"1m30s\")");
    let rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(format!("negative duration {s:?}"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    let mut chars = rest.char_indices().peekable();
    while chars.peek().is_some() {
        // Number: digits, optional fraction.
        let mut int: u128 = 0;
        let mut frac: u128 = 0;
        let mut frac_scale: u128 = 1;
        let mut digits = 0;
        while let Some(&(_, c)) = chars.peek() {
            if let Some(d) = c.to_digit(10) {
                int = int
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(d.into()))
                    .ok_or_else(bad)?;
                digits += 1;
                chars.next();
            } else {
                break;
            }
        }
        if let Some(&(_, '.')) = chars.peek() {
            chars.next();
            while let Some(&(_, c)) = chars.peek() {
                if let Some(d) = c.to_digit(10) {
                    // Beyond nanosecond precision of hours, extra digits only
                    // add noise; stop accumulating to avoid overflow.
                    if frac_scale < 10u128.pow(18) {
                        frac = frac * 10 + u128::from(d);
                        frac_scale *= 10;
                    }
                    digits += 1;
                    chars.next();
                } else {
                    break;
                }
            }
        }
        if digits == 0 {
            return Err(bad());
        }
        // Unit: everything up to the next digit or '.'.
        let start = chars.peek().map(|&(i, _)| i).ok_or_else(bad)?;
        let mut end = rest.len();
        while let Some(&(i, c)) = chars.peek() {
            if c.is_ascii_digit() || c == '.' {
                end = i;
                break;
            }
            chars.next();
        }
        let unit_nanos: u128 = match &rest[start..end] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let part = int
            .checked_mul(unit_nanos)
            .and_then(|v| v.checked_add(frac * unit_nanos / frac_scale))
            .ok_or_else(bad)?;
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    // Go durations are int64 nanoseconds.
    if total > i64::MAX as u128 {
        return Err(format!("duration {s:?} is out of range"));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Formats a duration as Go's `time.Duration.String` does (`1h2m3.5s`,
/// `300ms`, `0s`), which is how the agent writes durations into the map.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos().min(i64::MAX as u128) as u64;
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        // Sub-second: the largest unit that keeps an integer part.
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("\u{b5}s", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let secs = nanos % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", fraction(secs, 1_000_000_000)));
    out
}

/// `value / scale` in decimal, without trailing zeros in the fraction.
fn fraction(value: u64, scale: u64) -> String {
    let int = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs.iter().copied().collect()
    }

    #[test]
    fn go_durations_parse_like_go() {
        let ok = |s: &str, d: Duration| assert_eq!(parse_go_duration(s), Ok(d), "{s}");
        ok("0", Duration::ZERO);
        ok("0s", Duration::ZERO);
        ok("300ms", Duration::from_millis(300));
        ok("1.5s", Duration::from_millis(1500));
        ok("1h2m3.5s", Duration::from_millis(3_723_500));
        ok("5m0s", Duration::from_secs(300));
        ok("2\u{b5}s", Duration::from_micros(2));
        ok("2us", Duration::from_micros(2));
        ok(".5s", Duration::from_millis(500));
        ok("+7ns", Duration::from_nanos(7));
        for bad in ["", "5", "s", "1x", "-1s", "1.s.", "1..5s", "3mm"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn go_durations_format_like_go() {
        let f = |d: Duration| format_go_duration(d);
        assert_eq!(f(Duration::ZERO), "0s");
        assert_eq!(f(Duration::from_secs(300)), "5m0s");
        assert_eq!(f(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(f(Duration::from_millis(3_723_500)), "1h2m3.5s");
        assert_eq!(f(Duration::from_millis(300)), "300ms");
        assert_eq!(f(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(f(Duration::from_nanos(2)), "2ns");
        assert_eq!(f(Duration::from_micros(2)), "2\u{b5}s");
        for d in [1u64, 999, 1_000_001, 59_999_999_999, 3_600_000_000_001] {
            let d = Duration::from_nanos(d);
            assert_eq!(parse_go_duration(&f(d)), Ok(d));
        }
    }

    #[test]
    fn nomad_view_reads_every_key() {
        let c = map(&[
            ("nomad_address", "https://nomad:4646"),
            ("nomad_region", "eu"),
            ("nomad_namespace", "*"),
            ("nomad_token", "secret"),
            ("nomad_http-auth", "user:pa:ss"),
            ("nomad_ca-cert", "/ca.pem"),
            ("nomad_ca-path", "/cas"),
            ("nomad_client-cert", "/c.pem"),
            ("nomad_client-key", "/k.pem"),
            ("nomad_tls-server-name", "server.global.nomad"),
            ("nomad_skip-verify", "true"),
            ("nomad_block-query-wait-time", "5m0s"),
            ("unrelated", "x"),
        ]);
        let n = c.nomad().expect("valid");
        assert_eq!(n.address.as_deref(), Some("https://nomad:4646"));
        assert_eq!(n.region.as_deref(), Some("eu"));
        assert_eq!(n.namespace.as_deref(), Some("*"));
        assert_eq!(n.token.as_deref(), Some("secret"));
        let auth = n.http_auth.clone().expect("auth");
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("user", "pa:ss")
        );
        assert_eq!(n.ca_cert.as_deref(), Some("/ca.pem"));
        assert_eq!(n.ca_path.as_deref(), Some("/cas"));
        assert_eq!(n.client_cert.as_deref(), Some("/c.pem"));
        assert_eq!(n.client_key.as_deref(), Some("/k.pem"));
        assert_eq!(n.tls_server_name.as_deref(), Some("server.global.nomad"));
        assert!(n.skip_verify);
        assert_eq!(n.block_query_wait_time, Some(Duration::from_secs(300)));
        assert!(n.uses_tls());
        assert!(!format!("{n:?}").contains("secret"));
        assert!(!format!("{n:?}").contains("pa:ss"));
    }

    #[test]
    fn nomad_view_reports_bad_values_by_key() {
        let e = map(&[("nomad_skip-verify", "yes")]).nomad().unwrap_err();
        assert!(e.to_string().contains("nomad_skip-verify"), "{e}");
        let e = map(&[("nomad_block-query-wait-time", "5 minutes")])
            .nomad()
            .unwrap_err();
        assert!(e.to_string().contains("nomad_block-query-wait-time"), "{e}");
        let empty = map(&[("nomad_address", "")]).nomad().expect("valid");
        assert_eq!(empty.address, None);
    }

    #[test]
    fn merge_follows_the_agent_rules() {
        let agent = NomadConfig {
            address: Some("http://agent:4646".into()),
            region: Some("global".into()),
            token: Some("agent-token".into()),
            http_auth: Some(HttpAuth::parse("u")),
            skip_verify: false,
            block_query_wait_time: Some(Duration::from_secs(90)),
            ..Default::default()
        };
        // Operator values win, empty operator values do not count.
        let mut c = map(&[("nomad_token", "mine"), ("nomad_region", ""), ("k", "v")]);
        c.merge_agent_nomad_config(&agent);
        assert_eq!(c.get("nomad_address"), Some("http://agent:4646"));
        assert_eq!(c.get("nomad_token"), Some("mine"));
        assert_eq!(c.get("nomad_region"), Some("global"));
        assert_eq!(c.get("nomad_http-auth"), Some("u"));
        assert_eq!(c.get("nomad_block-query-wait-time"), Some("1m30s"));
        assert!(
            !c.contains_key("nomad_skip-verify"),
            "false is never merged"
        );
        assert!(
            !c.contains_key("nomad_namespace"),
            "unset agent values are not merged"
        );
        assert_eq!(c.get("k"), Some("v"));

        for (inherit, merged) in [
            ("false", false),
            ("0", false),
            ("nope", false),
            ("true", true),
            ("T", true),
        ] {
            let mut c = map(&[("nomad_config_inherit", inherit)]);
            c.merge_agent_nomad_config(&agent);
            assert_eq!(c.contains_key("nomad_address"), merged, "{inherit}");
        }
    }
}
