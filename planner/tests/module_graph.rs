//! The planner's modules (and pg_compat's and the gateway's) depend on each other one
//! way: no import cycle among their files, and none among their top-level folders.
//!
//! Reads `src/` as text, resolves every `crate::`, `super::`, `self::` and child-module
//! path (in `use` trees and inline) to the file that defines it, following re-exports,
//! and looks for strongly connected components. Run it alone with
//! `cargo test -p lakegate-planner --test module_graph`; set `MODULE_GRAPH=1` to print
//! every edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path from the crate root (`[]` is `lib.rs`).
type ModPath = Vec<String>;

struct Module {
    /// Names of child modules declared with `mod NAME;` (file modules only).
    children: BTreeSet<String>,
    /// Names this module brings into scope with `use`, to the absolute path they name.
    imports: BTreeMap<String, Vec<String>>,
    /// Absolute paths this module refers to (from `use` and inline), before resolution.
    references: Vec<Vec<String>>,
}

#[test]
fn planner_modules_have_no_import_cycle() {
    check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
}

/// The PostgreSQL emulation the planner and the gateway share.
#[test]
fn pg_compat_modules_have_no_import_cycle() {
    check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../pg_compat/src"));
}

/// The gateway's frontends (its `pg` module's files import each other one way too).
#[test]
fn gateway_modules_have_no_import_cycle() {
    check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/src"));
}

fn check(root: &Path) {
    let modules = read_crate(root);
    let edges = resolve_edges(&modules);
    if std::env::var_os("MODULE_GRAPH").is_some() {
        for (from, tos) in &edges {
            for to in tos {
                println!("{} -> {}", show(from), show(to));
            }
        }
    }

    let cycles = cycles(&edges);
    assert!(
        cycles.is_empty(),
        "import cycles among the files of {}:\n{}",
        root.display(),
        describe(&cycles, &edges)
    );

    // The same graph with every file folded into its top-level module (folder).
    let mut folders: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (from, tos) in &edges {
        let top = top_level(from);
        let entry = folders.entry(top.clone()).or_default();
        for to in tos {
            let target = top_level(to);
            if target != top {
                entry.insert(target);
            }
        }
    }
    let cycles = cycles_of(&folders);
    assert!(
        cycles.is_empty(),
        "import cycles among the top-level modules of {}:\n{}",
        root.display(),
        describe(&cycles, &folders)
    );
}

fn top_level(path: &ModPath) -> ModPath {
    path.iter().take(1).cloned().collect()
}

fn show(path: &ModPath) -> String {
    if path.is_empty() {
        "crate".to_string()
    } else {
        path.join("::")
    }
}

fn describe(cycles: &[Vec<ModPath>], edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> String {
    let mut out = String::new();
    for cycle in cycles {
        let members: BTreeSet<&ModPath> = cycle.iter().collect();
        out.push_str(&format!(
            "  cycle of {}: {}\n",
            cycle.len(),
            cycle.iter().map(show).collect::<Vec<_>>().join(", ")
        ));
        for from in cycle {
            for to in edges.get(from).into_iter().flatten() {
                if members.contains(to) {
                    out.push_str(&format!("    {} -> {}\n", show(from), show(to)));
                }
            }
        }
    }
    out
}

fn read_crate(src: &Path) -> BTreeMap<ModPath, Module> {
    let mut files = Vec::new();
    collect_files(src, &mut files);
    let paths: BTreeMap<PathBuf, ModPath> = files
        .iter()
        .map(|file| (file.clone(), module_path(src, file)))
        .collect();
    // `#[path = "f.rs"] mod name;` makes f.rs the module `name` of the declaring file.
    let mut renamed: BTreeMap<PathBuf, ModPath> = BTreeMap::new();
    for (file, path) in &paths {
        let text = std::fs::read_to_string(file).expect("read source file");
        for (target, name) in path_attributes(&text) {
            let dir = file.parent().expect("file in a directory");
            let mut module = path.clone();
            module.push(name);
            renamed.insert(dir.join(target), module);
        }
    }
    let mut modules = BTreeMap::new();
    for (file, path) in paths {
        let path = renamed.get(&file).cloned().unwrap_or(path);
        let text = std::fs::read_to_string(&file).expect("read source file");
        modules.insert(path.clone(), parse_module(&path, &strip(&text)));
    }
    modules
}

fn module_path(src: &Path, file: &Path) -> ModPath {
    let relative = file.strip_prefix(src).expect("file under src");
    let mut path: ModPath = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        path.pop();
    }
    path
}

/// The (file, module name) of each `#[path = "file"] mod name;` in `text`.
fn path_attributes(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[path = \"") {
        rest = &rest[at + 10..];
        let Some(end) = rest.find('"') else { break };
        let target = rest[..end].to_string();
        let after = rest[end..].trim_start_matches(['"', ']']).trim_start();
        if let Some(declaration) = after.strip_prefix("mod ")
            && let Some(name) = declaration.split(';').next()
        {
            found.push((target, name.trim().to_string()));
        }
        rest = &rest[end..];
    }
    found
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("read src directory");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments, string and char literals (kept as empty quotes).
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !ident_before(&chars, i) {
            // Raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push(Token::PathSep);
            i += 2;
        } else if c.is_whitespace() || c.is_numeric() {
            i += 1;
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
}

fn parse_module(path: &ModPath, text: &str) -> Module {
    let tokens = tokenize(text);
    let mut module = Module {
        children: BTreeSet::new(),
        imports: BTreeMap::new(),
        references: Vec::new(),
    };
    // Inline modules (`mod tests { … }`) open at a brace depth; `super` inside them first
    // climbs out of them, and their own `use`s do not name items of the file.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let Some(Token::Ident(name)) = tokens.get(i + 1) {
                    match tokens.get(i + 2) {
                        Some(Token::Punct(';')) if inline.is_empty() => {
                            module.children.insert(name.clone());
                        }
                        Some(Token::Punct('{')) => {
                            inline.push(depth);
                            depth += 1;
                            i += 3;
                            continue;
                        }
                        _ => {}
                    }
                }
            }
            Token::Ident(word) if word == "use" => {
                let mut end = i + 1;
                while end < tokens.len() && tokens[end] != Token::Punct(';') {
                    end += 1;
                }
                let mut leaves = Vec::new();
                use_tree(&tokens[i + 1..end], Vec::new(), &mut leaves);
                for (segments, alias) in leaves {
                    let Some(absolute) = absolute(path, inline.len(), &segments, &module) else {
                        continue;
                    };
                    if inline.is_empty()
                        && let Some(name) = alias
                    {
                        module.imports.insert(name, absolute.clone());
                    }
                    module.references.push(absolute);
                }
                i = end;
                continue;
            }
            Token::Ident(word)
                if (word == "crate" || word == "super" || word == "self")
                    && tokens.get(i + 1) == Some(&Token::PathSep)
                    && !matches!(i.checked_sub(1).map(|p| &tokens[p]), Some(Token::PathSep)) =>
            {
                let mut segments = vec![word.clone()];
                let mut j = i + 1;
                while tokens.get(j) == Some(&Token::PathSep) {
                    match tokens.get(j + 1) {
                        Some(Token::Ident(next)) => segments.push(next.clone()),
                        _ => break,
                    }
                    j += 2;
                }
                if let Some(absolute) = absolute(path, inline.len(), &segments, &module) {
                    module.references.push(absolute);
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    module
}

/// Expands a `use` tree into its leaves: (path segments, name it binds or `None` for a glob).
fn use_tree(tokens: &[Token], prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    let mut segments = prefix;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Ident(word) if word == "as" => {
                if let Some(Token::Ident(alias)) = tokens.get(i + 1) {
                    out.push((segments.clone(), Some(alias.clone())));
                }
                return;
            }
            // `pub(crate)`/`pub(super)`: skip the restriction.
            Token::Ident(word)
                if word == "pub"
                    && segments.is_empty()
                    && tokens.get(i + 1) == Some(&Token::Punct('(')) =>
            {
                while i < tokens.len() && tokens[i] != Token::Punct(')') {
                    i += 1;
                }
            }
            Token::Ident(word) if word == "pub" && segments.is_empty() => {}
            Token::Ident(word) => segments.push(word.clone()),
            Token::PathSep => {}
            Token::Punct('*') => {
                out.push((segments.clone(), None));
                return;
            }
            Token::Punct('{') => {
                // Split the group at top-level commas.
                let mut level = 0;
                let mut start = i + 1;
                for j in i + 1..tokens.len() {
                    match tokens[j] {
                        Token::Punct('{') => level += 1,
                        Token::Punct('}') if level == 0 => {
                            if start < j {
                                use_tree(&tokens[start..j], segments.clone(), out);
                            }
                            return;
                        }
                        Token::Punct('}') => level -= 1,
                        Token::Punct(',') if level == 0 => {
                            use_tree(&tokens[start..j], segments.clone(), out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(last) = segments.last().cloned() {
        let name = if last == "self" {
            segments.pop();
            segments.last().cloned()
        } else {
            Some(last)
        };
        out.push((segments, name));
    }
}

/// The crate-absolute form of a path written in module `path`, or `None` for paths into
/// other crates.
fn absolute(
    path: &ModPath,
    inline_depth: usize,
    segments: &[String],
    module: &Module,
) -> Option<Vec<String>> {
    let first = segments.first()?;
    let mut base: Vec<String> = path.clone();
    let mut rest = segments;
    match first.as_str() {
        "crate" => {
            base.clear();
            rest = &segments[1..];
        }
        "self" => rest = &segments[1..],
        "super" => {
            let mut climbs = inline_depth;
            while rest.first().is_some_and(|s| s == "super") {
                if climbs > 0 {
                    climbs -= 1;
                } else {
                    base.pop();
                }
                rest = &rest[1..];
            }
        }
        name if module.children.contains(name) => {}
        name if module.imports.contains_key(name) => {
            let mut resolved = module.imports[name].clone();
            resolved.extend(segments[1..].iter().cloned());
            return Some(resolved);
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file module that defines what an absolute path names, following re-exports.
fn resolve(modules: &BTreeMap<ModPath, Module>, target: &[String], hops: usize) -> ModPath {
    let mut current: ModPath = Vec::new();
    for (at, segment) in target.iter().enumerate() {
        let mut child = current.clone();
        child.push(segment.clone());
        if modules.contains_key(&child) {
            current = child;
            continue;
        }
        if hops < 8
            && let Some(module) = modules.get(&current)
            && let Some(import) = module.imports.get(segment)
        {
            let mut next = import.clone();
            next.extend(target[at + 1..].iter().cloned());
            return resolve(modules, &next, hops + 1);
        }
        break;
    }
    current
}

fn resolve_edges(modules: &BTreeMap<ModPath, Module>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (path, module) in modules {
        let entry = edges.entry(path.clone()).or_default();
        for reference in &module.references {
            let target = resolve(modules, reference, 0);
            // A module's own items, and the crate root's re-exports (which resolve
            // further) are not edges.
            if &target != path && !target.is_empty() {
                entry.insert(target);
            }
        }
    }
    edges
}

fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    cycles_of(edges)
}

/// Strongly connected components of more than one node (Tarjan).
fn cycles_of(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        next: usize,
        found: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a ModPath) {
        state.index.insert(node, state.next);
        state.low.insert(node, state.next);
        state.next += 1;
        state.stack.push(node);
        state.on_stack.insert(node);
        if let Some(targets) = state.edges.get(node) {
            for target in targets {
                if !state.index.contains_key(target) {
                    // Targets that are not files (a path into a folder's items) still
                    // have an entry when they are modules; others have no edges.
                    let target: &'a ModPath = state
                        .edges
                        .get_key_value(target)
                        .map(|(k, _)| k)
                        .unwrap_or(target);
                    visit(state, target);
                    let low = state.low[target].min(state.low[node]);
                    state.low.insert(node, low);
                } else if state.on_stack.contains(target) {
                    let low = state.index[target].min(state.low[node]);
                    state.low.insert(node, low);
                }
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top.clone());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}
