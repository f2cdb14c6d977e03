//! Replays every fuzz corpus file of `fuzz/corpus/<target>/` through the
//! same entry points the fuzz targets use (`fuzz/src/lib.rs`), on stable
//! Rust, so each crash found by fuzzing stays a regression test.
#[path = "../fuzz/src/lib.rs"]
mod entry;

use std::path::Path;

#[test]
fn every_corpus_file_decodes_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (name, target) in entry::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name}: the corpus is empty");
        for file in &files {
            let bytes = std::fs::read(file).expect("corpus file");
            eprintln!("{name}: {}", file.display());
            target(&bytes);
        }
        total += files.len();
    }
    eprintln!("replayed {total} corpus files");
}

/// Regenerates the `hclspec_proto` seeds from the derived schemas:
/// `cargo test -p nomad-plugin-sdk --test corpus -- --ignored write_spec_seeds`.
#[test]
#[ignore = "writes seed files; run by hand"]
fn write_spec_seeds() {
    use nomad_plugin_sdk::config::schema::ConfigSchema;
    use prost::Message;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/hclspec_proto");
    for (name, spec) in [
        ("rich", entry::Rich::schema()),
        ("rsexec-task", entry::RsExecTask::schema()),
        ("mount", entry::Mount::schema()),
    ] {
        std::fs::write(
            dir.join(format!("{name}.pb")),
            spec.to_proto().encode_to_vec(),
        )
        .expect("write seed");
    }
}
