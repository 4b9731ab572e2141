//! `kiln gen tpch`: TPC-H tables generated in-process (the `tpchgen` crates
//! behind `tpchgen-cli`) and written as Parquet, one folder per table, so a
//! fresh machine has data for the examples and benchmarks with no download.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow,
    RecordBatchIterator, RegionArrow, SupplierArrow,
};

use crate::CliError;

/// Arguments of `kiln gen tpch`.
#[derive(Debug, clap::Args)]
pub struct TpchArgs {
    /// Scale factor (1 = about 1 GB of raw data; 0.1 for quick runs).
    #[arg(long, default_value_t = 0.1)]
    scale: f64,
    /// Output directory.
    dir: PathBuf,
    /// Files per large table (parallel generation and scans).
    #[arg(long)]
    parts: Option<i32>,
}

const TABLES: [&str; 8] = [
    "nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem",
];

fn batches(table: &str, scale: f64, part: i32, parts: i32) -> Box<dyn RecordBatchIterator> {
    match table {
        "nation" => Box::new(NationArrow::new(NationGenerator::new(scale, part, parts))),
        "region" => Box::new(RegionArrow::new(RegionGenerator::new(scale, part, parts))),
        "part" => Box::new(PartArrow::new(PartGenerator::new(scale, part, parts))),
        "supplier" => Box::new(SupplierArrow::new(SupplierGenerator::new(
            scale, part, parts,
        ))),
        "partsupp" => Box::new(PartSuppArrow::new(PartSuppGenerator::new(
            scale, part, parts,
        ))),
        "customer" => Box::new(CustomerArrow::new(CustomerGenerator::new(
            scale, part, parts,
        ))),
        "orders" => Box::new(OrderArrow::new(OrderGenerator::new(scale, part, parts))),
        _ => Box::new(LineItemArrow::new(LineItemGenerator::new(
            scale, part, parts,
        ))),
    }
}

fn write_part(table: &str, scale: f64, part: i32, parts: i32, path: &Path) -> Result<u64, String> {
    let iter = batches(table, scale, part, parts);
    let schema = iter.schema().clone();
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(256 * 1024))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| e.to_string())?;
    let mut rows = 0u64;
    for b in iter {
        rows += b.num_rows() as u64;
        writer.write(&b).map_err(|e| e.to_string())?;
    }
    writer.close().map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot rename {}: {e}", tmp.display()))?;
    Ok(rows)
}

/// Generates every TPC-H table under `args.dir`.
pub async fn tpch(args: TpchArgs) -> Result<(), CliError> {
    if !(args.scale > 0.0 && args.scale <= 1000.0) {
        return Err(CliError::Input(format!(
            "--scale: must be in (0, 1000], found {}",
            args.scale
        )));
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2) as i32;
    let parts = args.parts.unwrap_or(threads.max(1)).max(1);
    let start = Instant::now();
    let mut jobs = Vec::new();
    for table in TABLES {
        let dir = args.dir.join(table);
        std::fs::create_dir_all(&dir)
            .map_err(|e| CliError::Input(format!("cannot create {}: {e}", dir.display())))?;
        // Small tables in one file; the large ones split for parallelism.
        let n = if matches!(table, "nation" | "region") {
            1
        } else {
            parts
        };
        for p in 1..=n {
            jobs.push((table, p, n, dir.join(format!("part-{p}.parquet"))));
        }
    }
    let scale = args.scale;
    let total = jobs.len();
    let result = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let queue = std::sync::Mutex::new(jobs.into_iter());
        let done = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            let mut handles = Vec::new();
            for _ in 0..threads.max(1) {
                handles.push(s.spawn(|| -> Result<(), String> {
                    loop {
                        let next = queue
                            .lock()
                            .map_err(|_| "worker panicked".to_string())?
                            .next();
                        let Some((table, p, n, path)) = next else {
                            return Ok(());
                        };
                        let rows = write_part(table, scale, p, n, &path)?;
                        let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        eprintln!("[{k}/{total}] {table} part {p}/{n}: {rows} rows");
                    }
                }));
            }
            for h in handles {
                h.join()
                    .map_err(|_| "generator thread panicked".to_string())??;
            }
            Ok(())
        })
    })
    .await
    .map_err(|e| CliError::Failed(e.to_string()))?;
    result.map_err(CliError::Failed)?;
    eprintln!(
        "generated TPC-H scale factor {} in {} in {:.1}s",
        args.scale,
        args.dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
