//! hcl-style diagnostics: a summary, a detail and a source position.

use std::fmt;

/// A line and column, both starting at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// Line number.
    pub line: usize,
    /// Column number (in characters).
    pub column: usize,
}

/// One error, worded as hashicorp/hcl words it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The short summary (`Missing required argument`).
    pub summary: String,
    /// The explanation.
    pub detail: String,
    /// Where in the source, if known.
    pub pos: Option<Pos>,
}

impl Diagnostic {
    pub(crate) fn new(
        summary: impl Into<String>,
        detail: impl Into<String>,
        pos: Option<Pos>,
    ) -> Self {
        Diagnostic {
            summary: summary.into(),
            detail: detail.into(),
            pos,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(
                f,
                "<config>:{},{}: {}; {}",
                p.line, p.column, self.summary, self.detail
            ),
            None => write!(f, "<config>: {}; {}", self.summary, self.detail),
        }
    }
}

/// Every error found while decoding (hcl reports them all, not just the first).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub(crate) fn one(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Turns byte offsets into line/column positions.
pub(crate) struct Source<'a> {
    src: &'a str,
}

impl<'a> Source<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Source { src }
    }

    pub(crate) fn text(&self) -> &'a str {
        self.src
    }

    pub(crate) fn pos(&self, span: Option<std::ops::Range<usize>>) -> Option<Pos> {
        let start = span?.start;
        let before = self.src.get(..start)?;
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        Some(Pos { line, column })
    }
}
