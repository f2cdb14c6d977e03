//! Pagination for `ListVolumes` and `ListSnapshots`.
//!
//! A token names the key of the first entry of the next page (hex-encoded,
//! with a version prefix), not an offset: entries deleted or added between
//! two pages then never cause duplicates, and a token whose entry has since
//! been deleted still resumes at the next key. A token this module did not
//! make is answered with `ABORTED`, as the spec asks.

use super::error::{CsiError, CsiResult};

const PREFIX: &str = "p1.";

/// Which page the caller wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many entries; `None` means all.
    pub max_entries: Option<usize>,
    /// Resume after a previous page (the token it returned).
    pub starting_token: Option<String>,
}

/// One page of entries and the token for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The entries of this page.
    pub entries: Vec<T>,
    /// Pass this to get the next page; `None` on the last page.
    pub next_token: Option<String>,
}

impl PageRequest {
    pub(crate) fn from_wire(max_entries: i32, starting_token: String) -> CsiResult<Self> {
        if max_entries < 0 {
            return Err(CsiError::InvalidArgument(format!(
                "max_entries must not be negative (got {max_entries})"
            )));
        }
        Ok(PageRequest {
            max_entries: (max_entries > 0).then_some(max_entries as usize),
            starting_token: (!starting_token.is_empty()).then_some(starting_token),
        })
    }

    /// Cuts one page out of `items`, ordered by `key` (which must be unique
    /// per item, e.g. the volume id). Items need not be sorted beforehand.
    pub fn paginate<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> &str) -> CsiResult<Page<T>> {
        items.sort_by(|a, b| key(a).cmp(key(b)));
        let start = match &self.starting_token {
            None => 0,
            Some(token) => {
                let from = decode(token).ok_or_else(|| {
                    CsiError::Aborted(format!(
                        "starting_token {token:?} was not issued by this plugin"
                    ))
                })?;
                items.partition_point(|i| key(i) < from.as_str())
            }
        };
        let mut rest = items.split_off(start);
        let next_token = match self.max_entries {
            Some(max) if rest.len() > max => {
                let tail = rest.split_off(max);
                tail.first().map(|first| encode(key(first)))
            }
            _ => None,
        };
        Ok(Page {
            entries: rest,
            next_token,
        })
    }
}

fn encode(key: &str) -> String {
    let mut s = String::with_capacity(PREFIX.len() + key.len() * 2);
    s.push_str(PREFIX);
    for b in key.bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn decode(token: &str) -> Option<String> {
    let hex = token.strip_prefix(PREFIX)?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("vol-{i:02}")).collect()
    }

    #[test]
    fn walks_every_page_once() {
        let mut req = PageRequest {
            max_entries: Some(3),
            starting_token: None,
        };
        let mut seen = Vec::new();
        loop {
            let page = req.paginate(ids(10), |s| s.as_str()).unwrap();
            seen.extend(page.entries);
            match page.next_token {
                Some(t) => req.starting_token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, ids(10));
    }

    #[test]
    fn survives_deletion_of_the_resume_entry() {
        let req = PageRequest {
            max_entries: Some(2),
            starting_token: None,
        };
        let page = req.paginate(ids(5), |s| s.as_str()).unwrap();
        let token = page.next_token.unwrap();
        let mut fewer = ids(5);
        fewer.retain(|s| s != "vol-02");
        let next = PageRequest {
            max_entries: None,
            starting_token: Some(token),
        }
        .paginate(fewer, |s| s.as_str())
        .unwrap();
        assert_eq!(next.entries, vec!["vol-03", "vol-04"]);
    }

    #[test]
    fn foreign_token_is_aborted() {
        for t in ["invalid-token", "p1.zz", "p1.abc", "p1.ff"] {
            let req = PageRequest {
                max_entries: None,
                starting_token: Some(t.into()),
            };
            assert!(matches!(
                req.paginate(ids(2), |s| s.as_str()),
                Err(CsiError::Aborted(_))
            ));
        }
        assert!(PageRequest::from_wire(-1, String::new()).is_err());
    }

    proptest::proptest! {
        // Tokens come from the peer: any string is either a valid page or
        // ABORTED, never a panic; our own tokens always decode.
        #[test]
        fn any_token_is_handled(token in ".*", key in ".*") {
            let req = PageRequest { max_entries: Some(1), starting_token: Some(token) };
            let _ = req.paginate(ids(3), |s| s.as_str());
            proptest::prop_assert_eq!(decode(&encode(&key)), Some(key));
        }
    }
}
