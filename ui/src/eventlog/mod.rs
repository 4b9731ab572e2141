//! Spark's event log: the JSON of each event ([`spark_json`]), where logs
//! live ([`store`]), the writer of the rolling v2 layout ([`writer`]) and
//! the reader ([`reader`]).

pub mod reader;
pub mod spark_json;
pub mod store;
pub mod writer;
