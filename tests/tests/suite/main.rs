//! Kiln's workspace-level integration tests, one test binary: each module
//! is one subject (`cargo test --workspace --test suite <module>::` runs one).
//! One binary instead of one per file: each links DataFusion, so separate
//! binaries cost about 0.5 GB of disk and a long link each.

mod commit;
mod connect_server;
mod errors;
mod executor_metrics;
mod faults;
mod formats;
mod harness;
mod identifiers;
mod integrity;
mod managed_tables;
mod memory;
mod pyspark;
mod pyspark_doctests;
mod s3;
mod security;
mod shuffle;
mod sketches;
mod spark_functions;
mod spark_settings;
mod spark_sql;
mod standalone;
mod tpch;
mod ui;
mod ui_browser;
mod user_errors;
