//! The Kiln driver.
//!
//! - [`application`]: runs a job's statements; DDL in the driver's catalog,
//!   queries and writes as jobs of stages.
//! - [`job`]: one job: its stages, then the driver's final step, whose rows
//!   stream to the caller.
//! - [`result`]: a query's rows on their way out of the driver (spooled,
//!   bounded by `spark.driver.maxResultSize`).
//! - [`planner`]: cuts a physical plan into a DAG of stages at its exchanges.
//! - [`scheduler`]: the DAG and task schedulers (readiness, slots, retries,
//!   fetch-failure recomputation).
//! - [`stage_attempt`] and [`task_attempt`]: the scheduler's attempt state
//!   (stage attempts after fetch failures, the live attempt of each task).
//! - [`map_output`]: the map-output tracker.
//! - [`executor_registry`]: registered executors, heartbeats, the driver's gRPC service.
//! - [`allocation`]: dynamic allocation's view of the executors (busy, needed, idle, released).
//! - [`file_table`]: ``parquet.`path` `` references as tables.
//! - [`cache_table`]: Spark's `CACHE TABLE` / `UNCACHE TABLE` (accepted; nothing is kept yet).
//! - [`managed_table`]: Spark's `CREATE TABLE` (managed and located tables).
//! - [`commit`]: the output commit protocol of `INSERT` and `COPY` (staging, commit, abort);
//!   [`commit_store`] retries its idempotent store operations on transient errors.
//! - [`cluster_manager`]: starts executor processes for `local-cluster` mode.
//! - [`progress`] and [`metrics`]: what a person sees while and after a job runs.
//! - [`listener`]: the schedulers' state changes as events for the UI, the
//!   event log and the Prometheus counters (`kiln-ui`).

pub mod allocation;
pub mod application;
pub mod cache_table;
pub mod cluster_manager;
pub mod commit;
pub mod commit_store;
pub mod executor_registry;
pub mod file_table;
pub mod job;
pub mod listener;
pub mod managed_table;
pub mod map_output;
pub mod metrics;
pub mod part_files;
pub mod planner;
pub mod progress;
pub mod result;
pub mod runtime_filter;
pub mod scheduler;
pub mod stage_attempt;
pub mod task_attempt;
