//! Kiln's Spark Connect server.
//!
//! PySpark programs (`SparkSession.builder.remote("sc://host:15002")`) send
//! their DataFrame plans here; each action becomes one Kiln job on the
//! driver's executors, through the same stage planner, scheduler, shuffle and
//! commit protocol as a manifest's SQL.
//!
//! - [`proto`]: the Spark Connect protocol (vendored Spark 4.2.0 `.proto` files).
//! - [`service`]: the gRPC service: ExecutePlan, AnalyzePlan, Config, ...
//! - [`operation`]: one ExecutePlan operation: its replay buffer and streams.
//! - [`execute`]: running a relation or command as Kiln jobs, and its responses.
//! - [`analyze`]: AnalyzePlan (schema, explain, input files, storage levels).
//! - [`session`]: one client session: its catalog, settings and operations.
//! - [`relation`]: Connect relations to DataFusion logical plans (the dispatch,
//!   projections and aggregates).
//! - [`relation_read`]: reads, SQL queries, local data and ranges.
//! - [`relation_columns`]: renaming, adding, dropping and deduplicating columns.
//! - [`col_regex`]: the Java-style name patterns of `df.colRegex`.
//! - [`relation_join`]: the joins.
//! - [`relation_set`]: union, intersect and except.
//! - [`relation_reshape`]: unpivot, `to(schema)`, pivot and crosstab.
//! - [`relation_describe`]: `describe()` and `summary()`.
//! - [`relation_transpose`]: the `transpose()` relation.
//! - [`relation_sample`]: `sample`, `sampleBy` and `randomSplit`, with Spark's generators.
//! - [`relation_subquery`]: subquery expressions (`scalar()`, `exists()`, `isin(df)`).
//! - [`relation_catalog`]: `spark.catalog` calls and global temp views.
//! - [`relation_partition`]: repartition and coalesce.
//! - [`partitions`]: Hive partition folders as columns, as Spark reads them.
//! - [`relation_na`]: the `df.na` functions: fill, drop and replace.
//! - [`relation_stat`]: `df.stat.corr`, `cov`, `approxQuantile` and `freqItems`.
//! - [`expression`]: Connect expressions to DataFusion expressions.
//! - [`names`]: the names Spark gives unaliased result columns.
//! - [`call`]: function calls, mapped onto the session's function registry.
//! - [`window`]: window expressions and their frames.
//! - [`udf`]: Python UDFs: expressions, mapInPandas, applyInPandas, `spark.udf.register`.
//! - [`types`]: Spark data types and Arrow types, both ways.
//! - [`show`]: `DataFrame.show()`'s text, as Spark prints it.
//! - [`conf`]: Spark's settings and their defaults, as a client reads them.
//! - [`catalog_listing`]: `spark.catalog`'s lists: tables, views, columns, databases.
//! - [`write`]: `df.write` to a folder, `saveAsTable` and `insertInto`.
//! - [`error`]: errors as Spark sends them (`google.rpc.ErrorInfo`).

pub mod analyze;
pub mod call;
pub mod call_docs;
pub mod catalog_listing;
pub mod col_regex;
pub mod collection;
pub mod conf;
pub mod error;
pub mod execute;
pub mod expression;
pub mod fields;
pub mod generator;
pub mod lambda;
pub mod literal;
pub mod names;
pub mod operation;
pub mod partitions;
pub mod relation;
pub mod relation_catalog;
pub mod relation_columns;
pub mod relation_describe;
pub mod relation_join;
pub mod relation_na;
pub mod relation_partition;
pub mod relation_read;
pub mod relation_reshape;
pub mod relation_sample;
pub mod relation_set;
pub mod relation_stat;
pub mod relation_subquery;
pub mod relation_transpose;
pub mod scope;
pub mod service;
pub mod session;
pub mod show;
pub mod types;
pub mod udf;
pub mod window;
pub mod write;

/// The Spark Connect protocol of Spark 4.2.0, generated from the vendored
/// `.proto` files.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("spark.connect");
}

pub use service::ConnectService;

/// The Spark version Kiln answers `spark.version` with: the protocol it speaks.
pub const SPARK_VERSION: &str = "4.2.0";
