//! The code's layout keeps the border between the page and the models' thread: no import cycle
//! between modules of `src/`, and no file of the models' thread (`src/worker/`) or of what both
//! threads share (`src/protocol.rs`, `src/net.rs`, `src/latest.rs`) imports Leptos or the page.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path (`["app", "state"]`).
type Module = Vec<String>;
/// Each module and the modules it imports.
type Graph = BTreeMap<Module, BTreeSet<Module>>;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The module a file defines (`src/app/state.rs` -> `app::state`, `src/app/mod.rs` -> `app`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The `use` paths of a file's code (comments and its unit tests left out), one per name
/// imported: `use super::{a, b::c};` gives `super::a` and `super::b::c`.
fn imports(code: &str) -> Vec<String> {
    let code: String = code
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    for statement in code.split(';') {
        let Some(at) = statement.find("use ") else {
            continue;
        };
        let body = statement[at + 4..]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        expand("", &body, &mut paths);
    }
    paths
}

/// Expands one use tree (`a::{b, c::{d, e}}`) into paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(format!("{prefix}{path}"));
        return;
    };
    let head = format!("{prefix}{}", tree[..open].trim());
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let item = inner[start..i].trim();
                if item == "self" {
                    out.push(head.trim_end_matches("::").to_string());
                } else if !item.is_empty() {
                    expand(&head, item, out);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
}

/// The module of `modules` a `crate::`/`super::` path from `current` lands in.
fn resolve(current: &[String], path: &str, modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut parts = path.split("::").map(str::to_string).peekable();
    let mut base: Vec<String> = match parts.peek().map(String::as_str) {
        Some("crate") => {
            parts.next();
            Vec::new()
        }
        Some("super") => {
            let mut base = current.to_vec();
            while parts.peek().map(String::as_str) == Some("super") {
                parts.next();
                base.pop();
            }
            base
        }
        _ => return None,
    };
    base.extend(parts);
    (1..=base.len())
        .rev()
        .map(|n| base[..n].to_vec())
        .find(|m| modules.contains(m))
}

/// The import graph of `src/` and each module's code.
fn module_graph() -> (Graph, BTreeMap<Module, String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<PathBuf> = rust_files(&src)
        .into_iter()
        .filter(|f| !f.starts_with(src.join("bin")))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let (mut graph, mut code) = (BTreeMap::new(), BTreeMap::new());
    for file in &files {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let deps: BTreeSet<Vec<String>> = imports(&text)
            .iter()
            .filter_map(|p| resolve(&module, p, &modules))
            .filter(|d| *d != module)
            .collect();
        graph.insert(module.clone(), deps);
        code.insert(module, text);
    }
    (graph, code)
}

/// Whether `to` is reachable from `from`.
fn reaches(graph: &Graph, from: &[String], to: &[String]) -> bool {
    let (mut seen, mut stack) = (BTreeSet::new(), vec![from.to_vec()]);
    while let Some(m) = stack.pop() {
        for next in graph.get(&m).into_iter().flatten() {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    false
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let (graph, _) = module_graph();
    assert!(
        graph.len() > 50,
        "the walk found the modules: {}",
        graph.len()
    );
    let mut cycles = Vec::new();
    for (module, deps) in &graph {
        for dep in deps {
            // A module and its own parent or child (`mod.rs` declaring it) are one unit.
            let nested = dep.starts_with(module) || module.starts_with(dep);
            if !nested && reaches(&graph, dep, module) {
                cycles.push(format!("{} <-> {}", module.join("::"), dep.join("::")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn the_models_thread_and_what_both_threads_share_know_nothing_of_the_page() {
    let (graph, code) = module_graph();
    let page = vec!["app".to_string()];
    let apart: Vec<&Vec<String>> = graph
        .keys()
        .filter(|m| {
            m.first().map(String::as_str) == Some("worker")
                || matches!(m.as_slice(), [one] if ["protocol", "net", "latest"].contains(&one.as_str()))
        })
        .collect();
    assert!(apart.len() >= 7, "{apart:?}");
    for module in apart {
        let name = module.join("::");
        assert!(!reaches(&graph, module, &page), "{name} reaches the page");
        assert!(!code[module].contains("leptos"), "{name} uses Leptos");
    }
    // And the page talks to the models' thread through the protocol, not its insides.
    for (module, deps) in &graph {
        if module.first() == Some(&page[0]) {
            assert!(
                deps.iter()
                    .all(|d| d.first().map(String::as_str) != Some("worker")),
                "{} imports the models' thread",
                module.join("::")
            );
        }
    }
}

#[test]
fn use_trees_expand_into_paths() {
    assert_eq!(
        imports("use super::{a, b::{c, d as e}};\nuse crate::f; // use crate::g;"),
        vec!["super::a", "super::b::c", "super::b::d", "crate::f"]
    );
}
