//! The verification report as one self-contained HTML page: inline CSS, no
//! scripts, no external resources, every piece of text escaped.

use super::{SchemaInfo, VerificationReport};
use crate::report::{format_duration, CheckStatus};

const STYLE: &str = "\
body{font-family:-apple-system,BlinkMacSystemFont,\"Segoe UI\",Helvetica,Arial,sans-serif;\
margin:2em auto;max-width:72em;padding:0 1em;color:#1f2328;line-height:1.45}\
h1{font-size:1.6em;border-bottom:1px solid #d0d7de;padding-bottom:.3em}\
h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}\
h3{font-size:1em}\
table{border-collapse:collapse;margin:.6em 0;width:100%}\
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f6f8fa}\
td.time{text-align:right;white-space:nowrap}\
td.detail{white-space:pre-wrap;word-break:break-word}\
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}\
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:.6em;overflow-x:auto;white-space:pre-wrap}\
.verdict{font-weight:bold;padding:.1em .5em;border-radius:.3em}\
.PASSED,.pass{color:#1a7f37}.FAILED,.fail{color:#cf222e}.skip{color:#6e7781}\
tr.fail td{background:#ffebe9}";

pub(super) fn render(r: &VerificationReport) -> String {
    let (passed, failed, skipped) = r.counts();
    let title = format!(
        "Verification report: {} plugin {}",
        r.suite.kind,
        if r.plugin.name.is_empty() {
            &r.suite.plugin
        } else {
            &r.plugin.name
        }
    );
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!(
        "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    ));
    out.push_str(&format!("<h1>{}</h1>\n", esc(&title)));
    out.push_str(&format!(
        "<p><span class=\"verdict {v}\">{v}</span>: {} checks, {passed} passed, {failed} failed, \
         {skipped} skipped in {}.</p>\n",
        r.suite.checks.len(),
        esc(&format_duration(r.suite.duration())),
        v = r.verdict(),
    ));

    out.push_str("<h2>Plugin</h2>\n");
    table2(&mut out, &r.plugin_rows());

    out.push_str("<h2>Configuration schema</h2>\n");
    schema(&mut out, &r.schema);
    if let Some(task) = &r.task_schema {
        out.push_str("<h2>Task configuration schema</h2>\n");
        schema(&mut out, task);
    }

    out.push_str("<h2>Checks</h2>\n");
    out.push_str(
        "<table>\n<thead><tr><th>Result</th><th>Check</th><th>Time</th><th>Detail</th></tr></thead>\n<tbody>\n",
    );
    for c in &r.suite.checks {
        let (class, tag) = match c.status {
            CheckStatus::Passed => ("pass", "pass"),
            CheckStatus::Failed => ("fail", "FAIL"),
            CheckStatus::Skipped => ("skip", "skip"),
        };
        out.push_str(&format!(
            "<tr class=\"{class}\"><td class=\"{class}\">{tag}</td><td><code>{}</code></td>\
             <td class=\"time\">{}</td><td class=\"detail\">{}</td></tr>\n",
            esc(&c.name),
            esc(&format_duration(c.duration)),
            esc(&c.detail),
        ));
    }
    out.push_str("</tbody>\n</table>\n");

    let failures: Vec<_> = r.suite.failures().collect();
    if !failures.is_empty() {
        out.push_str("<h2>Failures</h2>\n");
        for c in failures {
            out.push_str(&format!(
                "<h3><code>{}</code> ({})</h3>\n<pre>{}</pre>\n",
                esc(&c.name),
                esc(&format_duration(c.duration)),
                esc(&c.detail)
            ));
            match r.failure_logs.get(&c.name) {
                Some(lines) if !lines.is_empty() => out.push_str(&format!(
                    "<p>Plugin log around this check:</p>\n<pre>{}</pre>\n",
                    esc(&lines.join("\n"))
                )),
                _ => out.push_str("<p>No plugin log lines were captured around this check.</p>\n"),
            }
        }
    }

    out.push_str("<h2>Environment</h2>\n");
    table2(&mut out, &r.environment_rows());
    out.push_str("</body>\n</html>\n");
    out
}

/// A schema as a table, or why there is none.
fn schema(out: &mut String, info: &SchemaInfo) {
    match info {
        SchemaInfo::Rows(rows) => {
            out.push_str(
                "<table>\n<thead><tr><th>Attribute</th><th>Kind</th><th>Type</th>\
                 <th>Required</th><th>Default</th></tr></thead>\n<tbody>\n",
            );
            for row in rows {
                out.push_str(&format!(
                    "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                    esc(&row.path),
                    esc(&row.kind),
                    esc(&row.ty),
                    if row.required { "yes" } else { "no" },
                    row.default
                        .as_deref()
                        .map_or(String::new(), |d| format!("<code>{}</code>", esc(d))),
                ));
            }
            out.push_str("</tbody>\n</table>\n");
        }
        SchemaInfo::Empty => out.push_str("<p>The plugin takes no configuration here.</p>\n"),
        SchemaInfo::NotApplicable(why) => out.push_str(&format!("<p>{}</p>\n", esc(why))),
        SchemaInfo::Unavailable(why) => out.push_str(&format!(
            "<p>The schema could not be read: {}</p>\n",
            esc(why)
        )),
    }
}

/// A key/value table with the keys as row headers.
fn table2(out: &mut String, rows: &[(String, String)]) {
    out.push_str("<table>\n<tbody>\n");
    for (k, v) in rows {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n",
            esc(k),
            esc(v)
        ));
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Escapes text for HTML element content and double-quoted attributes;
/// control characters other than newline and tab become spaces.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(ch),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    /// Every opened element is closed in order (void elements aside), and
    /// no raw `<` is left in text.
    pub(crate) fn assert_balanced(html: &str) {
        const VOID: [&str; 3] = ["meta", "br", "!DOCTYPE"];
        let mut stack: Vec<String> = Vec::new();
        for (i, piece) in html.split('<').enumerate().skip(1) {
            let end = piece
                .find('>')
                .unwrap_or_else(|| panic!("unclosed tag #{i}: {piece:?}"));
            let tag = &piece[..end];
            assert!(!piece[end + 1..].contains('>'), "raw > in text: {piece:?}");
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            if VOID.contains(&name.as_str()) {
                continue;
            }
            if tag.starts_with('/') {
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "at {piece:?}");
            } else {
                stack.push(name);
            }
        }
        assert!(stack.is_empty(), "left open: {stack:?}");
    }

    #[test]
    fn a_balanced_self_contained_page() {
        let html = sample().to_html();
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert_balanced(&html);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<title>Verification report: driver plugin de`mo</title>"));
        assert!(html.contains("<th scope=\"row\">Version</th><td>1.2.3</td>"));
        assert!(html.contains("<td><code>shell</code></td><td>attribute</td><td><code>string</code></td><td>no</td><td><code>&quot;bash&quot;</code></td>"));
        assert!(html.contains("<pre>starting ```weird``` plugin</pre>"));
        assert!(html.contains("<h2>Task configuration schema</h2>\n<table>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn escapes_everything() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt; "
        );
    }
}
