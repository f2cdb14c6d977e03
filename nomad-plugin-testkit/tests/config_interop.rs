//! The config pipeline judged by the real implementation: the Go program in
//! `interop/cmd/ctyhost` decodes the same HCL with hashicorp/hcl's hcldec and
//! encodes it with zclconf/go-cty's msgpack; our bytes must be identical and
//! our decoders must read Go's bytes back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use nomad_plugin_sdk::config::cty::{Type, Value};
use nomad_plugin_sdk::config::msgpack;
use nomad_plugin_sdk::config::schema::{
    self, array, attr, block, block_attrs, block_list, block_map, block_set, literal, Spec,
};
use nomad_plugin_testkit::hcl::decode_config;
use serde_json::json;

fn ctyhost() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ctyhost");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg("./cmd/ctyhost")
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| {
                panic!("these tests need the Go toolchain (`go` on PATH) to build interop/cmd/ctyhost: {e}")
            });
        assert!(status.success(), "go build of interop/cmd/ctyhost failed");
        out
    })
}

fn spec_json(s: &Spec) -> serde_json::Value {
    match s {
        Spec::Object(m) => {
            json!({"object": m.iter().map(|(k, v)| (k.clone(), spec_json(v))).collect::<serde_json::Map<_, _>>()})
        }
        Spec::Array(v) => {
            json!({"array": v.iter().map(spec_json).collect::<Vec<_>>(), "is_array": true})
        }
        Spec::Attr(a) => json!({"attr": {"name": a.name, "type": a.ty, "required": a.required}}),
        Spec::BlockAttrs(a) => {
            json!({"block_attrs": {"name": a.name, "type": a.ty, "required": a.required}})
        }
        Spec::Block(b) => {
            json!({"block": {"name": b.name, "required": b.required, "nested": spec_json(&b.nested)}})
        }
        Spec::BlockList(b) => {
            json!({"block_list": {"name": b.name, "min_items": b.min_items, "max_items": b.max_items, "nested": spec_json(&b.nested)}})
        }
        Spec::BlockSet(b) => {
            json!({"block_set": {"name": b.name, "min_items": b.min_items, "max_items": b.max_items, "nested": spec_json(&b.nested)}})
        }
        Spec::BlockMap(b) => {
            json!({"block_map": {"name": b.name, "labels": b.labels, "nested": spec_json(&b.nested)}})
        }
        Spec::Default { primary, default } => {
            json!({"default": {"primary": spec_json(primary), "default": spec_json(default)}})
        }
        Spec::Literal(v) => json!({"literal": v}),
    }
}

fn run(args: &[&str]) -> serde_json::Value {
    let out = Command::new(ctyhost())
        .args(args)
        .output()
        .expect("run ctyhost");
    assert!(
        out.status.success(),
        "ctyhost failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ctyhost prints JSON")
}

fn go_decode(name: &str, spec: &Spec, hcl: &str) -> serde_json::Value {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("config-fixtures");
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let sp = dir.join(format!("{name}.json"));
    let hp = dir.join(format!("{name}.hcl"));
    std::fs::write(&sp, spec_json(spec).to_string()).expect("write spec");
    std::fs::write(&hp, hcl).expect("write hcl");
    run(&[
        "decode",
        sp.to_str().expect("utf8"),
        hp.to_str().expect("utf8"),
    ])
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Decodes with Go and with us; requires identical bytes and type, and that
/// our typed decoder reads Go's bytes back to the value we built.
fn check_same(name: &str, spec: &Spec, hcl: &str) -> Value {
    spec.validate().expect("valid spec");
    let go = go_decode(name, spec, hcl);
    assert!(
        go.get("error").is_none(),
        "{name}: Go rejected the fixture: {go}"
    );
    let ours = decode_config(hcl, spec).unwrap_or_else(|e| panic!("{name}: {e}"));
    let bytes = msgpack::to_msgpack(&ours).expect("encode");
    assert_eq!(
        hex(&bytes),
        go["hex"].as_str().expect("hex"),
        "{name}: msgpack differs\nours: {ours:?}"
    );
    let ty: serde_json::Value = serde_json::from_str(&ours.ty().to_json()).expect("type json");
    assert_eq!(ty, go["type"], "{name}: type differs");
    let go_ty = Type::from_json(go["type"].to_string().as_bytes()).expect("go type");
    let back =
        msgpack::decode(&unhex(go["hex"].as_str().expect("hex")), &go_ty).expect("decode Go bytes");
    assert_eq!(back, ours, "{name}: decoding Go's bytes");
    ours
}

fn check_error(name: &str, spec: &Spec, hcl: &str, want_summary: &str) {
    let go = go_decode(name, spec, hcl);
    let go_err = go["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: Go accepted: {go}"));
    let ours = decode_config(hcl, spec).expect_err("we must reject it too");
    let first = &ours.0[0];
    assert_eq!(first.summary, want_summary, "{name}: {ours}");
    assert!(go_err.contains(want_summary), "{name}: Go said {go_err}");
    let pos = first.pos.expect("position");
    let at = format!("{name}.hcl:{},{}", pos.line, pos.column);
    assert!(
        go_err.contains(&format!("/{at}")),
        "{name}: position differs: ours {at}, Go {go_err}"
    );
}

fn everything() -> Spec {
    schema::object([
        ("s", attr("string").into()),
        ("n_int", attr("number").into()),
        ("n_neg", attr("number").into()),
        ("n_tenth", attr("number").into()),
        ("n_half", attr("number").into()),
        ("n_2p53", attr("number").into()),
        ("n_2p64", attr("number").into()),
        ("n_huge", attr("number").into()),
        ("n_tiny", attr("number").into()),
        ("n_from_str", attr("number").into()),
        ("s_from_num", attr("string").into()),
        ("s_from_bool", attr("string").into()),
        ("b", attr("bool").into()),
        ("b_from_str", attr("bool").into()),
        ("absent", attr("list(string)").into()),
        ("l", attr("list(string)").into()),
        ("set_n", attr("set(number)").into()),
        ("set_s", attr("set(string)").into()),
        ("m", attr("map(number)").into()),
        ("ll", attr("list(list(number))").into()),
        ("t", attr("tuple([string, number, bool])").into()),
        ("o", attr("object({a = string, b = list(number)})").into()),
        ("any_obj", attr("any").into()),
        ("any_list", attr("list(any)").into()),
        ("any_absent", attr("any").into()),
        (
            "set_o",
            attr("set(object({k = string, v = number}))").into(),
        ),
        ("shell", attr("string").with_default("\"bash\"")),
        ("port", attr("number").with_default("6379")),
        ("odd_default", attr("string").with_default("5")),
        ("kept", attr("string").with_default("\"unused\"")),
        ("lit", literal("[\"x\", 2]")),
        (
            "arr",
            array([attr("string").named("s").into(), literal("true")]),
        ),
    ])
}

const EVERYTHING: &str = r#"
s = "héllo \"q\" \u00e9"
n_int = 42
n_neg = -300
n_tenth = 0.1
n_half = 0.5
n_2p53 = 9007199254740993
n_2p64 = 18446744073709551616
n_huge = 1e300
n_tiny = 1.5e-20
n_from_str = "12.25"
s_from_num = 5.5
s_from_bool = true
b = false
b_from_str = "true"
l = ["b", "a", "b"]
set_n = [3, 1, 2, 1, -0.5]
set_s = ["z", "B", "a", "z"]
m = { one = 1, "two words" = 2.5 }
ll = [[1, 2], [], [0.1]]
t = ["x", 1, true]
o = { a = "v", b = [1] }
any_obj = { k = [1, "a"], n = null, nested = { x = true } }
any_list = [1, "a", true]
set_o = [{ k = "b", v = 2 }, { k = "a", v = 10 }, { k = "a", v = 9 }]
kept = "given"
"#;

#[test]
fn every_type_matches_go() {
    let v = check_same("everything", &everything(), EVERYTHING);
    // Spot-check the model, not just the bytes.
    let Value::Object(attrs) = v else {
        panic!("object")
    };
    assert_eq!(attrs["n_tenth"], Value::Number("0.1".parse().expect("n")));
    assert_eq!(attrs["shell"], Value::string("bash"));
}

#[test]
fn empty_body_matches_go() {
    check_same("empty", &everything(), "");
}

fn blocks() -> Spec {
    let mount = schema::object([
        ("source", attr("string").required().into()),
        ("target", attr("string").into()),
        ("readonly", attr("bool").with_default("false")),
        ("opts", block_attrs("string").into()),
    ]);
    schema::object([
        ("image", attr("string").required().into()),
        (
            "logging",
            block(schema::object([
                ("driver", attr("string").into()),
                ("config", block_attrs("string").into()),
            ]))
            .into(),
        ),
        ("mount", block_list(mount.clone()).min(1).max(3).into()),
        (
            "port",
            block_set(schema::object([("n", attr("number").into())])).into(),
        ),
        (
            "volume",
            block_map(["name"], schema::object([("path", attr("string").into())])).into(),
        ),
        (
            "route",
            block_map(
                ["from", "to"],
                schema::object([("w", attr("number").into())]),
            )
            .into(),
        ),
        ("env", block_attrs("string").into()),
        (
            "nothing",
            block(schema::object([("x", attr("string").into())])).into(),
        ),
    ])
}

const BLOCKS: &str = r#"
image = "redis:7"
logging {
  driver = "json"
  config {
    max = 3
    tag = "x"
  }
}
mount {
  source = "/a"
  opts {
    z = "1"
  }
}
mount {
  source = "/b"
  target = "/c"
  readonly = true
}
port { n = 80 }
port { n = 443 }
port { n = 80 }
volume "data" { path = "/d" }
volume "logs" { path = "/l" }
route "a" "b" { w = 1 }
route "a" "c" { w = 2 }
route "z" "b" { w = 3 }
env {
  A = "1"
  B = 2
}
"#;

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Mount {
    source: String,
    target: Option<String>,
    readonly: bool,
    #[serde(default)]
    opts: std::collections::BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Debug)]
struct Cfg {
    image: String,
    mount: Vec<Mount>,
    port: Vec<std::collections::HashMap<String, u16>>,
    volume: std::collections::HashMap<String, std::collections::HashMap<String, String>>,
    route: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Route>>,
    env: std::collections::HashMap<String, String>,
    nothing: Option<std::collections::HashMap<String, String>>,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Route {
    w: f32,
}

#[test]
fn blocks_match_go_and_decode_into_serde_types() {
    let v = check_same("blocks", &blocks(), BLOCKS);
    let go = go_decode("blocks", &blocks(), BLOCKS);
    let bytes = unhex(go["hex"].as_str().expect("hex"));
    let cfg: Cfg = nomad_plugin_sdk::config::from_msgpack(&bytes).expect("decode Go bytes");
    assert_eq!(cfg.image, "redis:7");
    assert_eq!(cfg.mount.len(), 2);
    assert_eq!(cfg.mount[0].opts["z"], "1");
    assert_eq!(cfg.mount[1].target.as_deref(), Some("/c"));
    assert!(cfg.mount[1].readonly);
    assert_eq!(cfg.port.len(), 2);
    assert_eq!(cfg.volume["logs"]["path"], "/l");
    assert_eq!(cfg.route["a"]["c"], Route { w: 2.0 });
    assert_eq!(cfg.env["B"], "2");
    assert!(cfg.nothing.is_none());
    let _ = v;
}

#[test]
fn errors_match_go() {
    let spec = blocks();
    check_error(
        "missing",
        &spec,
        "mount { source = \"/a\" }\n",
        "Missing required argument",
    );
    check_error(
        "nested_missing",
        &spec,
        "image = \"i\"\nmount {\n  target = \"/a\"\n}\n",
        "Missing required argument",
    );
    check_error(
        "badtype",
        &everything(),
        "n_int = \"abc\"\n",
        "Incorrect attribute value type",
    );
    check_error(
        "unsupported",
        &spec,
        "image = \"i\"\nmount { source = \"/a\" }\nbogus = 1\n",
        "Unsupported argument",
    );
    check_error(
        "too_many",
        &spec,
        "image = \"i\"\nmount { source = \"1\" }\nmount { source = \"2\" }\nmount { source = \"3\" }\nmount { source = \"4\" }\n",
        "Too many mount blocks",
    );
    check_error(
        "too_few",
        &spec,
        "image = \"i\"\n",
        "Insufficient mount blocks",
    );
    check_error(
        "dup_block",
        &spec,
        "image = \"i\"\nmount { source = \"1\" }\nlogging {}\nlogging {}\n",
        "Duplicate logging block",
    );
}

#[test]
fn direct_marshal_cases_decode() {
    // Unknown values and dynamic wrappers only come from msgpack.Marshal
    // called directly; read Go's bytes and write them back identically.
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("\"string\"", "unknown", None),
        ("[\"list\",\"number\"]", "unknown", None),
        ("\"bool\"", "true", Some("\"dynamic\"")),
        (
            "[\"object\",{\"a\":\"number\",\"b\":[\"list\",\"string\"]}]",
            "{\"a\":0.1,\"b\":[\"x\"]}",
            Some("\"dynamic\""),
        ),
        (
            "[\"map\",\"number\"]",
            "{\"k\":18446744073709551616}",
            Some("[\"map\",\"dynamic\"]"),
        ),
        (
            "[\"object\",{\"d\":\"number\"}]",
            "{\"d\":1}",
            Some("[\"object\",{\"d\":\"dynamic\"}]"),
        ),
        ("[\"set\",\"string\"]", "[\"b\",\"a\"]", None),
    ];
    for (ty, val, as_ty) in cases {
        let mut args = vec!["marshal", ty, val];
        if let Some(a) = as_ty {
            args.push(a);
        }
        let go = run(&args);
        let go_hex = go["hex"].as_str().unwrap_or_else(|| panic!("{go}"));
        let target = Type::from_json(as_ty.unwrap_or(ty).as_bytes()).expect("type");
        let v = msgpack::decode(&unhex(go_hex), &target).expect("decode");
        if *val == "unknown" {
            assert_eq!(v, Value::Unknown(target.clone()));
        }
        let again = msgpack::encode(&v, &target).expect("encode");
        assert_eq!(hex(&again), go_hex, "{ty} {val} as {as_ty:?}");
    }
}

/// A task config interpolated in the client's eval context: Go builds it the
/// way `taskenv.AllValues` + `hclutils.GetStdlibFuncs` do, we from the same
/// `TaskEnv`; the msgpack bytes must be identical, and an unknown variable
/// must give hcl's summary, detail and position.
#[test]
fn task_config_interpolation_matches_nomad_client() {
    use nomad_plugin_testkit::hcl::{decode_task_config, TaskEnv};
    let env = TaskEnv::default()
        .env("greeting", "hello")
        .meta("rack", "r1")
        .node_attr("attr.driver.docker", "1");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("config-fixtures");
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let env_path = dir.join("task-env.json");
    std::fs::write(
        &env_path,
        json!({"env": env.env_vars(), "node_attrs": env.node_attrs()}).to_string(),
    )
    .expect("write env");
    let spec = schema::object([
        ("image", attr("string").required().into()),
        ("args", attr("list(string)").into()),
        ("labels", attr("map(string)").into()),
        ("n", attr("number").into()),
    ]);
    let go = |name: &str, hcl: &str| {
        let sp = dir.join(format!("{name}.json"));
        let hp = dir.join(format!("{name}.hcl"));
        std::fs::write(&sp, spec_json(&spec).to_string()).expect("write spec");
        std::fs::write(&hp, hcl).expect("write hcl");
        run(&[
            "decode-task",
            sp.to_str().expect("utf8"),
            hp.to_str().expect("utf8"),
            env_path.to_str().expect("utf8"),
        ])
    };
    let cases = [
        (
            "interp-vars",
            "image = \"${NOMAD_JOB_NAME}/${NOMAD_TASK_NAME}:${NOMAD_ALLOC_INDEX}\"\n\
             args = [env[\"greeting\"], node.unique.name, attr.kernel.name, meta.rack, node.meta.rack, node.attr.driver.docker, \"${node.region}-${node.datacenter}\"]\n\
             labels = { alloc = NOMAD_ALLOC_ID, short = \"${NOMAD_SHORT_ALLOC_ID}\" }\n",
        ),
        (
            "interp-funcs",
            "image = upper(\"${NOMAD_TASK_NAME}\")\n\
             args = [lower(\"ABC\"), \"${strlen(env[\"greeting\"])}\"]\n\
             n = abs(-3) + length([1, 2])\n",
        ),
    ];
    for (name, hcl) in cases {
        let g = go(name, hcl);
        assert!(g.get("error").is_none(), "{name}: Go rejected it: {g}");
        let ours = decode_task_config(hcl, &spec, &env).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = msgpack::to_msgpack(&ours).expect("encode");
        assert_eq!(
            hex(&bytes),
            g["hex"].as_str().expect("hex"),
            "{name}: msgpack differs\nours: {ours:?}"
        );
    }

    let bad = "image = \"x\"\nargs = [\"${NOMAD_TASK_NAME}\", \"${nope}\"]\n";
    let g = go("interp-unknown", bad);
    let go_err = g["error"].as_str().expect("Go reports an error");
    let ours = decode_task_config(bad, &spec, &env).expect_err("unknown variable");
    assert_eq!(ours.0.len(), 1, "{ours}");
    let d = &ours.0[0];
    let pos = d.pos.expect("position");
    let want = format!(
        ":{},{}-{}: {}; {}",
        pos.line,
        pos.column,
        pos.column + "nope".len(),
        d.summary,
        d.detail
    );
    assert!(
        go_err.ends_with(&want),
        "Go said {go_err:?}, we said {ours}"
    );
    assert_eq!(d.summary, "Unknown variable");
}
