//! No circles: in no crate of the workspace does a file import one that
//! imports it back, directly or through others (see `rustymail_tests::imports`).
//!
//! `cargo test -p rustymail-tests --test import_cycles`

use rustymail_tests::{imports::Graph, workspace};

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let mut found = Vec::new();
    for krate in ["config", "dataplane", "operator", "tests"] {
        let src = workspace::root().join(krate).join("src");
        let graph = Graph::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        assert!(graph.files.len() > 1, "{krate}: no modules found");
        for circle in graph.circles() {
            let mut lines = vec![format!("{krate}: a circle of {} files:", circle.len())];
            for module in &circle {
                let back: Vec<String> = graph.edges[module]
                    .iter()
                    .filter(|m| circle.contains(m))
                    .map(|m| graph.file(m))
                    .collect();
                lines.push(format!(
                    "  {} imports {}",
                    graph.file(module),
                    back.join(", ")
                ));
            }
            found.push(lines.join("\n"));
        }
    }
    assert!(found.is_empty(), "\n{}", found.join("\n"));
}
