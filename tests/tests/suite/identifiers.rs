//! Identifiers resolve as in Spark SQL: case-insensitively, with result
//! columns keeping the data's spelling. Also covers `COPY ... TO` writing
//! Parquet (partitioned and not) that a later application reads back.

use std::time::Duration;

use kiln_tests::{run_csv, run_kiln, write_manifest};

#[test]
fn mixed_case_columns_resolve_case_insensitively() {
    let d = tempfile::tempdir().expect("tempdir");
    let trips = d.path().join("trips");
    let by_zone = d.path().join("by_zone");
    let write = format!(
        "COPY (SELECT * FROM (VALUES (1, 10, 2.5), (1, 11, 4.0), (2, 10, 7.25)) AS v(`PULocationID`, `DOLocationID`, `Fare`)) \
         TO '{}/' STORED AS PARQUET;\n\
         COPY (SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(`Zone`, `Name`)) TO '{}/' STORED AS PARQUET PARTITIONED BY (`Zone`);",
        trips.display(),
        by_zone.display()
    );
    let m = write_manifest(d.path(), "write-trips", &write, 2, 1, "");
    let out = run_kiln(
        &["run", m.to_str().expect("utf8")],
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "write failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_dir(&trips).expect("trips written").count() > 0);
    assert!(
        by_zone.join("Zone=1").exists(),
        "partition folder Zone=1 missing"
    );

    let read = format!(
        "CREATE EXTERNAL TABLE trips STORED AS PARQUET LOCATION '{}/';\n\
         SELECT pulocationid, COUNT(*) AS Trips, SUM(fare) AS total FROM TRIPS \
         WHERE dolocationid = 10 OR PULOCATIONID = 1 GROUP BY PULocationId ORDER BY pulocationid;",
        trips.display()
    );
    let m = write_manifest(d.path(), "read-trips", &read, 2, 1, "");
    let (header, rows, _) = run_csv(&m, &[], Duration::from_secs(120));
    assert_eq!(header, vec!["PULocationID", "Trips", "total"]);
    // `2.5`, `4.0`, `7.25` are decimals (as in Spark): the sum keeps two places.
    assert_eq!(rows, vec![vec!["1", "2", "6.50"], vec!["2", "1", "7.25"]]);
}
