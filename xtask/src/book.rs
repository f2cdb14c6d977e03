//! `cargo xtask book`: builds the guide in `docs/` with mdBook, after
//! checking its links.
//!
//! mdBook is installed with `cargo install` into `<target>/tools`, pinned to
//! one version, the first time it is needed; later runs in the same clone
//! reuse it. Links are checked here because mdBook does not: a link to a
//! missing page or heading, or a relative link that leaves the book (which
//! works on GitHub but not in the HTML), fails the build.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{root, run, target_dir};

/// The mdBook release the guide is built with.
const MDBOOK_VERSION: &str = "0.5.4";

/// Links to this repository's files on GitHub are checked against the
/// checkout; they are how the book points at code outside `docs/`.
const REPO_URL: &str = "https://github.com/nomad-plugin-rs/nomad-plugin-rs/";

/// `cargo xtask book`.
pub fn book(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("`book` takes no arguments, got {a:?}");
    }
    let src = root().join("docs/src");
    let problems = check_links(&src)?;
    if !problems.is_empty() {
        bail!(
            "the guide has {} broken link(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    let mdbook = ensure_mdbook()?;
    let out = target_dir().join("book");
    run(Command::new(mdbook)
        .arg("build")
        .arg(root().join("docs"))
        .arg("--dest-dir")
        .arg(&out))?;
    eprintln!(
        "xtask: the guide is at {}",
        out.join("index.html").display()
    );
    Ok(())
}

/// The pinned mdBook: one on `PATH` if it is that version, else the one in
/// `<target>/tools`, installed there if needed.
fn ensure_mdbook() -> Result<PathBuf> {
    let tools = target_dir().join("tools");
    let local = tools.join("bin/mdbook");
    for candidate in [local.clone(), PathBuf::from("mdbook")] {
        if version_of(&candidate).as_deref() == Some(MDBOOK_VERSION) {
            return Ok(candidate);
        }
    }
    eprintln!(
        "xtask: installing mdbook {MDBOOK_VERSION} into {} (once per clone)",
        tools.display()
    );
    // Without CARGO_TARGET_DIR cargo builds in a temporary directory and
    // removes it afterwards, so only the binary stays.
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .env_remove("CARGO_TARGET_DIR")
            .args(["install", "mdbook", "--locked", "--version", MDBOOK_VERSION])
            // The watch and serve features pull in a web server; search is
            // what a reader of the HTML needs.
            .args(["--no-default-features", "--features", "search"])
            // An unoptimised build installs about three times faster (4
            // instead of 13 minutes on two busy cores) and renders this
            // book, byte for byte the same, in seconds.
            .arg("--debug")
            // Without debug info the binary is a fraction of the size.
            .env("CARGO_PROFILE_DEV_DEBUG", "false")
            .env("CARGO_PROFILE_DEV_STRIP", "debuginfo")
            .arg("--root")
            .arg(&tools),
    )?;
    match version_of(&local) {
        Some(v) if v == MDBOOK_VERSION => Ok(local),
        other => bail!(
            "{} reports version {other:?} after installing",
            local.display()
        ),
    }
}

/// `mdbook --version` prints `mdbook v0.5.4`.
fn version_of(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().nth(1)?;
    Some(v.trim_start_matches('v').to_string())
}

/// Every problem with the links of the book in `src`: pages missing from
/// `SUMMARY.md`, links to missing files or headings, relative links out of
/// the book, and `{{#include}}`s of missing files or anchors.
pub fn check_links(src: &Path) -> Result<Vec<String>> {
    let mut pages = HashMap::new();
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path)?;
            pages.insert(path, text);
        }
    }
    let mut problems = Vec::new();
    let summary = src.join("SUMMARY.md");
    let Some(summary_text) = pages.get(&summary) else {
        bail!("{} is missing", summary.display());
    };
    let listed: BTreeSet<PathBuf> = links(summary_text)
        .into_iter()
        .map(|(_, l)| src.join(l))
        .collect();
    for page in pages.keys() {
        if page != &summary && !listed.contains(page) {
            problems.push(format!("{}: not listed in SUMMARY.md", name(src, page)));
        }
    }
    let anchors: HashMap<&PathBuf, BTreeSet<String>> =
        pages.iter().map(|(p, t)| (p, heading_ids(t))).collect();
    let mut sorted: Vec<_> = pages.iter().collect();
    sorted.sort();
    for (page, text) in sorted {
        let dir = page.parent().unwrap_or(src);
        let here = name(src, page);
        for (line, target) in links(text) {
            let at = format!("{here}:{line}: {target}");
            if let Some(rest) = target.strip_prefix(REPO_URL) {
                // `tree/main/<path>` or `blob/main/<path>`, maybe with `#L10`.
                let path = rest.split_once("/main/").map(|(_, p)| p).unwrap_or("");
                let path = path.split('#').next().unwrap_or("");
                if !path.is_empty() && !root().join(path).exists() {
                    problems.push(format!("{at}: no such file in this repository"));
                }
                continue;
            }
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let file = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            if !file.exists() {
                problems.push(format!("{at}: no such file"));
                continue;
            }
            let inside = file
                .canonicalize()
                .map(|f| f.starts_with(src.canonicalize().unwrap_or_default()))
                .unwrap_or(false);
            if !inside {
                problems.push(format!(
                    "{at}: leaves the book, which breaks in the HTML; link to {REPO_URL}tree/main/... instead"
                ));
                continue;
            }
            if let Some(anchor) = anchor {
                match anchors.get(&file) {
                    Some(ids) if ids.contains(anchor) => {}
                    Some(_) => problems.push(format!("{at}: no such heading")),
                    None => problems.push(format!("{at}: not a page of the book")),
                }
            }
        }
        for (line, spec) in includes(text) {
            let at = format!("{here}:{line}: {{{{#include {spec}}}}}");
            let (file, anchor) = match spec.split_once(':') {
                Some((f, a)) => (f, Some(a)),
                None => (spec.as_str(), None),
            };
            let Ok(content) = std::fs::read_to_string(dir.join(file)) else {
                problems.push(format!("{at}: no such file"));
                continue;
            };
            if let Some(a) = anchor.filter(|a| !a.chars().all(|c| c.is_ascii_digit())) {
                let start = content.contains(&format!("ANCHOR: {a}"));
                let end = content.contains(&format!("ANCHOR_END: {a}"));
                if !(start && end) {
                    problems.push(format!("{at}: no ANCHOR/ANCHOR_END `{a}` in the file"));
                }
            }
        }
    }
    Ok(problems)
}

fn name(src: &Path, page: &Path) -> String {
    page.strip_prefix(src).unwrap_or(page).display().to_string()
}

/// The lines outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// Inline link targets, `[text](target)`, outside code.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in prose_lines(text) {
        let line = strip_code_spans(line);
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = rest[..end].trim().trim_matches(['<', '>']);
            // `[text](target "title")`
            let target = target.split_whitespace().next().unwrap_or("");
            if !target.is_empty() {
                out.push((n, target.to_string()));
            }
            rest = &rest[end..];
        }
    }
    out
}

/// `{{#include path[:anchor]}}` directives, inside code blocks or not.
fn includes(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(s) = rest.find("{{#include ") {
            rest = &rest[s + "{{#include ".len()..];
            let Some(end) = rest.find("}}") else { break };
            out.push((i + 1, rest[..end].trim().to_string()));
            rest = &rest[end..];
        }
    }
    out
}

/// The line without its `code spans`, which may contain `](` literally.
fn strip_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// The ids mdBook gives a page's headings: the heading's text, lowercased,
/// letters, digits, `-` and `_` kept, whitespace turned into `-`, anything
/// else dropped; a repeated id gets `-1`, `-2`, ...
fn heading_ids(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ids = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let id: String = title
            .trim()
            .chars()
            .filter_map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    Some(c.to_lowercase().next().unwrap_or(c))
                } else if c.is_whitespace() {
                    Some('-')
                } else {
                    None
                }
            })
            .collect();
        let n = seen.entry(id.clone()).or_insert(0);
        ids.insert(if *n == 0 {
            id.clone()
        } else {
            format!("{id}-{n}")
        });
        *n += 1;
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_ids_follow_mdbook() {
        let ids = heading_ids(
            "# Concepts\n## Configuration: HCL → hclspec → cty msgpack\n## The reference plugin: `x-y`\n## Notes\n## Notes\n```sh\n# not a heading\n```\n",
        );
        let want = [
            "concepts",
            "configuration-hcl--hclspec--cty-msgpack",
            "the-reference-plugin-x-y",
            "notes",
            "notes-1",
        ];
        assert_eq!(ids, want.iter().map(|s| s.to_string()).collect());
    }

    #[test]
    fn links_skip_code() {
        let text =
            "See [a](a.md#x) and `[b](b.md)`.\n```rust\nlet v = [1](2);\n```\n[c](c.md \"t\")\n";
        assert_eq!(
            links(text),
            vec![(1, "a.md#x".to_string()), (5, "c.md".to_string())]
        );
    }

    #[test]
    fn the_guide_has_no_broken_links() {
        let problems = check_links(&root().join("docs/src")).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
