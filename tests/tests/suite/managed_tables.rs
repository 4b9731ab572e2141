//! Spark's `CREATE TABLE` in a job: managed tables live in a folder of the
//! warehouse (`spark.sql.warehouse.dir`) that `DROP TABLE` deletes, tables
//! with a `LOCATION` keep their files, and a managed table never lands on
//! files that are already there.

use std::path::Path;
use std::time::Duration;

use kiln_tests::{parse_csv, run_kiln, write_manifest};

fn run(dir: &Path, name: &str, sql: &str) -> (bool, String, String) {
    let warehouse = dir.join("warehouse");
    let conf = format!(
        "  conf:\n    spark.sql.warehouse.dir: \"{}\"\n",
        warehouse.display()
    );
    let m = write_manifest(dir, name, sql, 2, 1, &conf);
    let out = run_kiln(
        &["run", m.to_str().expect("utf8"), "--format", "csv"],
        Duration::from_secs(180),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn data_files(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(data_files(&p));
        } else if !e.file_name().to_string_lossy().starts_with(['_', '.']) {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn managed_and_located_tables() {
    let d = tempfile::tempdir().expect("tempdir");
    let located = d.path().join("located");
    let sql = format!(
        "CREATE TABLE sales (id INT, amount DOUBLE) USING parquet;\n\
         INSERT INTO sales VALUES (1, 2.5), (2, 4.0), (3, 1.5);\n\
         CREATE TABLE by_parity USING parquet PARTITIONED BY (parity) AS \
           SELECT id, amount, id % 2 AS parity FROM sales;\n\
         CREATE TABLE IF NOT EXISTS by_parity USING parquet AS SELECT 1 AS x;\n\
         CREATE TABLE kept (id INT, tag STRING) USING csv LOCATION '{located}';\n\
         INSERT INTO kept VALUES (7, 'seven');\n\
         DROP TABLE kept;\n\
         DROP TABLE sales;\n\
         SELECT parity, count(*) AS n, sum(amount) AS total FROM by_parity GROUP BY parity ORDER BY parity;",
        located = located.display()
    );
    let (ok, stdout, stderr) = run(d.path(), "managed", &sql);
    assert!(ok, "job failed: {stderr}");
    let (header, rows) = parse_csv(&stdout);
    assert_eq!(header, vec!["parity", "n", "total"]);
    assert_eq!(rows, vec![vec!["0", "1", "4.0"], vec!["1", "2", "4.0"]]);
    let warehouse = d.path().join("warehouse");
    // DROP TABLE deleted the managed table's files; the partitioned one is
    // still there, one folder per partition value.
    assert!(
        !warehouse.join("sales").exists(),
        "sales folder left behind"
    );
    assert!(warehouse.join("by_parity/parity=0").is_dir());
    assert!(warehouse.join("by_parity/parity=1").is_dir());
    // A table with a LOCATION keeps its files when dropped; Spark's CSV has
    // no header line by default.
    let files = data_files(&located);
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).expect("read csv");
    assert_eq!(text.trim(), "7,seven");

    // A new managed table over old files is refused, the files untouched.
    let (ok, _, stderr) = run(
        d.path(),
        "again",
        "CREATE TABLE by_parity (id INT) USING parquet;",
    );
    assert!(!ok, "a managed table was created over existing files");
    assert!(stderr.contains("LOCATION_ALREADY_EXISTS"), "{stderr}");
    assert!(stderr.contains("by_parity"), "{stderr}");
    assert_eq!(data_files(&warehouse.join("by_parity")).len(), 2);
}

#[test]
fn bad_table_definitions_are_clear_errors() {
    let d = tempfile::tempdir().expect("tempdir");
    for (sql, want) in [
        ("CREATE TABLE t (a INT) USING orc;", "USING orc"),
        (
            "CREATE TABLE t (a INT) USING parquet OPTIONS (mergeSchema 'true');",
            "option `mergeSchema`",
        ),
        (
            "CREATE TABLE t (a INT) USING parquet AS SELECT 1 AS a;",
            "column list",
        ),
        (
            "CREATE TABLE t USING parquet PARTITIONED BY (nope) AS SELECT 1 AS a;",
            "No field named nope",
        ),
        (
            "CREATE TABLE t (a INT) USING parquet CLUSTERED BY (a) INTO 4 BUCKETS;",
            "bucketed",
        ),
        (
            "CREATE TABLE t (a INT) USING parquet; CREATE TABLE t (a INT) USING parquet;",
            "TABLE_OR_VIEW_ALREADY_EXISTS",
        ),
    ] {
        let (ok, _, stderr) = run(d.path(), "bad", sql);
        assert!(!ok, "accepted: {sql}");
        assert!(
            stderr.contains(want),
            "{sql}: expected `{want}` in\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let _ = std::fs::remove_dir_all(d.path().join("warehouse"));
    }
}
