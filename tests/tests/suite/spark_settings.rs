//! Spark's settings set inside a job (`SET spark.sql.session.timeZone`,
//! `SET spark.sql.shuffle.partitions`) change what the executors do: each
//! task runs with the settings of the session its stage was planned in, not
//! the ones its executor registered with.

use std::time::Duration;

use kiln_tests::{run_csv, write_manifest};

#[test]
fn set_in_a_job_reaches_the_executors() {
    let d = tempfile::tempdir().expect("tempdir");
    let data = d.path().join("epochs");
    // The epoch seconds live in a file, so `from_unixtime` runs in executor
    // tasks (a literal would be folded on the driver).
    let sql = format!(
        "COPY (SELECT * FROM (VALUES (1, 0), (2, 86400)) AS v(id, secs)) TO '{dir}/' STORED AS PARQUET;\n\
         CREATE EXTERNAL TABLE epochs STORED AS PARQUET LOCATION '{dir}/';\n\
         SET spark.sql.session.timeZone = America/Los_Angeles;\n\
         CREATE VIEW la AS SELECT id, from_unixtime(secs, 'yyyy-MM-dd HH:mm') AS wall FROM epochs;\n\
         COPY (SELECT * FROM la) TO '{dir}-la/' STORED AS PARQUET;\n\
         SET spark.sql.session.timeZone = 'Asia/Tokyo';\n\
         SET spark.sql.shuffle.partitions = 3;\n\
         CREATE EXTERNAL TABLE la_out STORED AS PARQUET LOCATION '{dir}-la/';\n\
         SELECT e.id, l.wall AS la, from_unixtime(e.secs, 'yyyy-MM-dd HH:mm') AS tokyo, count(*) AS n \
         FROM epochs e JOIN la_out l ON e.id = l.id GROUP BY e.id, l.wall, e.secs ORDER BY e.id;",
        dir = data.display()
    );
    // Broadcasts off: the join and the aggregate shuffle into
    // `spark.sql.shuffle.partitions` reducers.
    let conf = "  conf:\n    spark.sql.autoBroadcastJoinThreshold: \"-1\"\n";
    let m = write_manifest(d.path(), "settings", &sql, 2, 1, conf);
    let (header, rows, stderr) = run_csv(&m, &[], Duration::from_secs(180));
    assert_eq!(header, vec!["id", "la", "tokyo", "n"]);
    assert_eq!(
        rows,
        vec![
            vec!["1", "1969-12-31 16:00", "1970-01-01 09:00", "1"],
            vec!["2", "1970-01-01 16:00", "1970-01-02 09:00", "1"],
        ],
        "stderr: {stderr}"
    );
    // Stages of the last job: the shuffle reducers run 3 tasks.
    assert!(
        stderr.lines().any(|l| l.ends_with("started, 3 tasks")),
        "no stage with spark.sql.shuffle.partitions = 3 tasks:\n{stderr}"
    );
}
