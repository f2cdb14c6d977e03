//! The machine a suite ran on, as `uname` and `/etc/os-release` say.

use std::ffi::CStr;
use std::time::SystemTime;

/// Where a suite ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    /// The host name (`uname -n`).
    pub hostname: String,
    /// The operating system: `uname -s`, with the distribution's
    /// `PRETTY_NAME` from `/etc/os-release` when there is one.
    pub os: String,
    /// The kernel release and build (`uname -r`, `uname -v`).
    pub kernel: String,
    /// The hardware architecture (`uname -m`).
    pub arch: String,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// When the report was made, RFC 3339 in UTC.
    pub date_utc: String,
}

impl Machine {
    /// This machine, now.
    pub fn current() -> Machine {
        let uname = Uname::get();
        let os = match distribution() {
            Some(d) => format!("{} ({d})", uname.sysname),
            None => uname.sysname.clone(),
        };
        Machine {
            hostname: uname.nodename,
            os,
            kernel: format!("{} {}", uname.release, uname.version)
                .trim()
                .to_string(),
            arch: if uname.machine.is_empty() {
                std::env::consts::ARCH.to_string()
            } else {
                uname.machine
            },
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            date_utc: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }
}

#[derive(Default)]
struct Uname {
    sysname: String,
    nodename: String,
    release: String,
    version: String,
    machine: String,
}

impl Uname {
    fn get() -> Uname {
        // SAFETY: utsname is plain old data; uname(2) fills it and returns
        // 0, or fails and leaves it zeroed (empty strings).
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        if unsafe { libc::uname(&mut u) } != 0 {
            return Uname {
                sysname: std::env::consts::OS.to_string(),
                ..Uname::default()
            };
        }
        let field = |f: &[libc::c_char]| -> String {
            // The kernel NUL-terminates each field; a field without a NUL
            // (never seen) reads as empty rather than past its end.
            let bytes: Vec<u8> = f.iter().map(|&c| c as u8).collect();
            CStr::from_bytes_until_nul(&bytes)
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        Uname {
            sysname: field(&u.sysname),
            nodename: field(&u.nodename),
            release: field(&u.release),
            version: field(&u.version),
            machine: field(&u.machine),
        }
    }
}

/// `PRETTY_NAME` from `/etc/os-release`, unquoted.
fn distribution() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    pretty_name(&text)
}

fn pretty_name(os_release: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_is_described() {
        let m = Machine::current();
        assert!(!m.os.is_empty());
        assert!(!m.arch.is_empty());
        assert!(m.cpus >= 1);
        // 2026-11-25T16:44:20Z
        assert_eq!(m.date_utc.len(), 20, "{}", m.date_utc);
        assert!(m.date_utc.ends_with('Z'));
        if cfg!(target_os = "linux") {
            assert!(m.os.starts_with("Linux"), "{}", m.os);
            assert!(!m.kernel.is_empty());
        }
    }

    #[test]
    fn reads_pretty_name() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            pretty_name(text).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(pretty_name("ID=alpine\n"), None);
    }
}
