//! Every column type Kiln writes comes back unchanged from every output
//! format (CSV, JSON, Parquet) and both kinds of target (a folder, one
//! file), written by the write stage's tasks on executors and read back.
//!
//! The expected rows are the same values computed by DataFusion in-process
//! without any write; a value lost or changed on the way (a CSV date written
//! as an empty cell, a timestamp shifted, a decimal rounded) is a difference.

use std::path::Path;
use std::time::Duration;

use kiln_tests::{compare_rows, datafusion_csv, parse_csv, run_csv, write_manifest};

/// The columns every target holds, as `CREATE EXTERNAL TABLE` declares them.
const COLUMNS: &str = "id INT, b BOOLEAN, i8 TINYINT, i16 SMALLINT, i32 INT, i64 BIGINT, \
    f32 REAL, f64 DOUBLE, dec DECIMAL(12, 3), s VARCHAR, d DATE, ts TIMESTAMP, t TIME";

/// Three rows: ordinary values, all NULL, and edge values (extremes, text
/// that CSV must quote, dates before 1970, sub-second timestamps).
const VALUES: &str = "SELECT CAST(col1 AS INT) AS id, CAST(col2 AS BOOLEAN) AS b, \
    CAST(col3 AS TINYINT) AS i8, CAST(col4 AS SMALLINT) AS i16, CAST(col5 AS INT) AS i32, \
    CAST(col6 AS BIGINT) AS i64, CAST(col7 AS REAL) AS f32, CAST(col8 AS DOUBLE) AS f64, \
    CAST(col9 AS DECIMAL(12, 3)) AS dec, CAST(col10 AS VARCHAR) AS s, CAST(col11 AS DATE) AS d, \
    CAST(col12 AS TIMESTAMP) AS ts, CAST(col13 AS TIME) AS t FROM (VALUES \
    (1, true, 7, 300, 70000, 5000000000, 1.5, 2.25D, '123.456', 'plain', '1995-03-09', '2020-01-01 10:00:00', '10:30:00'), \
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
    (3, false, -128, -32768, -2147483648, 9223372036854775807, -0.25, 1e300, '-999999999.999', \
     'a, \"quoted\" \nline', '1969-12-31', '1900-06-15 23:59:59.123456', '00:00:00.5'))";

/// The targets: name, format, location below the output folder.
const TARGETS: [(&str, &str, &str); 6] = [
    ("csv_folder", "CSV", "csv_folder/"),
    ("csv_file", "CSV", "one.csv"),
    ("json_folder", "JSON", "json_folder/"),
    ("json_file", "JSON", "one.json"),
    ("parquet_folder", "PARQUET", "parquet_folder/"),
    ("parquet_file", "PARQUET", "one.parquet"),
];

fn header_option(format: &str) -> &'static str {
    if format == "CSV" {
        " OPTIONS ('format.has_header' 'true')"
    } else {
        ""
    }
}

/// The application: write the values to every target, read each back with
/// the declared columns, and return all of them tagged with their target.
fn round_trip_sql(out: &Path) -> String {
    let mut sql = String::new();
    for (name, format, location) in TARGETS {
        let path = out.join(location);
        let path = path.display();
        let header = header_option(format);
        sql.push_str(&format!(
            "COPY ({VALUES}) TO '{path}' STORED AS {format}{header};\n\
             CREATE EXTERNAL TABLE {name} ({COLUMNS}) STORED AS {format} LOCATION '{path}'{header};\n"
        ));
    }
    let union: Vec<String> = TARGETS
        .iter()
        .map(|(name, _, _)| format!("SELECT '{name}' AS target, * FROM {name}"))
        .collect();
    sql.push_str(&union.join("\nUNION ALL\n"));
    sql.push_str("\nORDER BY target, id\n");
    sql
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_through_csv_json_and_parquet_folders_and_files() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    let manifest = write_manifest(work.path(), "formats", &round_trip_sql(&out), 2, 1, "");
    let (header, rows, _) = run_csv(&manifest, &[], Duration::from_secs(180));

    let (expected_header, expected) =
        parse_csv(&datafusion_csv(&format!("{VALUES} ORDER BY id"), 1).await);
    assert_eq!(header[0], "target");
    assert_eq!(header[1..], expected_header[..], "columns");
    assert_eq!(expected.len(), 3, "the values query gives three rows");

    let mut failures = Vec::new();
    for (name, _, _) in TARGETS {
        let got: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| r.first().map(String::as_str) == Some(name))
            .map(|r| r[1..].to_vec())
            .collect();
        if let Err(e) = compare_rows(&expected, &got) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
