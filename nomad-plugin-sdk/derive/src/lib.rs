//! Derive macros for `nomad-plugin-sdk`; use them through the sdk
//! (`nomad_plugin_sdk::ConfigSchema`), whose docs show them in use.
//!
//! `#[derive(ConfigSchema)]` turns a serde struct with named fields into the
//! hclspec Nomad decodes the operator's config with:
//!
//! | field | schema |
//! |---|---|
//! | `String`, `bool`, integers, floats | attribute `string` / `bool` / `number` |
//! | `Vec<T>`, `HashSet<T>`/`BTreeSet<T>`, `HashMap<String, T>`/`BTreeMap<String, T>` of those | `list(T)`, `set(T)`, `map(T)` |
//! | `serde_json::Value` | `any` |
//! | `Option<T>` | same as `T` (every field is optional unless `#[nomad(required)]`) |
//! | another struct `S: ConfigSchema` | nested block `name { ... }` |
//! | `Vec<S>` / sets of `S` | repeated blocks (`#[nomad(min = 1, max = 3)]`) |
//! | `HashMap<String, S>`/`BTreeMap<String, S>` | labelled blocks `name "label" { ... }` |
//!
//! Field attributes: `#[nomad(required)]`; `#[nomad(default = 5)]`
//! (a Rust literal: string, number or bool); `#[nomad(default_expr = "[\"a\"]")]`
//! (an HCL expression); `#[nomad(type = "list(map(string))")]` (force an
//! attribute of this HCL type); `#[nomad(min = .., max = ..)]` on block
//! lists/sets; `#[nomad(label = "name")]` on block maps. `#[serde(rename)]`,
//! `#[serde(rename_all)]` and `#[serde(skip)]` are honoured.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, Data, DeriveInput, Expr, Fields, GenericArgument, Lit, PathArguments, Type,
    UnOp,
};

/// Derives `nomad_plugin_sdk::config::schema::ConfigSchema` for a serde
/// struct; see the crate docs for the field mapping.
#[proc_macro_derive(ConfigSchema, attributes(nomad))]
pub fn derive_config_schema(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "ConfigSchema cannot be derived for generic structs; implement the trait by hand",
        ));
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            Span::call_site(),
            "ConfigSchema can only be derived for structs with named fields",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(
            data.fields.span(),
            "ConfigSchema can only be derived for structs with named fields",
        ));
    };
    let rename_all = serde_rename_all(&input.attrs)?;
    let mut entries = Vec::new();
    for field in &fields.named {
        let serde = SerdeField::parse(field)?;
        let opts = NomadField::parse(field)?;
        if serde.skip {
            continue;
        }
        if serde.flatten {
            return Err(syn::Error::new(
                field.span(),
                "#[serde(flatten)] is not supported by ConfigSchema; nest the struct as a block instead",
            ));
        }
        let ident = field
            .ident
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let ident = ident.strip_prefix("r#").unwrap_or(&ident).to_string();
        let key = serde
            .rename
            .clone()
            .unwrap_or_else(|| apply_rename_all(&ident, rename_all.as_deref()));
        let spec = field_spec(&field.ty, &opts)?;
        entries.push(quote! { (#key, #spec) });
    }
    Ok(quote! {
        impl ::nomad_plugin_sdk::config::schema::ConfigSchema for #name {
            fn schema() -> ::nomad_plugin_sdk::config::schema::Spec {
                ::nomad_plugin_sdk::config::schema::object(::std::vec![#(#entries),*])
            }
        }
    })
}

#[derive(Default)]
struct NomadField {
    required: Option<Span>,
    default: Option<(Span, String)>,
    ty: Option<String>,
    min: Option<(Span, u64)>,
    max: Option<(Span, u64)>,
    label: Option<(Span, String)>,
}

impl NomadField {
    fn parse(field: &syn::Field) -> syn::Result<Self> {
        let mut out = NomadField::default();
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("nomad")) {
            attr.parse_nested_meta(|meta| {
                let span = meta.path.span();
                if meta.path.is_ident("required") {
                    out.required = Some(span);
                } else if meta.path.is_ident("default") {
                    let expr: Expr = meta.value()?.parse()?;
                    out.default = Some((span, hcl_literal(&expr)?));
                } else if meta.path.is_ident("default_expr") {
                    let s: syn::LitStr = meta.value()?.parse()?;
                    out.default = Some((span, s.value()));
                } else if meta.path.is_ident("type") {
                    let s: syn::LitStr = meta.value()?.parse()?;
                    out.ty = Some(s.value());
                } else if meta.path.is_ident("min") {
                    let n: syn::LitInt = meta.value()?.parse()?;
                    out.min = Some((span, n.base10_parse()?));
                } else if meta.path.is_ident("max") {
                    let n: syn::LitInt = meta.value()?.parse()?;
                    out.max = Some((span, n.base10_parse()?));
                } else if meta.path.is_ident("label") {
                    let s: syn::LitStr = meta.value()?.parse()?;
                    out.label = Some((span, s.value()));
                } else {
                    return Err(meta.error(
                        "unknown nomad attribute; expected required, default, default_expr, type, min, max or label",
                    ));
                }
                Ok(())
            })?;
        }
        Ok(out)
    }
}

/// A Rust literal as the HCL expression that produces the same value.
fn hcl_literal(expr: &Expr) -> syn::Result<String> {
    match expr {
        Expr::Lit(l) => match &l.lit {
            Lit::Str(s) => Ok(hcl_quote(&s.value())),
            Lit::Int(i) => Ok(i.base10_digits().to_string()),
            Lit::Float(f) => Ok(f.base10_digits().to_string()),
            Lit::Bool(b) => Ok(b.value.to_string()),
            other => Err(syn::Error::new(
                other.span(),
                "a default must be a string, number or bool literal; use default_expr = \"...\" for lists and objects",
            )),
        },
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => Ok(format!("-{}", hcl_literal(&u.expr)?)),
        other => Err(syn::Error::new(
            other.span(),
            "a default must be a string, number or bool literal; use default_expr = \"...\" for lists and objects",
        )),
    }
}

fn hcl_quote(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Default)]
struct SerdeField {
    rename: Option<String>,
    skip: bool,
    flatten: bool,
}

impl SerdeField {
    fn parse(field: &syn::Field) -> syn::Result<Self> {
        let mut out = SerdeField::default();
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if meta.input.peek(syn::Token![=]) {
                        let s: syn::LitStr = meta.value()?.parse()?;
                        out.rename = Some(s.value());
                    } else {
                        // rename(deserialize = "..", serialize = "..")
                        meta.parse_nested_meta(|inner| {
                            let s: syn::LitStr = inner.value()?.parse()?;
                            if inner.path.is_ident("deserialize") {
                                out.rename = Some(s.value());
                            }
                            Ok(())
                        })?;
                    }
                } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_deserializing") {
                    out.skip = true;
                } else if meta.path.is_ident("flatten") {
                    out.flatten = true;
                } else {
                    // Other serde options do not change the schema; consume
                    // their value, if any.
                    if meta.input.peek(syn::Token![=]) {
                        let _: Expr = meta.value()?.parse()?;
                    } else if meta.input.peek(syn::token::Paren) {
                        meta.parse_nested_meta(|inner| {
                            if inner.input.peek(syn::Token![=]) {
                                let _: Expr = inner.value()?.parse()?;
                            }
                            Ok(())
                        })?;
                    }
                }
                Ok(())
            })?;
        }
        Ok(out)
    }
}

fn serde_rename_all(attrs: &[syn::Attribute]) -> syn::Result<Option<String>> {
    let mut out = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                if meta.input.peek(syn::Token![=]) {
                    let s: syn::LitStr = meta.value()?.parse()?;
                    out = Some(s.value());
                } else {
                    meta.parse_nested_meta(|inner| {
                        let s: syn::LitStr = inner.value()?.parse()?;
                        if inner.path.is_ident("deserialize") {
                            out = Some(s.value());
                        }
                        Ok(())
                    })?;
                }
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|inner| {
                    if inner.input.peek(syn::Token![=]) {
                        let _: Expr = inner.value()?.parse()?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// serde's `rename_all` rules for a snake_case field name.
fn apply_rename_all(field: &str, rule: Option<&str>) -> String {
    let words: Vec<&str> = field.split('_').filter(|w| !w.is_empty()).collect();
    let cap = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    match rule {
        Some("lowercase") => field.to_lowercase(),
        Some("UPPERCASE") => field.to_uppercase(),
        Some("PascalCase") => words.iter().map(|w| cap(w)).collect(),
        Some("camelCase") => words
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { w.to_string() } else { cap(w) })
            .collect(),
        Some("SCREAMING_SNAKE_CASE") => field.to_uppercase(),
        Some("kebab-case") => field.replace('_', "-"),
        Some("SCREAMING-KEBAB-CASE") => field.replace('_', "-").to_uppercase(),
        _ => field.to_string(),
    }
}

/// The last path segment of a type and its generic type arguments.
fn segment(ty: &Type) -> Option<(String, Vec<&Type>)> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let seg = p.path.segments.last()?;
    let args = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((seg.ident.to_string(), args))
}

/// The HCL type of a Rust type that maps to a plain attribute, if it does.
fn hcl_type(ty: &Type) -> Option<String> {
    if let Type::Reference(r) = ty {
        return hcl_type(&r.elem);
    }
    let (name, args) = segment(ty)?;
    match (name.as_str(), args.as_slice()) {
        ("String" | "str" | "char" | "PathBuf" | "OsString", []) => Some("string".into()),
        ("bool", []) => Some("bool".into()),
        (
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
            | "usize" | "f32" | "f64" | "NonZeroU8" | "NonZeroU16" | "NonZeroU32" | "NonZeroU64"
            | "NonZeroUsize",
            [],
        ) => Some("number".into()),
        ("Value", []) => Some("any".into()),
        ("Option" | "Box", [inner]) => hcl_type(inner),
        ("Vec" | "VecDeque", [inner]) => Some(format!("list({})", hcl_type(inner)?)),
        ("HashSet" | "BTreeSet", [inner]) => Some(format!("set({})", hcl_type(inner)?)),
        ("HashMap" | "BTreeMap", [k, v]) if is_string(k) => Some(format!("map({})", hcl_type(v)?)),
        _ => None,
    }
}

fn is_string(ty: &Type) -> bool {
    matches!(segment(ty), Some((n, a)) if n == "String" && a.is_empty())
}

/// Strips one `Option<...>`.
fn unwrap_option(ty: &Type) -> (&Type, bool) {
    match segment(ty) {
        Some((n, a)) if n == "Option" && a.len() == 1 => (a[0], true),
        _ => (ty, false),
    }
}

/// A type we treat as a nested config struct (a block).
fn struct_type(ty: &Type) -> Option<&Type> {
    match segment(ty) {
        Some((_, args)) if args.is_empty() && hcl_type(ty).is_none() => Some(ty),
        _ => None,
    }
}

fn field_spec(ty: &Type, opts: &NomadField) -> syn::Result<TokenStream2> {
    let s = quote!(::nomad_plugin_sdk::config::schema);
    let (inner, optional) = unwrap_option(ty);
    if let (Some(span), true) = (opts.required, optional) {
        return Err(syn::Error::new(
            span,
            "an Option<_> field cannot be #[nomad(required)]; drop the Option or the attribute",
        ));
    }
    if let (Some(req), Some(_)) = (opts.required, &opts.default) {
        return Err(syn::Error::new(
            req,
            "a required attribute cannot have a default",
        ));
    }
    let required = opts.required.is_some();
    let no_blocks_opts = |what: &str| -> syn::Result<()> {
        if let Some((span, _)) = opts.min.or(opts.max) {
            return Err(syn::Error::new(
                span,
                format!("min/max apply to repeated blocks (Vec or set of a config struct), not to {what}"),
            ));
        }
        if let Some((span, _)) = &opts.label {
            return Err(syn::Error::new(
                *span,
                format!("label applies to maps of a config struct, not to {what}"),
            ));
        }
        Ok(())
    };

    // An attribute: explicit type, or a type that maps to one.
    if let Some(hty) = opts.ty.clone().or_else(|| hcl_type(inner)) {
        no_blocks_opts("attributes")?;
        let req = required.then(|| quote!(.required()));
        return Ok(match &opts.default {
            Some((_, expr)) => quote!(#s::attr(#hty) #req .with_default(#expr)),
            None => quote!(#s::Spec::from(#s::attr(#hty) #req)),
        });
    }
    if let Some((span, _)) = &opts.default {
        return Err(syn::Error::new(
            *span,
            "defaults apply to attributes only, not to blocks; use #[serde(default)] for a block",
        ));
    }
    let schema_of = |t: &Type| quote_spanned!(t.span()=> <#t as #s::ConfigSchema>::schema());
    let Some((name, args)) = segment(inner) else {
        return Err(unsupported(ty));
    };
    match (name.as_str(), args.as_slice()) {
        ("Vec" | "VecDeque" | "HashSet" | "BTreeSet", [elem]) => {
            let Some(elem) = struct_type(elem) else {
                return Err(unsupported(ty));
            };
            if required {
                return Err(syn::Error::new(
                    opts.required.unwrap_or_else(Span::call_site),
                    "use #[nomad(min = 1)] to require at least one block",
                ));
            }
            if let Some((span, _)) = &opts.label {
                return Err(syn::Error::new(
                    *span,
                    "label applies to maps of a config struct",
                ));
            }
            let nested = schema_of(elem);
            let min = opts.min.map(|(_, n)| quote!(.min(#n)));
            let max = opts.max.map(|(_, n)| quote!(.max(#n)));
            let ctor = if name.ends_with("Set") {
                quote!(#s::block_set)
            } else {
                quote!(#s::block_list)
            };
            Ok(quote!(#s::Spec::from(#ctor(#nested) #min #max)))
        }
        ("HashMap" | "BTreeMap", [k, v]) if is_string(k) => {
            let Some(v) = struct_type(v) else {
                return Err(unsupported(ty));
            };
            if let Some((span, _)) = opts.min.or(opts.max) {
                return Err(syn::Error::new(
                    span,
                    "min/max do not apply to labelled blocks",
                ));
            }
            if required {
                return Err(syn::Error::new(
                    opts.required.unwrap_or_else(Span::call_site),
                    "labelled blocks (a map of a config struct) cannot be required",
                ));
            }
            let label = opts
                .label
                .clone()
                .map(|(_, l)| l)
                .unwrap_or_else(|| "name".into());
            let nested = schema_of(v);
            Ok(quote!(#s::Spec::from(#s::block_map([#label], #nested))))
        }
        (_, []) => {
            no_blocks_opts("a single block")?;
            let nested = schema_of(inner);
            let req = required.then(|| quote!(.required()));
            Ok(quote!(#s::Spec::from(#s::block(#nested) #req)))
        }
        _ => Err(unsupported(ty)),
    }
}

fn unsupported(ty: &Type) -> syn::Error {
    syn::Error::new(
        ty.span(),
        "ConfigSchema cannot map this field type to an HCL attribute or block; \
         supported: String, bool, numbers, serde_json::Value, Option/Vec/sets/maps with String keys \
         of those, a config struct, or a Vec/set/String-keyed map of a config struct; \
         or set the HCL type with #[nomad(type = \"...\")]",
    )
}
