//! No two modules of the library import each other.
//!
//! Reads every `src/**/*.rs` outside `src/bin` as Rust tokens (so comments, doc comments and
//! string contents never count), leaves out `#[cfg(test)]` items and the files of
//! `#[cfg(test)] mod x;`, and resolves every `crate::…` and `super::…` path, `use` groups
//! included, to the deepest module that has a file of its own. Two such modules that name each
//! other form a cycle, and so do two top-level modules (`files`, `index`, …) whose files name
//! each other's; a module naming one of its ancestors does not count.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path below the crate root (`["index", "mih"]`; the root is empty).
type Module = Vec<String>;

/// Where a module first names another: file and line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Site {
    file: PathBuf,
    line: usize,
}

/// Every module that has a file, with the paths each one names (line by line).
#[derive(Default)]
struct Crate {
    /// Module → its file.
    files: BTreeMap<Module, PathBuf>,
    /// Modules that exist only under `cfg(test)`.
    test_only: BTreeSet<Module>,
    /// Module → (the path it names, absolute from the crate root, and where).
    named: BTreeMap<Module, Vec<(Module, Site)>>,
}

/// The module a file under `src/` defines: `a/b.rs` and `a/b/mod.rs` are `a::b`.
fn module_of(rel: &Path) -> Module {
    let mut m: Module = rel
        .with_extension("")
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if matches!(m.last().map(String::as_str), Some("mod" | "lib")) {
        m.pop();
    }
    m
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

impl Crate {
    /// Reads the library sources under `src` (not `src/bin`).
    fn read(src: &Path) -> Crate {
        let mut paths = Vec::new();
        rust_files(src, &mut paths);
        let mut krate = Crate::default();
        for path in paths {
            let rel = path.strip_prefix(src).expect("under src").to_path_buf();
            if rel.starts_with("bin") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            krate.add(module_of(&rel), Path::new("src").join(&rel), &text);
        }
        krate
    }

    /// Adds one file's module and the paths it names.
    fn add(&mut self, module: Module, file: PathBuf, text: &str) {
        let tokens: TokenStream = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: not Rust: {e:?}", file.display()));
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        if is_test_only_file(&tokens) {
            self.test_only.insert(module.clone());
        }
        let mut named = Vec::new();
        self.walk(&tokens, &module, &file, &mut named);
        self.named.insert(module.clone(), named);
        self.files.insert(module, file);
    }

    /// Walks the items of one module body; `at` is the (possibly inline) module they are in.
    fn walk(
        &mut self,
        tokens: &[TokenTree],
        at: &Module,
        file: &Path,
        out: &mut Vec<(Module, Site)>,
    ) {
        let mut i = 0;
        while i < tokens.len() {
            if let Some(after) = cfg_test_attribute(tokens, i) {
                let end = item_end(tokens, after);
                if let Some(name) = declared_module(&tokens[after..end]) {
                    let mut m = at.clone();
                    m.push(name);
                    self.test_only.insert(m);
                }
                i = end;
                continue;
            }
            // An inline `mod name { … }`: its paths resolve from inside it.
            if let (
                Some(TokenTree::Ident(kw)),
                Some(TokenTree::Ident(name)),
                Some(TokenTree::Group(g)),
            ) = (tokens.get(i), tokens.get(i + 1), tokens.get(i + 2))
            {
                if kw == "mod" && g.delimiter() == Delimiter::Brace {
                    let mut inner = at.clone();
                    inner.push(name.to_string());
                    let body: Vec<TokenTree> = g.stream().into_iter().collect();
                    self.walk(&body, &inner, file, out);
                    i += 3;
                    continue;
                }
            }
            i = scan_path(tokens, i, at, file, out);
        }
    }

    /// The deepest module with a file that `path` (absolute) names, if any.
    fn resolve(&self, path: &[String]) -> Option<Module> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|m| self.files.contains_key(m))
    }

    fn is_test_only(&self, m: &Module) -> bool {
        (1..=m.len()).any(|n| self.test_only.contains(&m[..n]))
    }

    /// Module → module it imports → first place it does so (ancestors and itself left out).
    fn edges(&self) -> BTreeMap<Module, BTreeMap<Module, Site>> {
        let mut edges: BTreeMap<Module, BTreeMap<Module, Site>> = BTreeMap::new();
        for (from, named) in &self.named {
            if self.is_test_only(from) {
                continue;
            }
            for (path, site) in named {
                let Some(to) = self.resolve(path) else {
                    continue;
                };
                if to.is_empty() || from.starts_with(&to) || self.is_test_only(&to) {
                    continue;
                }
                let sites = edges.entry(from.clone()).or_default();
                sites.entry(to).or_insert_with(|| site.clone());
            }
        }
        edges
    }

    /// Every pair of modules (file-level, then top-level) that import each other, described.
    fn cycles(&self) -> Vec<String> {
        let edges = self.edges();
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        let mut describe = |a: &Module, b: &Module, ab: &Site, ba: &Site| {
            if !seen.insert((a.clone(), b.clone())) {
                return;
            }
            found.push(format!(
                "{} <-> {}: {} names {} at {}:{}, and {} names {} at {}:{}",
                a.join("::"),
                b.join("::"),
                a.join("::"),
                b.join("::"),
                ab.file.display(),
                ab.line,
                b.join("::"),
                a.join("::"),
                ba.file.display(),
                ba.line,
            ));
        };
        for (a, targets) in &edges {
            for (b, ab) in targets {
                if let Some(ba) = edges.get(b).and_then(|t| t.get(a)) {
                    if a < b {
                        describe(a, b, ab, ba);
                    }
                }
            }
        }
        // Top-level modules: the first site of any file of `a` naming any module of `b`.
        let mut top: BTreeMap<Module, BTreeMap<Module, Site>> = BTreeMap::new();
        for (from, targets) in &edges {
            for (to, site) in targets {
                let (a, b) = (from[..1].to_vec(), to[..1].to_vec());
                if a != b {
                    top.entry(a)
                        .or_default()
                        .entry(b)
                        .or_insert_with(|| site.clone());
                }
            }
        }
        for (a, targets) in &top {
            for (b, ab) in targets {
                if let Some(ba) = top.get(b).and_then(|t| t.get(a)) {
                    if a < b {
                        describe(a, b, ab, ba);
                    }
                }
            }
        }
        found
    }
}

fn is_punct(t: Option<&TokenTree>, c: char) -> bool {
    matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

/// Whether `tokens[i..]` starts with `::`.
fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!(tokens.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
        && is_punct(tokens.get(i + 1), ':')
}

/// If `tokens[i..]` is `#[cfg(test)]`, the index after it.
fn cfg_test_attribute(tokens: &[TokenTree], i: usize) -> Option<usize> {
    if !is_punct(tokens.get(i), '#') {
        return None;
    }
    let Some(TokenTree::Group(g)) = tokens.get(i + 1) else {
        return None;
    };
    let text = g.stream().to_string().replace(' ', "");
    (g.delimiter() == Delimiter::Bracket && text == "cfg(test)").then_some(i + 2)
}

/// Whether the file starts with the inner attribute `#![cfg(test)]`.
fn is_test_only_file(tokens: &[TokenTree]) -> bool {
    let mut i = 0;
    while is_punct(tokens.get(i), '#') && is_punct(tokens.get(i + 1), '!') {
        if let Some(TokenTree::Group(g)) = tokens.get(i + 2) {
            if g.stream().to_string().replace(' ', "") == "cfg(test)" {
                return true;
            }
        }
        i += 3;
    }
    false
}

/// The end (exclusive) of the item starting at `i`, its attributes included: the first `;` or
/// brace-delimited group at this level.
fn item_end(tokens: &[TokenTree], mut i: usize) -> usize {
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Punct(p) if p.as_char() == ';' => return i + 1,
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The name in `mod name;` (with any attributes and visibility), if the item is one.
fn declared_module(item: &[TokenTree]) -> Option<String> {
    let at = item
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i == "mod"))?;
    match (item.get(at + 1), item.get(at + 2)) {
        (Some(TokenTree::Ident(name)), Some(TokenTree::Punct(p))) if p.as_char() == ';' => {
            Some(name.to_string())
        }
        _ => None,
    }
}

/// Records the path starting at `tokens[i]` when it is `crate::…` or `super::…` (resolved from
/// module `at`), recursing into groups; returns the index of the next token to look at.
fn scan_path(
    tokens: &[TokenTree],
    i: usize,
    at: &Module,
    file: &Path,
    out: &mut Vec<(Module, Site)>,
) -> usize {
    match &tokens[i] {
        TokenTree::Group(g) => {
            let body: Vec<TokenTree> = g.stream().into_iter().collect();
            let mut j = 0;
            while j < body.len() {
                j = scan_path(&body, j, at, file, out);
            }
            i + 1
        }
        TokenTree::Ident(id) if (id == "crate" || id == "super") && is_path_sep(tokens, i + 1) => {
            let mut base: Module = if id == "crate" {
                Vec::new()
            } else {
                at.clone()
            };
            let mut j = i;
            // `super::super::…`
            while matches!(&tokens[j], TokenTree::Ident(s) if s == "super")
                && is_path_sep(tokens, j + 1)
            {
                base.pop();
                j += 3;
            }
            if id == "crate" {
                j += 3;
            }
            let site = Site {
                file: file.to_path_buf(),
                line: id.span().start().line,
            };
            let (paths, next) = use_tree(tokens, j);
            for p in paths {
                let mut full = base.clone();
                full.extend(p);
                out.push((full, site.clone()));
            }
            next
        }
        _ => i + 1,
    }
}

/// Expands the use tree (or plain path) at `tokens[i..]`: `a::b`, `a::{b, c::{d, e}}`, `a::*`.
/// Returns the relative paths it names and the index after it.
fn use_tree(tokens: &[TokenTree], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        match tokens.get(i) {
            Some(TokenTree::Ident(id)) => {
                prefix.push(id.to_string());
                i += 1;
                if is_path_sep(tokens, i) {
                    i += 2;
                    continue;
                }
                return (vec![prefix], i);
            }
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                let body: Vec<TokenTree> = g.stream().into_iter().collect();
                let mut paths = Vec::new();
                for part in body.split(|t| is_punct(Some(t), ',')) {
                    let (sub, _) = use_tree(part, 0);
                    for s in sub {
                        let mut full = prefix.clone();
                        full.extend(s);
                        paths.push(full);
                    }
                }
                return (paths, i + 1);
            }
            // `*`, `<…>` or anything else ends the path.
            _ => return (vec![prefix], i),
        }
    }
}

fn crate_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_two_modules_import_each_other() {
    let krate = Crate::read(&crate_src());
    // The reader sees the crate: a known import is found, so the check cannot pass vacuously.
    let edges = krate.edges();
    let mih = vec!["index".to_string(), "mih".to_string()];
    assert!(
        edges[&mih].contains_key(&vec!["index".to_string(), "hamming".to_string()]),
        "index::mih should import index::hamming: {:?}",
        edges.get(&mih)
    );
    let cycles = krate.cycles();
    assert!(
        cycles.is_empty(),
        "modules that import each other (a third module should own what both need):\n{}",
        cycles.join("\n")
    );
}

/// Builds a crate from `(module, source)` pairs.
fn crate_of(files: &[(&str, &str)]) -> Crate {
    let mut krate = Crate::default();
    for (m, text) in files {
        let module: Module = m
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        krate.add(
            module,
            PathBuf::from(format!("src/{}.rs", m.replace("::", "/"))),
            text,
        );
    }
    krate
}

#[test]
fn layering_finds_cycles_through_groups_super_and_nested_paths() {
    let krate = crate_of(&[
        (
            "a",
            "use crate::{b::{x, y as z}, c};\nfn f() { crate::d::g(); }",
        ),
        (
            "b",
            "// crate::a::x in a comment\nconst S: &str = \"crate::a\";\nfn f() {}",
        ),
        ("c", "pub fn h() {}\nfn k() { super::a::q(); }"),
        ("d", "mod inner {\n    use super::super::a::r;\n}"),
        ("e", "use crate::f::x;"),
        ("f", "use super::e::y;"),
    ]);
    let cycles = krate.cycles();
    assert_eq!(
        cycles,
        [
            "a <-> c: a names c at src/a.rs:1, and c names a at src/c.rs:2",
            "a <-> d: a names d at src/a.rs:2, and d names a at src/d.rs:2",
            "e <-> f: e names f at src/e.rs:1, and f names e at src/f.rs:1",
        ]
    );
}

#[test]
fn layering_ignores_test_code_and_imports_of_ancestors() {
    let krate = crate_of(&[
        (
            "x",
            "#[cfg(test)]\nmod tests;\n#[cfg(test)]\nfn t() { crate::y::z(); }\npub fn f() {}",
        ),
        ("x::tests", "use crate::y::q;"),
        ("x::child", "use super::f;\nuse crate::x::f as g;"),
        (
            "y",
            "use crate::x::child::h;\n#[cfg(test)]\nmod tests {\n    use crate::x::f;\n}",
        ),
    ]);
    assert_eq!(krate.cycles(), Vec::<String>::new());
    // Top level: `y` names `x::child`, and nothing outside tests of `x` names `y`.
    let edges = krate.edges();
    assert_eq!(edges.len(), 1, "{edges:?}");
}
