//! Spark's DataSketches functions (`hll_*`, `theta_*`, `tuple_*`, `kll_*`)
//! through Spark Connect, checked against Spark: `tests/pyspark/sketches.py`
//! runs on classic PySpark, then on a `kiln connect` with two executor
//! processes, where every group's sketch is merged from partial sketches
//! of several tasks (the aggregate state travels between executors as
//! sketch bytes). Its last sections read sketches the Spark run wrote to
//! Parquet, so Spark's sketch bytes are checked to give Kiln Spark's
//! answers.

use kiln_tests::pyspark::{assert_same_sections, on_client, on_spark, script, ConnectServer};

#[test]
fn sketch_functions_give_sparks_answers_and_read_sparks_sketches() {
    let script = script("sketches.py");
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let arg = |i: usize| dirs[i].path().to_string_lossy().into_owned();
    // The Spark run writes its sketches into the shared folder (dirs[2]).
    let spark = on_spark(&script, &[&arg(0), &arg(2)], dirs[0].path());
    let server = ConnectServer::start(&[]);
    let kiln = on_client(&script, &[&arg(1), &arg(2)], server.url(), dirs[1].path());
    assert_same_sections(&spark, &kiln);
}
