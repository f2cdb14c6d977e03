//! `cargo xtask public-api [--bless]`: a snapshot of the public API of the
//! published library crates, kept in the repository and checked by
//! `cargo xtask test`, so a change to the surface shows up as a diff in
//! review.
//!
//! `cargo public-api` needs a nightly rustdoc whose JSON format matches
//! its own version; this lister works on stable from the sources instead:
//! it parses each crate with `syn`, follows `mod` declarations and `pub use`
//! re-exports from the crate root, and prints every item a user can name
//! under every path they can name it by, without bodies and doc comments,
//! formatted with `prettyplease`. Items with their own `cfg` attributes are
//! listed with them, whatever features are on (a `cfg` on a whole module is
//! not repeated on its items).
//!
//! Known limits, kept on purpose: `macro_rules!` exports, blanket impls and
//! auto traits are not listed, and a re-export of a whole module is listed
//! as that module's path rather than expanded again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use syn::{Attribute, Item, UseTree, Visibility};

/// The crates whose surface is guarded, and where their snapshots live.
const CRATES: &[(&str, &str)] = &[
    ("nomad_plugin_sdk", "nomad-plugin-sdk"),
    ("nomad_plugin_testkit", "nomad-plugin-testkit"),
];

/// How many re-exports a path may go through before the lister gives up
/// on it (and lists the `use` as written).
const MAX_HOPS: usize = 16;

/// The snapshot file inside each crate's directory.
pub const SNAPSHOT: &str = "public-api.txt";

/// `cargo xtask public-api [--bless]`.
pub fn public_api(args: &[String]) -> Result<()> {
    let bless = match args {
        [] => false,
        [flag] if flag == "--bless" => true,
        _ => bail!("usage: cargo xtask public-api [--bless]"),
    };
    let mut stale = Vec::new();
    for (name, dir) in CRATES {
        let dir = crate::root().join(dir);
        let listing = list_crate(name, &dir.join("src/lib.rs"))?;
        let file = dir.join(SNAPSHOT);
        let current = std::fs::read_to_string(&file).unwrap_or_default();
        if current == listing {
            eprintln!("xtask: {} is up to date", file.display());
            continue;
        }
        if bless {
            std::fs::write(&file, &listing)
                .with_context(|| format!("writing {}", file.display()))?;
            eprintln!("xtask: wrote {}", file.display());
        } else {
            eprintln!("{}", diff(&current, &listing));
            stale.push(file.display().to_string());
        }
    }
    if !stale.is_empty() {
        bail!(
            "the public API differs from {} (diff above: - snapshot, + sources). If the change is \
             intended, run `cargo xtask public-api --bless` and commit the snapshot with it.",
            stale.join(", ")
        );
    }
    Ok(())
}

/// Lines only in `old` (`-`) and only in `new` (`+`), in order.
fn diff(old: &str, new: &str) -> String {
    let old_lines: BTreeSet<&str> = old.lines().collect();
    let new_lines: BTreeSet<&str> = new.lines().collect();
    let mut out = String::new();
    for l in old.lines().filter(|l| !new_lines.contains(l)) {
        let _ = writeln!(out, "- {l}");
    }
    for l in new.lines().filter(|l| !old_lines.contains(l)) {
        let _ = writeln!(out, "+ {l}");
    }
    out
}

/// One module of the crate, as parsed.
struct Module {
    /// Whether it is declared `pub`.
    public: bool,
    /// Its `pub` items by name (a name may carry a type and a fn-like macro).
    items: BTreeMap<String, Vec<Item>>,
    /// Its `use` declarations, public or not: (public, tree).
    uses: Vec<(bool, UseTree)>,
    /// Child modules by name.
    children: BTreeMap<String, usize>,
    /// The parent module, except for the root.
    parent: Option<usize>,
    /// Inherent and trait impls written in this module.
    impls: Vec<syn::ItemImpl>,
}

struct Crate {
    name: String,
    modules: Vec<Module>,
}

/// The listing of one crate, as written to its snapshot.
pub fn list_crate(name: &str, lib: &Path) -> Result<String> {
    let mut krate = Crate {
        name: name.to_string(),
        modules: Vec::new(),
    };
    let file = parse(lib)?;
    krate.load(
        None,
        true,
        file.items,
        lib.parent().unwrap_or(Path::new(".")),
    )?;
    let mut out = BTreeMap::new();
    let mut seen = BTreeSet::new();
    krate.expose(0, name.to_string(), &mut out, &mut seen);
    let mut text = format!(
        "# The public API of {name}, one item per block, as `cargo xtask public-api` lists it.\n\
         # Regenerate with `cargo xtask public-api --bless` when a change is intended.\n"
    );
    for (path, rendered) in out {
        let _ = writeln!(text, "\n// {path}\n{}", rendered.trim_end());
    }
    Ok(text)
}

fn parse(path: &Path) -> Result<syn::File> {
    let src =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    syn::parse_file(&src).with_context(|| format!("parsing {}", path.display()))
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

fn item_vis(item: &Item) -> Option<&Visibility> {
    Some(match item {
        Item::Const(i) => &i.vis,
        Item::Enum(i) => &i.vis,
        Item::Fn(i) => &i.vis,
        Item::Mod(i) => &i.vis,
        Item::Static(i) => &i.vis,
        Item::Struct(i) => &i.vis,
        Item::Trait(i) => &i.vis,
        Item::Type(i) => &i.vis,
        Item::Union(i) => &i.vis,
        Item::Use(i) => &i.vis,
        _ => return None,
    })
}

fn item_name(item: &Item) -> Option<String> {
    Some(match item {
        Item::Const(i) => i.ident.to_string(),
        Item::Enum(i) => i.ident.to_string(),
        Item::Fn(i) => i.sig.ident.to_string(),
        Item::Static(i) => i.ident.to_string(),
        Item::Struct(i) => i.ident.to_string(),
        Item::Trait(i) => i.ident.to_string(),
        Item::Type(i) => i.ident.to_string(),
        Item::Union(i) => i.ident.to_string(),
        _ => return None,
    })
}

/// `#[cfg(test)]` code is not part of the API.
fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .map(|m| m.path().is_ident("test"))
                .unwrap_or(false)
    })
}

/// The file of `mod name;` declared in `dir` (the directory that holds the
/// declaring module's children), honouring `#[path]`.
fn module_file(dir: &Path, name: &str, attrs: &[Attribute]) -> Result<(PathBuf, PathBuf)> {
    for a in attrs {
        if a.path().is_ident("path") {
            if let syn::Meta::NameValue(nv) = &a.meta {
                if let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) = &nv.value
                {
                    let file = dir.join(s.value());
                    let child_dir = file.with_extension("");
                    return Ok((file, child_dir));
                }
            }
        }
    }
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        return Ok((flat, dir.join(name)));
    }
    let nested = dir.join(name).join("mod.rs");
    if nested.exists() {
        return Ok((nested, dir.join(name)));
    }
    bail!("no file for `mod {name};` in {}", dir.display())
}

impl Crate {
    /// Adds a module with `items`, whose children live in `dir`.
    fn load(
        &mut self,
        parent: Option<usize>,
        public: bool,
        items: Vec<Item>,
        dir: &Path,
    ) -> Result<usize> {
        let id = self.modules.len();
        self.modules.push(Module {
            public,
            items: BTreeMap::new(),
            uses: Vec::new(),
            children: BTreeMap::new(),
            parent,
            impls: Vec::new(),
        });
        for item in items {
            let attrs: &[Attribute] = match &item {
                Item::Mod(m) => &m.attrs,
                Item::Impl(i) => &i.attrs,
                Item::Use(u) => &u.attrs,
                _ => &[],
            };
            if is_test_only(attrs) || is_test_only(item_attrs(&item)) {
                continue;
            }
            match item {
                Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let public = is_pub(&m.vis);
                    let child = match m.content {
                        Some((_, inline)) => {
                            self.load(Some(id), public, inline, &dir.join(&name))?
                        }
                        None => {
                            let (file, child_dir) = module_file(dir, &name, &m.attrs)?;
                            let parsed = parse(&file)?;
                            self.load(Some(id), public, parsed.items, &child_dir)?
                        }
                    };
                    self.modules[id].children.insert(name, child);
                }
                Item::Use(u) => {
                    let public = is_pub(&u.vis);
                    self.modules[id].uses.push((public, u.tree));
                }
                Item::Impl(i) => self.modules[id].impls.push(i),
                other => {
                    if let (Some(vis), Some(name)) = (item_vis(&other), item_name(&other)) {
                        if is_pub(vis) {
                            self.modules[id].items.entry(name).or_default().push(other);
                        }
                    }
                }
            }
        }
        Ok(id)
    }

    /// Lists what module `id` exposes under the public path `prefix`.
    fn expose(
        &self,
        id: usize,
        prefix: String,
        out: &mut BTreeMap<String, String>,
        seen: &mut BTreeSet<(usize, String)>,
    ) {
        if !seen.insert((id, prefix.clone())) {
            return;
        }
        let module = &self.modules[id];
        for (name, items) in &module.items {
            for item in items {
                self.emit(id, item, &format!("{prefix}::{name}"), out);
            }
        }
        for (name, &child) in &module.children {
            if self.modules[child].public {
                self.expose(child, format!("{prefix}::{name}"), out, seen);
            }
        }
        for (public, tree) in &module.uses {
            if *public {
                self.expose_use(id, tree, Vec::new(), &prefix, out, seen);
            }
        }
    }

    /// Follows one `pub use` tree declared in module `id`.
    fn expose_use(
        &self,
        id: usize,
        tree: &UseTree,
        mut path: Vec<String>,
        prefix: &str,
        out: &mut BTreeMap<String, String>,
        seen: &mut BTreeSet<(usize, String)>,
    ) {
        match tree {
            UseTree::Path(p) => {
                path.push(p.ident.to_string());
                self.expose_use(id, &p.tree, path, prefix, out, seen);
            }
            UseTree::Group(g) => {
                for t in &g.items {
                    self.expose_use(id, t, path.clone(), prefix, out, seen);
                }
            }
            UseTree::Name(n) => {
                let name = n.ident.to_string();
                path.push(name.clone());
                self.expose_target(id, &path, &name, prefix, out, seen);
            }
            UseTree::Rename(r) => {
                path.push(r.ident.to_string());
                self.expose_target(id, &path, &r.rename.to_string(), prefix, out, seen);
            }
            UseTree::Glob(_) => match self.resolve_module(id, &path) {
                Some(target) => {
                    let target_module = &self.modules[target];
                    for (name, items) in &target_module.items {
                        for item in items {
                            self.emit(target, item, &format!("{prefix}::{name}"), out);
                        }
                    }
                    for (public, tree) in &target_module.uses {
                        if *public {
                            self.expose_use(target, tree, Vec::new(), prefix, out, seen);
                        }
                    }
                }
                None => {
                    out.insert(
                        format!("{prefix}::*"),
                        format!("pub use {}::*;", path.join("::")),
                    );
                }
            },
        }
    }

    /// Lists the item `path` (from module `id`) under `prefix::name`.
    fn expose_target(
        &self,
        id: usize,
        path: &[String],
        name: &str,
        prefix: &str,
        out: &mut BTreeMap<String, String>,
        seen: &mut BTreeSet<(usize, String)>,
    ) {
        self.expose_target_within(id, path, name, prefix, out, seen, 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn expose_target_within(
        &self,
        id: usize,
        path: &[String],
        name: &str,
        prefix: &str,
        out: &mut BTreeMap<String, String>,
        seen: &mut BTreeSet<(usize, String)>,
        hops: usize,
    ) {
        let public_path = format!("{prefix}::{name}");
        if hops > MAX_HOPS || path.is_empty() {
            out.insert(public_path, format!("pub use {};", path.join("::")));
            return;
        }
        let (module_path, last) = path.split_at(path.len() - 1);
        let Some(module) = self.resolve_module(id, module_path) else {
            out.insert(public_path, format!("pub use {};", path.join("::")));
            return;
        };
        let last = &last[0];
        if last == "self" {
            self.expose_module_alias(module, &public_path, out, seen);
            return;
        }
        if let Some(&child) = self.modules[module].children.get(last) {
            self.expose_module_alias(child, &public_path, out, seen);
            return;
        }
        if let Some(items) = self.modules[module].items.get(last) {
            for item in items {
                self.emit(module, item, &public_path, out);
            }
            return;
        }
        // A name the target module itself imports (a re-export chain).
        for (_, tree) in &self.modules[module].uses {
            if let Some(inner) = find_use(tree, last, Vec::new()) {
                self.expose_target_within(module, &inner, name, prefix, out, seen, hops + 1);
                return;
            }
        }
        out.insert(public_path, format!("pub use {};", path.join("::")));
    }

    fn expose_module_alias(
        &self,
        module: usize,
        public_path: &str,
        out: &mut BTreeMap<String, String>,
        seen: &mut BTreeSet<(usize, String)>,
    ) {
        if self.reachable(module) {
            out.insert(
                public_path.to_string(),
                format!("pub use {};", self.module_path(module)),
            );
        } else {
            self.expose(module, public_path.to_string(), out, seen);
        }
    }

    /// Whether module `id` can be named from outside: it and every module
    /// above it are `pub`.
    fn reachable(&self, id: usize) -> bool {
        let mut at = id;
        while let Some(parent) = self.modules[at].parent {
            if !self.modules[at].public {
                return false;
            }
            at = parent;
        }
        true
    }

    /// The crate path of module `id` (`nomad_plugin_sdk::config::cty`).
    fn module_path(&self, id: usize) -> String {
        let mut names = Vec::new();
        let mut at = id;
        while let Some(parent) = self.modules[at].parent {
            if let Some((name, _)) = self.modules[parent].children.iter().find(|(_, &c)| c == at) {
                names.push(name.clone());
            }
            at = parent;
        }
        names.push(self.name.clone());
        names.reverse();
        names.join("::")
    }

    /// The module a `use` path names, from module `id`; `None` for another
    /// crate.
    fn resolve_module(&self, id: usize, path: &[String]) -> Option<usize> {
        self.resolve_module_within(id, path, 0)
    }

    /// [`Self::resolve_module`], giving up after `MAX_HOPS` re-exports (a
    /// cycle of glob imports).
    fn resolve_module_within(&self, id: usize, path: &[String], hops: usize) -> Option<usize> {
        if hops > MAX_HOPS {
            return None;
        }
        let mut at = id;
        for (i, segment) in path.iter().enumerate() {
            at = match segment.as_str() {
                "crate" if i == 0 => 0,
                "self" => at,
                "super" => self.modules[at].parent?,
                name => match self.modules[at].children.get(name) {
                    Some(&child) => child,
                    None => {
                        // `use x::y` where `x` is imported into this module.
                        let mut found = None;
                        for (_, tree) in &self.modules[at].uses {
                            if let Some(inner) = find_use(tree, name, Vec::new()) {
                                if inner.first().is_some_and(|s| s == name) {
                                    // `use name::...` of another crate.
                                    break;
                                }
                                found = self.resolve_module_within(at, &inner, hops + 1);
                                break;
                            }
                        }
                        found?
                    }
                },
            };
        }
        Some(at)
    }

    /// Writes `item` (defined in module `id`) and its impls under `path`.
    fn emit(&self, id: usize, item: &Item, path: &str, out: &mut BTreeMap<String, String>) {
        let mut items = vec![strip(item.clone())];
        if let Some(name) = item_name(item) {
            if matches!(item, Item::Struct(_) | Item::Enum(_) | Item::Union(_)) {
                for imp in self.impls_of(id, &name) {
                    if let Some(i) = strip_impl(imp) {
                        items.push(Item::Impl(i));
                    }
                }
            }
        }
        let file = syn::File {
            shebang: None,
            attrs: Vec::new(),
            items,
        };
        let key = path.to_string();
        let text = prettyplease::unparse(&file);
        out.entry(key)
            .and_modify(|t| {
                t.push_str(&text);
            })
            .or_insert(text);
    }

    /// Impls, anywhere in the crate, whose self type is the type `name`
    /// defined in module `def`.
    fn impls_of<'a>(&'a self, def: usize, name: &str) -> Vec<&'a syn::ItemImpl> {
        let mut found = Vec::new();
        for (id, module) in self.modules.iter().enumerate() {
            for imp in &module.impls {
                let syn::Type::Path(tp) = imp.self_ty.as_ref() else {
                    continue;
                };
                let segments: Vec<String> = tp
                    .path
                    .segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect();
                let Some((last, module_path)) = segments.split_last() else {
                    continue;
                };
                if last != name {
                    continue;
                }
                let target = if module_path.is_empty() {
                    self.type_module(id, name)
                } else {
                    self.resolve_module(id, module_path)
                };
                if target == Some(def) {
                    found.push(imp);
                }
            }
        }
        found
    }

    /// The module that defines the type `name` as seen from module `id`.
    fn type_module(&self, id: usize, name: &str) -> Option<usize> {
        self.type_module_within(id, name, 0)
    }

    fn type_module_within(&self, id: usize, name: &str, hops: usize) -> Option<usize> {
        if hops > MAX_HOPS {
            return None;
        }
        if self.modules[id].items.contains_key(name) {
            return Some(id);
        }
        for (_, tree) in &self.modules[id].uses {
            if let Some(path) = find_use(tree, name, Vec::new()) {
                let (module_path, _) = path.split_at(path.len() - 1);
                let module = self.resolve_module(id, module_path)?;
                return self.type_module_within(module, name, hops + 1);
            }
            if let Some(path) = find_glob(tree, Vec::new()) {
                if let Some(module) = self.resolve_module(id, &path) {
                    if module != id && self.modules[module].items.contains_key(name) {
                        return Some(module);
                    }
                }
            }
        }
        None
    }
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        _ => &[],
    }
}

/// The full path a `use` tree gives to `name`, if it imports it.
fn find_use(tree: &UseTree, name: &str, mut path: Vec<String>) -> Option<Vec<String>> {
    match tree {
        UseTree::Path(p) => {
            path.push(p.ident.to_string());
            find_use(&p.tree, name, path)
        }
        UseTree::Group(g) => g.items.iter().find_map(|t| find_use(t, name, path.clone())),
        UseTree::Name(n) if n.ident == name => {
            path.push(name.to_string());
            Some(path)
        }
        UseTree::Rename(r) if r.rename == name => {
            path.push(r.ident.to_string());
            Some(path)
        }
        _ => None,
    }
}

/// The module path of a glob import in `tree`, if it has one.
fn find_glob(tree: &UseTree, mut path: Vec<String>) -> Option<Vec<String>> {
    match tree {
        UseTree::Path(p) => {
            path.push(p.ident.to_string());
            find_glob(&p.tree, path)
        }
        UseTree::Group(g) => g.items.iter().find_map(|t| find_glob(t, path.clone())),
        UseTree::Glob(_) => Some(path),
        _ => None,
    }
}

/// Keeps the attributes that are part of the API.
fn api_attrs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|a| {
            [
                "cfg",
                "derive",
                "non_exhaustive",
                "repr",
                "must_use",
                "deprecated",
            ]
            .iter()
            .any(|k| a.path().is_ident(k))
                || (a.path().is_ident("doc")
                    && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "hidden"))
        })
        .cloned()
        .collect()
}

/// An empty block, standing for a body the listing leaves out.
fn no_body() -> syn::Block {
    syn::Block {
        brace_token: Default::default(),
        stmts: Vec::new(),
    }
}

/// The item without bodies, doc comments, private fields or private items.
fn strip(item: Item) -> Item {
    match item {
        Item::Fn(mut f) => {
            f.attrs = api_attrs(&f.attrs);
            f.block = Box::new(no_body());
            Item::Fn(f)
        }
        Item::Struct(mut s) => {
            s.attrs = api_attrs(&s.attrs);
            strip_fields(&mut s.fields);
            Item::Struct(s)
        }
        Item::Enum(mut e) => {
            e.attrs = api_attrs(&e.attrs);
            for v in &mut e.variants {
                v.attrs = api_attrs(&v.attrs);
                for f in v.fields.iter_mut() {
                    f.attrs = api_attrs(&f.attrs);
                }
            }
            Item::Enum(e)
        }
        Item::Trait(mut t) => {
            t.attrs = api_attrs(&t.attrs);
            for i in &mut t.items {
                match i {
                    syn::TraitItem::Fn(f) => {
                        f.attrs = api_attrs(&f.attrs);
                        if f.default.is_some() {
                            f.default = Some(no_body());
                        }
                    }
                    syn::TraitItem::Type(t) => t.attrs = api_attrs(&t.attrs),
                    syn::TraitItem::Const(c) => c.attrs = api_attrs(&c.attrs),
                    _ => {}
                }
            }
            Item::Trait(t)
        }
        Item::Const(mut c) => {
            c.attrs = api_attrs(&c.attrs);
            Item::Const(c)
        }
        Item::Static(mut s) => {
            s.attrs = api_attrs(&s.attrs);
            Item::Static(s)
        }
        Item::Type(mut t) => {
            t.attrs = api_attrs(&t.attrs);
            Item::Type(t)
        }
        other => other,
    }
}

/// Drops private fields, leaving a marker field so that "has private
/// fields" (cannot be built with a literal) stays visible.
fn strip_fields(fields: &mut syn::Fields) {
    let mut had_private = false;
    let kept: Vec<syn::Field> = fields
        .iter()
        .filter(|f| {
            let public = is_pub(&f.vis);
            had_private |= !public;
            public
        })
        .cloned()
        .map(|mut f| {
            f.attrs = api_attrs(&f.attrs);
            f
        })
        .collect();
    let marker: syn::Field = syn::parse_quote!(__private_fields: ());
    match fields {
        syn::Fields::Named(named) => {
            named.named = kept.into_iter().collect();
            if had_private {
                named.named.push(marker);
            }
        }
        syn::Fields::Unnamed(unnamed) => {
            let count = unnamed.unnamed.len();
            unnamed.unnamed = unnamed
                .unnamed
                .iter()
                .map(|f| {
                    let mut f = f.clone();
                    if !is_pub(&f.vis) {
                        f.ty = syn::parse_quote!(__private);
                    }
                    f.attrs = Vec::new();
                    f
                })
                .collect();
            debug_assert_eq!(count, unnamed.unnamed.len());
        }
        syn::Fields::Unit => {}
    }
}

/// An impl with only its public methods (inherent) or whole (trait impls,
/// bodies dropped); `None` when nothing in it is public.
fn strip_impl(imp: &syn::ItemImpl) -> Option<syn::ItemImpl> {
    if is_test_only(&imp.attrs) {
        return None;
    }
    let mut imp = imp.clone();
    let is_trait = imp.trait_.is_some();
    imp.attrs = api_attrs(&imp.attrs);
    imp.items = imp
        .items
        .into_iter()
        .filter_map(|i| match i {
            syn::ImplItem::Fn(mut f) if is_trait || is_pub(&f.vis) => {
                f.attrs = api_attrs(&f.attrs);
                f.block = no_body();
                Some(syn::ImplItem::Fn(f))
            }
            syn::ImplItem::Const(mut c) if is_trait || is_pub(&c.vis) => {
                c.attrs = api_attrs(&c.attrs);
                Some(syn::ImplItem::Const(c))
            }
            syn::ImplItem::Type(mut t) => {
                t.attrs = api_attrs(&t.attrs);
                Some(syn::ImplItem::Type(t))
            }
            _ => None,
        })
        .collect();
    if !is_trait && imp.items.is_empty() {
        return None;
    }
    if is_trait {
        // What the trait's methods do is not API; that the impl exists is.
        imp.items.clear();
    }
    Some(imp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crate with the shapes the SDK uses: a private module re-exported
    /// by glob and by name, a `pub(crate)` method, a private field, a
    /// trait impl, a cfg-gated public module and a test-only item.
    #[test]
    fn lists_what_users_can_name_and_only_that() {
        let dir = std::env::temp_dir().join(format!("xtask-public-api-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("kind")).unwrap();
        std::fs::write(
            src.join("lib.rs"),
            "#[cfg(feature = \"kind\")]\npub mod kind;\nmod hidden;\npub use hidden::Shown;\n\
             pub(crate) fn internal() {}\n#[cfg(test)]\npub fn only_in_tests() {}\n",
        )
        .unwrap();
        std::fs::write(
            src.join("hidden.rs"),
            "/// Docs are not API.\n#[derive(Debug)]\n#[non_exhaustive]\npub struct Shown { pub a: u8, b: u8 }\n\
             impl Shown { pub fn new() -> Self { todo() } pub(crate) fn secret(&self) {} }\n\
             impl Default for Shown { fn default() -> Self { Shown::new() } }\n",
        )
        .unwrap();
        std::fs::write(
            src.join("kind/mod.rs"),
            "mod types;\npub use types::*;\npub use crate::Shown as Again;\n",
        )
        .unwrap();
        std::fs::write(
            src.join("kind/types.rs"),
            "pub enum Mode { A, B(u8) }\npub const N: u8 = 1;\n",
        )
        .unwrap();
        let listing = list_crate("demo", &src.join("lib.rs")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        for expected in [
            "// demo::Shown\n#[derive(Debug)]\n#[non_exhaustive]\npub struct Shown {\n    pub a: u8,\n    __private_fields: (),\n}",
            "pub fn new() -> Self {}",
            "impl Default for Shown {}",
            "// demo::kind::Mode\npub enum Mode {\n    A,\n    B(u8),\n}",
            "// demo::kind::N\npub const N: u8 = 1;",
            "// demo::kind::Again\n#[derive(Debug)]",
        ] {
            assert!(listing.contains(expected), "missing {expected:?} in\n{listing}");
        }
        for absent in [
            "secret",
            "internal",
            "only_in_tests",
            "Docs are not API",
            "demo::hidden",
        ] {
            assert!(!listing.contains(absent), "{absent:?} listed in\n{listing}");
        }
    }
}
