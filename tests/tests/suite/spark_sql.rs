//! Spark's own SQL test files, scored against Spark's golden answers.
//!
//! `scripts/setup-spark-sql-tests.sh` fetches the inputs and the results
//! Spark produced for them from Spark's published test jar;
//! `tests/spark-sql/conformance.py` runs every query through `spark.sql` on
//! a Kiln driver (`kiln run --python`, the pinned PySpark client, two
//! executor processes) and scores it as Spark's suite does. The test fails
//! when a file agrees on fewer queries than `tests/spark-sql/baseline.json`
//! records, and prints every file's score.

use std::time::Duration;

use kiln_tests::{pyspark_python, repo_root as repo, run_kiln, setup_script};

#[test]
fn spark_sql_test_files_score_at_least_the_baseline() {
    let tests_dir = setup_script("scripts/setup-spark-sql-tests.sh", &[]);
    let python = pyspark_python("client");
    let baseline: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/spark-sql/baseline.json"))
            .expect("read baseline.json"),
    )
    .expect("baseline.json is JSON");
    let files = baseline["files"].as_object().expect("files in baseline");
    let work = tempfile::tempdir().expect("tempdir");
    let report_path = work.path().join("report.json");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--python".into(),
        python.to_string_lossy().into_owned(),
        "--executors".into(),
        "2".into(),
        // Managed tables of the test files go to a folder of this test.
        "--conf".into(),
        format!(
            "spark.sql.warehouse.dir={}",
            work.path().join("warehouse").display()
        ),
        repo()
            .join("tests/spark-sql/conformance.py")
            .to_string_lossy()
            .into_owned(),
        tests_dir,
        report_path.to_string_lossy().into_owned(),
    ];
    args.extend(files.keys().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_kiln(&refs, Duration::from_secs(1500));
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the conformance runner failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("read report"))
            .expect("report is JSON");
    let mut regressions = vec![];
    for (name, base) in files {
        let want = base["agree"].as_u64().expect("agree count");
        let got = report["files"][name]["agree"].as_u64().unwrap_or(0);
        if got < want {
            let lost: Vec<String> = report["files"][name]["failures"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .take(5)
                        .map(|x| format!("  {}\n    kiln: {}", x["sql"], x["kiln"]))
                        .collect()
                })
                .unwrap_or_default();
            regressions.push(format!(
                "{name}: {got} queries agree with Spark, the baseline is {want}; first failures:\n{}",
                lost.join("\n")
            ));
        }
    }
    assert!(
        regressions.is_empty(),
        "Spark SQL conformance fell below the baseline:\n{}",
        regressions.join("\n")
    );
}
