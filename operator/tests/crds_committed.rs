//! The committed CRD files (`crds/` and the Helm chart's
//! `charts/kiln/templates/crds/`) are exactly what the Rust types generate,
//! and small enough for client-side `kubectl apply`.

mod common;

use common::workspace;

#[test]
fn committed_crds_match_the_types() {
    let plain = kiln_operator::crdgen::render().expect("render");
    let chart = kiln_operator::crdgen::render_chart().expect("render chart templates");
    assert_eq!(plain.len(), 2);
    let mut stale = Vec::new();
    for (dir, files) in [("crds", &plain), ("charts/kiln/templates/crds", &chart)] {
        for f in files {
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
         run `kiln crdgen --out crds --chart charts/kiln/templates/crds` and commit the result"
    );
    // Every bound the chart can raise became a template expression.
    let text: String = chart.iter().map(|f| f.yaml.as_str()).collect();
    for expr in [
        "maximum: {{ int .Values.crds.limits.executors }}",
        "maximum: {{ int .Values.crds.limits.cores }}",
        "double({{ int .Values.crds.limits.memoryGiB }})",
    ] {
        assert!(text.contains(expr), "{expr} missing from the chart's CRDs");
    }
    assert!(
        !text.contains("987654"),
        "a sentinel was left in the chart's CRDs"
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
