//! No import circle between modules, in any crate of the workspace: in each
//! folder of modules, the `crate::` and `super::` paths by which each
//! module's source names its siblings form a graph without a cycle, so that each module can be read, tested and split
//! off apart from the ones that use it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// Every `<prefix>::<name>` in `text`, outside comments.
fn named_modules(text: &str, prefix: &str) -> BTreeSet<String> {
    let prefix = format!("{prefix}::");
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| {
            line.match_indices(&prefix)
                .filter(|(at, _)| !line[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':'))
                .map(|(at, _)| {
                    line[at + prefix.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect::<String>()
                })
                // `super::super::x` names x, not a module called super.
                .filter(|name| name != "super")
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `super::super…` that leads from `file`'s module back up to `folder`:
/// one `super` for `folder/a.rs` and `folder/a/mod.rs`, two for `folder/a/b.rs`.
fn super_to(folder: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(folder).unwrap();
    let depth = relative.components().count() - usize::from(relative.ends_with("mod.rs"));
    vec!["super"; depth].join("::")
}

/// The modules in `folder` (whose path is `prefix`) and the others each
/// names; then the same for every folder of modules inside it.
fn module_graphs(folder: &Path, prefix: &str, out: &mut Vec<(String, BTreeMap<String, BTreeSet<String>>)>) {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if !["lib", "main", "mod"].contains(&name.as_str())
            && (path.is_dir() || name.len() + 3 == path.file_name().unwrap().len())
        {
            let mut files = Vec::new();
            rust_files(&path, &mut files);
            if path.is_dir() {
                module_graphs(&path, &format!("{prefix}::{name}"), out);
            }
            modules.entry(name).or_default().extend(files);
        }
    }
    let graph = modules
        .iter()
        .map(|(name, files)| {
            let named = files
                .iter()
                .flat_map(|f| {
                    let text = std::fs::read_to_string(f).unwrap();
                    let mut named = named_modules(&text, prefix);
                    named.extend(named_modules(&text, &super_to(folder, f)));
                    named
                })
                .filter(|other| other != name && modules.contains_key(other))
                .collect();
            (name.clone(), named)
        })
        .collect();
    out.push((format!("{} ({prefix})", folder.display()), graph));
}

/// Every folder of modules in the workspace, with its graph.
fn workspace_graphs() -> Vec<(String, BTreeMap<String, BTreeSet<String>>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut sources = vec![root.join("src"), root.join("worker/src")];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        sources.push(entry.unwrap().path().join("src"));
    }
    let mut out = Vec::new();
    for source in sources {
        module_graphs(&source, "crate", &mut out);
    }
    out
}

/// A cycle through `from`, as the path that closes it, if there is one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        for next in &graph[path.last().unwrap()] {
            let mut longer = path.clone();
            longer.push(next.clone());
            if next == from {
                return Some(longer);
            }
            if seen.insert(next.clone()) {
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn the_modules_import_each_other_without_a_circle() {
    let graphs = workspace_graphs();
    // The reading finds the crates, the nested folders and the imports there are.
    let images = graphs
        .iter()
        .find(|(folder, _)| folder.contains("chexlens-images/src (crate)"))
        .unwrap();
    assert!(images.1["input"].contains("dicom") && images.1["dicom"].contains("image"));
    let app = graphs
        .iter()
        .find(|(_, graph)| graph.contains_key("batch") && graph.contains_key("viewer"));
    assert!(app.is_some_and(|(folder, _)| folder.ends_with("(crate::app)")));
    // and the `super::` paths: the batch's queue names its state so.
    let batch = graphs
        .iter()
        .find(|(folder, _)| folder.ends_with("(crate::app::batch)"))
        .unwrap();
    assert!(batch.1["queue"].contains("state"));
    for (folder, graph) in &graphs {
        for module in graph.keys() {
            if let Some(cycle) = cycle_from(graph, module) {
                panic!("an import circle in {folder}: {}", cycle.join(" -> "));
            }
        }
    }
}

#[test]
fn a_circle_is_found_where_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", &["b"][..]), ("b", &["c"]), ("c", &["a"]), ("d", &["a"])]
        .into_iter()
        .map(|(m, deps)| (m.to_owned(), deps.iter().map(|d| d.to_string()).collect()))
        .collect();
    assert_eq!(cycle_from(&graph, "a").unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(cycle_from(&graph, "d"), None);
}

#[test]
fn super_paths_lead_back_to_the_folder() {
    let folder = Path::new("/x/src/app");
    assert_eq!(super_to(folder, Path::new("/x/src/app/a.rs")), "super");
    assert_eq!(super_to(folder, Path::new("/x/src/app/a/mod.rs")), "super");
    assert_eq!(super_to(folder, Path::new("/x/src/app/a/b.rs")), "super::super");
    let text = "use super::queue::Phase;\nuse super::super::app::x;\n// super::ignored\nlet y = super::state::f();";
    assert_eq!(
        named_modules(text, "super"),
        ["queue", "state"].map(String::from).into()
    );
}
