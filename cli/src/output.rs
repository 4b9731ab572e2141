//! Printing a query's rows on stdout: an aligned table, CSV with a header
//! line, or JSON with one object per line.

use std::io::Write;

use kiln_driver::application::QueryOutput;

/// Output format of `kiln run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
}

/// Writes `out` to stdout in `format`: CSV and JSON batch by batch as they
/// are read from the driver's result spool (memory stays flat however
/// large the result); the aligned table needs every row first to size its
/// columns.
pub fn write_output(out: QueryOutput, format: Format) -> Result<(), Box<dyn std::error::Error>> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let schema = out.schema.clone();
    let empty = || arrow::record_batch::RecordBatch::new_empty(schema.clone());
    match format {
        Format::Table => {
            let mut batches = out.collect()?;
            if batches.is_empty() {
                batches.push(empty());
            }
            writeln!(
                lock,
                "{}",
                arrow::util::pretty::pretty_format_batches(&batches)?
            )?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut lock);
            let mut any = false;
            for b in out.batches()? {
                w.write(&b?)?;
                any = true;
            }
            if !any {
                // The header line of an empty result.
                w.write(&empty())?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut lock);
            for b in out.batches()? {
                w.write(&b?)?;
            }
            w.finish()?;
        }
    }
    lock.flush()?;
    Ok(())
}
