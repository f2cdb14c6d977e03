//! The `review` command: runs the suite through `check`'s machinery and
//! writes the review package (see `review.rs` for its contents).

use std::path::Path;
use std::process::ExitCode;

use crate::review::{self, Status, Summary};
use crate::{print_verdict, verify, Args};

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `nomad-plugin-testkit review PLUGIN_BIN --out DIR ...`: exit 0 when every
/// requirement is met, 1 when one fails (the package is written either
/// way), 2 when the plugin or the output directory cannot be used.
pub async fn review(args: &Args) -> Result<ExitCode, String> {
    let out = args.out.as_deref().ok_or("review needs --out DIR")?;
    // Checked before the suite runs, so a bad path costs nothing.
    let sha256 = review::sha256_file(&args.plugin)?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let crate_dir = match &args.crate_dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(|e| format!("current directory: {e}"))?,
    };
    let run = verify(args, true).await?;
    let verification = run
        .verification
        .as_ref()
        .ok_or("the verification report was not built")?;
    write(out, "report.html", &verification.to_html())?;
    write(out, "report.md", &verification.to_markdown())?;
    write(out, "junit.xml", &run.report.to_junit_xml())?;
    let log = if run.log_captured {
        let mut text = run.full_log.join("\n");
        text.push('\n');
        text
    } else {
        review::details_log(&run.report)
    };
    write(out, "plugin.log", &log)?;
    let file_name = args
        .plugin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write(out, "SHA256SUMS", &format!("{sha256}  {file_name}\n"))?;
    let checklist = review::checklist(Some(&crate_dir), &run.report);
    let command = verification.command.clone().unwrap_or_default();
    let p = &verification.plugin;
    let summary = Summary {
        binary: &args.plugin,
        sha256: &sha256,
        plugin: (&p.name, &p.plugin_type, &p.version),
        api_versions: &p.api_versions,
        protocols: &verification.protocols,
        machine: &verification.machine,
        command: &command,
        log_captured: run.log_captured,
    };
    write(
        out,
        "REVIEW.md",
        &review::review_markdown(&summary, &checklist),
    )?;
    print_verdict(&run);
    for r in checklist.iter().filter(|r| r.status == Status::Failed) {
        println!("REQUIREMENT FAILED: {}: {}", r.name, r.found);
    }
    let failed = review::failed(&checklist);
    println!(
        "{}: review package in {} ({})",
        if failed { "NOT READY" } else { "READY" },
        out.display(),
        review::FILES.join(", ")
    );
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
