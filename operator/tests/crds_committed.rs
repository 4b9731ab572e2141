//! The committed CRD files (`crds/` and the Helm chart's `charts/kiln/crds/`)
//! are exactly what the Rust types generate, and small enough for
//! client-side `kubectl apply`.

mod common;

use common::workspace;

#[test]
fn committed_crds_match_the_types() {
    let files = kiln_operator::crdgen::render().expect("render");
    assert_eq!(files.len(), 2);
    let mut stale = Vec::new();
    for dir in ["crds", "charts/kiln/crds"] {
        for f in &files {
            let path = workspace().join(dir).join(&f.file_name);
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            if committed != f.yaml {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "these CRD files differ from the Rust types: {stale:?}\n\
         run `kiln crdgen --out crds --out charts/kiln/crds` and commit the result"
    );
}

#[test]
fn crds_fit_the_last_applied_annotation() {
    // Client-side `kubectl apply` stores the whole object as JSON in an
    // annotation; all annotations together must stay under 256 KiB.
    for f in kiln_operator::crdgen::render().expect("render") {
        let value: serde_json::Value = serde_yaml::from_str(&f.yaml).expect("yaml");
        let json = serde_json::to_string(&value).expect("json");
        assert!(
            json.len() < 200 * 1024,
            "{} is {} bytes as JSON; keep it well under 256 KiB",
            f.file_name,
            json.len()
        );
    }
}
