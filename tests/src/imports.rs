//! Import circles between the files of a crate: which module file imports
//! which (`use crate::…`, `use super::…`, `use self::…` and paths such as
//! `crate::server::error::ApiError` in code), and the groups of files that
//! reach one another through such imports.
//!
//! A path names the deepest module file it reaches (`crate::tls::reload::X`
//! is `tls/reload.rs`). A child's imports of its own ancestors are not
//! counted: a child uses what its parent holds for all of its children,
//! while the parent declares and re-exports them. A parent's imports of its
//! children are counted, so a circle through a re-export is found. Pure,
//! apart from reading the files.
//!
//! Depends on no other module of this crate.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// A module path inside a crate, e.g. `["server", "http"]`; the root is empty.
pub type Module = Vec<String>;

/// The module of `file`, a path relative to the crate's `src/`; `None` for
/// files that are not in the library's module tree (`main.rs`, `bin/`).
pub fn module_of(file: &Path) -> Option<Module> {
    let mut parts: Vec<String> = file
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") || parts == ["main.rs"] {
        return None;
    }
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if !(stem == "mod" || stem == "lib" && parts.is_empty()) {
        parts.push(stem.to_owned());
    }
    Some(parts)
}

/// `text` without comments, string and character literals, so that none
/// is read as code.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && at(i + 1) == '/') {
                i += 1;
            }
            i += 2;
            out.push(' ');
        } else if c == 'r' && (at(i + 1) == '"' || at(i + 1) == '#') {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if at(i + 1 + hashes) != '"' {
                out.push(c);
                i += 1;
                continue;
            }
            i += hashes + 2;
            while i < chars.len() && !(chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#')) {
                i += 1;
            }
            i += hashes + 1;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && at(i + 1) == '\\' {
            // A character literal such as '\'' or '\"'.
            i += 3;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '\'' && at(i + 2) == '\'' {
            // A character literal such as '"'.
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Expands a use tree (`crate::{a::{b, c}, d as e}`) into its paths.
fn expand(tree: &str) -> Vec<Vec<String>> {
    fn walk(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let inner = tree[open + 1..].trim_end().trim_end_matches('}');
            let mut path = prefix.to_vec();
            path.extend(head);
            for item in split_top(inner) {
                walk(item, &path, out);
            }
            return;
        }
        let tree = tree.split(" as ").next().unwrap_or(tree);
        let mut path = prefix.to_vec();
        path.extend(
            tree.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "*")
                .map(str::to_owned),
        );
        out.push(path);
    }
    let mut out = Vec::new();
    walk(tree, &[], &mut out);
    out
}

/// The comma-separated items of a brace group, nested groups kept whole.
fn split_top(inner: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
}

/// Every path `text` (the code of module `module`) imports, made absolute
/// within its crate: `use` trees and inline `crate::` paths.
pub fn imported_paths(module: &[String], text: &str) -> Vec<Module> {
    let code = code_only(text);
    let mut trees = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = find_use(rest) {
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        trees.extend(expand(&after[..end]));
        rest = &after[end..];
    }
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let path: Vec<String> = code[at..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or_default()
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        trees.push(path);
    }
    trees
        .into_iter()
        .filter_map(|path| absolute(module, &path))
        .collect()
}

/// The next `use ` that starts a use declaration in `code`.
fn find_use(code: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = code[from..].find("use ") {
        let at = from + i;
        let before = code[..at].chars().next_back();
        if before.is_none_or(|c| c.is_whitespace() || c == ';' || c == '{' || c == '}' || c == ')')
        {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// `path` as written in `module`, from the crate root. A path of another
/// crate (`std::io`) comes out under `module` itself, where it names no
/// module file of its own unless a child module has that name, as in
/// `use child::Item`.
fn absolute(module: &[String], path: &[String]) -> Option<Module> {
    let (first, rest) = path.split_first()?;
    let mut base: Module = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => module.get(..module.len().checked_sub(1)?)?.to_vec(),
        _ => {
            let mut relative = module.to_vec();
            relative.extend(path.iter().cloned());
            return Some(relative);
        }
    };
    let mut rest = rest;
    while let Some((next, tail)) = rest.split_first() {
        if next != "super" {
            break;
        }
        base.pop()?;
        rest = tail;
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The files of one crate and what each imports from the others.
#[derive(Debug, Default)]
pub struct Graph {
    /// Every module file, by module.
    pub files: BTreeMap<Module, PathBuf>,
    /// The modules each module imports (its ancestors excluded).
    pub edges: BTreeMap<Module, BTreeSet<Module>>,
}

fn is_ancestor(a: &[String], b: &[String]) -> bool {
    a.len() < b.len() && b.starts_with(a)
}

impl Graph {
    /// The graph of the crate whose sources are the `(path under src/,
    /// text)` pairs of `sources`.
    pub fn of(sources: &[(PathBuf, String)]) -> Self {
        let mut graph = Self::default();
        let mut texts = Vec::new();
        for (path, text) in sources {
            if let Some(module) = module_of(path) {
                graph.files.insert(module.clone(), path.clone());
                texts.push((module, text));
            }
        }
        for (module, text) in texts {
            let mut targets = BTreeSet::new();
            for path in imported_paths(&module, text) {
                let Some(target) = (0..=path.len())
                    .rev()
                    .map(|n| path[..n].to_vec())
                    .find(|m| graph.files.contains_key(m))
                else {
                    continue;
                };
                if target != module && !is_ancestor(&target, &module) {
                    targets.insert(target);
                }
            }
            graph.edges.insert(module, targets);
        }
        graph
    }

    /// Reads every `.rs` file under `src`.
    pub fn read(src: &Path) -> std::io::Result<Self> {
        let mut sources = Vec::new();
        collect(src, src, &mut sources)?;
        Ok(Self::of(&sources))
    }

    /// The groups of two or more modules that import one another, directly
    /// or through others (strongly connected components), each sorted.
    pub fn circles(&self) -> Vec<Vec<Module>> {
        let mut circles = Vec::new();
        let mut done = BTreeSet::new();
        for start in self.files.keys() {
            if done.contains(start) {
                continue;
            }
            let reach = self.reachable(start);
            let group: Vec<Module> = reach
                .iter()
                .filter(|m| self.reachable(m).contains(start))
                .cloned()
                .collect();
            done.extend(group.iter().cloned());
            if group.len() > 1 {
                circles.push(group);
            }
        }
        circles
    }

    /// Every module `from` reaches, itself included.
    fn reachable(&self, from: &Module) -> BTreeSet<Module> {
        let mut seen = BTreeSet::from([from.clone()]);
        let mut stack = vec![from.clone()];
        while let Some(m) = stack.pop() {
            for next in self.edges.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    }

    /// The file of `module`, for messages.
    pub fn file(&self, module: &Module) -> String {
        self.files
            .get(module)
            .map_or_else(|| module.join("::"), |p| p.display().to_string())
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            out.push((relative, std::fs::read_to_string(&path)?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(path: &str) -> Module {
        path.split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn files_map_to_their_modules() {
        assert_eq!(module_of(Path::new("lib.rs")), Some(m("")));
        assert_eq!(module_of(Path::new("auth/mod.rs")), Some(m("auth")));
        assert_eq!(
            module_of(Path::new("auth/jwt/tests.rs")),
            Some(m("auth::jwt::tests"))
        );
        assert_eq!(module_of(Path::new("main.rs")), None);
        assert_eq!(module_of(Path::new("bin/bench.rs")), None);
    }

    #[test]
    fn use_trees_comments_and_inline_paths_are_read() {
        let text = r#"
            // use crate::commented::Out;
            use std::io;
            use crate::{a::{B, c::D}, e as f};
            pub(crate) use super::g::*;
            fn x() { crate::h::i(); let s = "crate::in_a_string"; let q = '"'; }
            const R: &str = r"crate::in_a_raw_string";
        "#;
        let got = imported_paths(&m("x::y"), text);
        for want in ["a::B", "a::c::D", "e", "x::g", "h::i"] {
            assert!(got.contains(&m(want)), "{want} in {got:?}");
        }
        assert!(
            !got.iter()
                .any(|p| p.first().is_some_and(|s| s == "commented"))
        );
        for literal in ["in_a_string", "in_a_raw_string"] {
            assert!(!got.iter().any(|p| p.first().is_some_and(|s| s == literal)));
        }
    }

    fn graph(files: &[(&str, &str)]) -> Graph {
        let sources: Vec<_> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), (*t).to_owned()))
            .collect();
        Graph::of(&sources)
    }

    #[test]
    fn a_file_importing_one_that_imports_it_back_is_a_circle() {
        let g = graph(&[
            ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
            ("a.rs", "use crate::b::X;"),
            ("b.rs", "use crate::c::Y;"),
            ("c.rs", "fn f() { crate::a::z(); }"),
        ]);
        assert_eq!(g.circles(), vec![vec![m("a"), m("b"), m("c")]]);
    }

    #[test]
    fn a_circle_through_a_parents_reexport_is_found() {
        let g = graph(&[
            ("lib.rs", "pub mod a; pub mod b;"),
            ("a/mod.rs", "mod inner; pub use inner::X;"),
            ("a/inner.rs", "use crate::b::Y;"),
            ("b.rs", "use crate::a::X;"),
        ]);
        assert_eq!(g.circles(), vec![vec![m("a"), m("a::inner"), m("b")]]);
    }

    #[test]
    fn parents_and_children_and_one_way_imports_are_no_circle() {
        let g = graph(&[
            ("lib.rs", "pub mod a; pub mod b;"),
            (
                "a/mod.rs",
                "mod inner; mod other; pub use self::inner::X; use other::Y;",
            ),
            ("a/other.rs", "use super::inner::X;"),
            ("a/inner.rs", "use super::Shared; use crate::b::Y;"),
            ("b.rs", "pub struct Y;"),
        ]);
        assert!(g.circles().is_empty(), "{:?}", g.circles());
    }
}
