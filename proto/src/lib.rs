//! The driver <-> executor gRPC protocol of Kiln.
//!
//! Generated from `proto/kiln.proto`: message types plus tonic clients and
//! servers for `DriverService` and `ExecutorService`.
#![allow(missing_docs, clippy::all)]

/// Version 1 of the protocol.
pub mod v1 {
    tonic::include_proto!("kiln.v1");
}

pub use v1::*;
