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

/// Writes `out` to stdout in `format`.
pub fn write_output(out: &QueryOutput, format: Format) -> Result<(), Box<dyn std::error::Error>> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    match format {
        Format::Table => {
            if out.batches.is_empty() {
                let empty = arrow::record_batch::RecordBatch::new_empty(out.schema.clone());
                writeln!(
                    lock,
                    "{}",
                    arrow::util::pretty::pretty_format_batches(&[empty])?
                )?;
            } else {
                writeln!(
                    lock,
                    "{}",
                    arrow::util::pretty::pretty_format_batches(&out.batches)?
                )?;
            }
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut lock);
            if out.batches.is_empty() {
                w.write(&arrow::record_batch::RecordBatch::new_empty(
                    out.schema.clone(),
                ))?;
            }
            for b in &out.batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut lock);
            for b in &out.batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    lock.flush()?;
    Ok(())
}
