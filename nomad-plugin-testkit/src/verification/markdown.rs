//! The verification report as GitHub-flavoured Markdown: tables a pull
//! request renders, failure logs in fenced blocks.

use super::{SchemaInfo, VerificationReport};
use crate::report::{format_duration, md_code, md_escape};

pub(super) fn render(r: &VerificationReport) -> String {
    let (passed, failed, skipped) = r.counts();
    let mut out = format!(
        "# Verification report: {} plugin `{}`\n\n",
        md_escape(&r.suite.kind),
        md_code(if r.plugin.name.is_empty() {
            &r.suite.plugin
        } else {
            &r.plugin.name
        })
    );
    out.push_str(&format!(
        "**{}**: {} checks, {passed} passed, {failed} failed, {skipped} skipped in {}.\n\n",
        r.verdict(),
        r.suite.checks.len(),
        format_duration(r.suite.duration()),
    ));

    out.push_str("## Plugin\n\n");
    table2(&mut out, &r.plugin_rows());

    out.push_str("## Configuration schema\n\n");
    schema(&mut out, &r.schema);
    if let Some(task) = &r.task_schema {
        out.push_str("## Task configuration schema\n\n");
        schema(&mut out, task);
    }

    out.push_str("## Checks\n\n");
    crate::report::markdown_checks(&mut out, &r.suite.checks);
    out.push('\n');

    let failures: Vec<_> = r.suite.failures().collect();
    if !failures.is_empty() {
        out.push_str("## Failures\n\n");
        for c in failures {
            out.push_str(&format!(
                "### `{}` ({})\n\n",
                md_code(&c.name),
                format_duration(c.duration)
            ));
            fenced(&mut out, &c.detail);
            match r.failure_logs.get(&c.name) {
                Some(lines) if !lines.is_empty() => {
                    out.push_str("Plugin log around this check:\n\n");
                    fenced(&mut out, &lines.join("\n"));
                }
                _ => out.push_str("No plugin log lines were captured around this check.\n\n"),
            }
        }
    }

    out.push_str("## Environment\n\n");
    table2(&mut out, &r.environment_rows());
    out
}

/// A schema as a table, or why there is none.
fn schema(out: &mut String, info: &SchemaInfo) {
    match info {
        SchemaInfo::Rows(rows) => {
            out.push_str("| Attribute | Kind | Type | Required | Default |\n");
            out.push_str("|---|---|---|---|---|\n");
            for row in rows {
                out.push_str(&format!(
                    "| `{}` | {} | `{}` | {} | {} |\n",
                    md_code(&row.path),
                    md_escape(&row.kind),
                    md_code(&row.ty),
                    if row.required { "yes" } else { "no" },
                    row.default
                        .as_deref()
                        .map_or(String::new(), |d| format!("`{}`", md_code(d))),
                ));
            }
            out.push('\n');
        }
        SchemaInfo::Empty => out.push_str("The plugin takes no configuration here.\n\n"),
        SchemaInfo::NotApplicable(why) => out.push_str(&format!("{}\n\n", md_escape(why))),
        SchemaInfo::Unavailable(why) => out.push_str(&format!(
            "The schema could not be read: {}\n\n",
            md_escape(why)
        )),
    }
}

/// A two-column key/value table.
fn table2(out: &mut String, rows: &[(String, String)]) {
    out.push_str("| | |\n|---|---|\n");
    for (k, v) in rows {
        out.push_str(&format!("| {} | {} |\n", md_escape(k), md_escape(v)));
    }
    out.push('\n');
}

/// A fenced code block holding `text` verbatim: the fence is longer than
/// any run of backticks in it, so nothing inside can close it.
fn fenced(out: &mut String, text: &str) {
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    let body: String = text
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    out.push_str(&format!("{fence}text\n{body}\n{fence}\n\n"));
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn sections_tables_and_escaping() {
        let md = sample().to_markdown();
        assert!(
            md.starts_with("# Verification report: driver plugin `de'mo`\n"),
            "{md}"
        );
        assert!(md.contains("**FAILED**: 3 checks, 1 passed, 1 failed, 1 skipped in "));
        for section in [
            "## Plugin",
            "## Configuration schema",
            "## Task configuration schema",
            "## Checks",
            "## Failures",
            "## Environment",
        ] {
            assert!(md.contains(section), "{section} missing:\n{md}");
        }
        assert!(md.contains("| Version | 1.2.3 |\n"), "{md}");
        assert!(md.contains("| API versions | v0.1.0 |\n"), "{md}");
        assert!(
            md.contains("| `image` | attribute | `string` | yes |  |\n"),
            "{md}"
        );
        assert!(md.contains("| `shell` | attribute | `string` | no | `\"bash\"` |\n"));
        assert!(md.contains("## Task configuration schema\n\n| Attribute | Kind | Type | Required | Default |\n|---|---|---|---|---|\n| `command` | attribute | `string` | yes |  |\n"), "{md}");
        // Escaped in the table; verbatim only inside a fenced block, which
        // Markdown renders as text.
        assert!(md.contains("| StartTask failed: &lt;script&gt;alert(1)&lt;/script&gt; \\| pipe |"));
        assert!(md.contains("```text\nStartTask failed: <script>alert(1)</script> | pipe\n```"));
        assert_eq!(md.matches("<script>").count(), 1, "{md}");
        // The log with backticks is fenced with a longer fence.
        assert!(
            md.contains("````text\nstarting ```weird``` plugin\n````"),
            "{md}"
        );
        assert!(md.contains("| Testkit | nomad-plugin-testkit "));
        // Every table row has as many unescaped pipes as its header.
        let mut expected = 0;
        for line in md.lines() {
            if !line.starts_with('|') {
                expected = 0;
                continue;
            }
            let pipes = line
                .char_indices()
                .filter(|&(i, c)| c == '|' && (i == 0 || line.as_bytes()[i - 1] != b'\\'))
                .count();
            if expected == 0 {
                expected = pipes;
            }
            assert_eq!(pipes, expected, "{line}");
        }
    }

    #[test]
    fn fences_never_close_early() {
        let mut out = String::new();
        fenced(&mut out, "a ````` b");
        assert!(out.starts_with("``````text\n"), "{out}");
    }
}
