//! File output written by tasks: [`WriteFilesExec`], the end of a job's
//! write stage (Spark's `WriteFilesExec`).
//!
//! A `COPY ... TO` or `INSERT INTO` job ends in a stage whose tasks each
//! write their partition's rows with the statement's file sink (Parquet,
//! CSV or JSON). The driver points that sink at the write's staging folder
//! (see the driver's commit protocol); every task attempt writes into its
//! own folder below it, `_task-<stage>-<partition>-<attempt>/`, so the files
//! of a failed or lost attempt are never mixed with those of the attempt
//! that succeeded. The driver commits only the folders of the attempts it
//! recorded as successful.

use std::fmt;
use std::sync::Arc;

use arrow::csv::WriterBuilder;
use datafusion::common::file_options::csv_writer::CsvWriterOptions;
use datafusion::datasource::file_format::csv::CsvSink;
use datafusion::datasource::file_format::json::JsonSink;
use datafusion::datasource::file_format::parquet::ParquetSink;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::physical_plan::{FileSink, FileSinkConfig};
use datafusion::datasource::sink::DataSink;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    execute_input_stream, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    SendableRecordBatchStream,
};

use crate::shuffle::writer::{one_child, summary_batch, summary_properties, summary_schema};
use crate::shuffle::ShuffleTaskEnv;

/// Name of the folder (below the staging folder) that one task attempt of
/// a write stage writes into.
pub fn attempt_dir(stage: u32, partition: u32, attempt: u32) -> String {
    format!("_task-{stage}-{partition}-{attempt}")
}

/// Rebuilds a file sink of the same format over other settings.
pub type RebuildSink<'a> = Box<dyn Fn(FileSinkConfig) -> Arc<dyn DataSink> + Send + Sync + 'a>;

/// The settings of a Parquet, CSV or JSON file sink, and how to build the
/// same sink over other settings; `None` for other sinks.
pub fn file_sink(sink: &dyn DataSink) -> Option<(&FileSinkConfig, RebuildSink<'_>)> {
    if let Some(s) = sink.downcast_ref::<ParquetSink>() {
        let rebuild = |c| Arc::new(ParquetSink::new(c, s.parquet_options().clone())) as _;
        return Some((s.config(), Box::new(rebuild)));
    }
    if let Some(s) = sink.downcast_ref::<CsvSink>() {
        let rebuild = |c| Arc::new(CsvSink::new(c, unset_empty_formats(s.writer_options()))) as _;
        return Some((s.config(), Box::new(rebuild)));
    }
    if let Some(s) = sink.downcast_ref::<JsonSink>() {
        let rebuild = |c| Arc::new(JsonSink::new(c, s.writer_options().clone())) as _;
        return Some((s.config(), Box::new(rebuild)));
    }
    None
}

/// CSV writer options with every empty date/time format unset.
///
/// datafusion-proto carries an unset format as an empty string and sets it
/// back as `Some("")`, with which arrow writes every date and timestamp as
/// an empty cell: a CSV write stage decoded on an executor lost all of its
/// date and time columns. No format is meaningfully empty, so an empty one
/// means "the default" here.
fn unset_empty_formats(options: &CsvWriterOptions) -> CsvWriterOptions {
    let w = &options.writer_options;
    let mut b = WriterBuilder::new()
        .with_header(w.header())
        .with_delimiter(w.delimiter())
        .with_quote(w.quote())
        .with_escape(w.escape())
        .with_double_quote(w.double_quote())
        .with_null(w.null().to_string())
        .with_quote_style(w.quote_style())
        .with_line_terminator(w.line_terminator().clone())
        .with_ignore_leading_whitespace(w.ignore_leading_whitespace())
        .with_ignore_trailing_whitespace(w.ignore_trailing_whitespace());
    let set = |f: Option<&str>| f.filter(|f| !f.is_empty()).map(str::to_string);
    if let Some(f) = set(w.date_format()) {
        b = b.with_date_format(f);
    }
    if let Some(f) = set(w.datetime_format()) {
        b = b.with_datetime_format(f);
    }
    if let Some(f) = set(w.time_format()) {
        b = b.with_time_format(f);
    }
    if let Some(f) = set(w.timestamp_format()) {
        b = b.with_timestamp_format(f);
    }
    if let Some(f) = set(w.timestamp_tz_format()) {
        b = b.with_timestamp_tz_format(f);
    }
    CsvWriterOptions {
        writer_options: b,
        compression: options.compression,
        compression_level: options.compression_level,
    }
}

/// Whether a file sink writes one file (a target with a file extension)
/// rather than files into a folder.
pub fn writes_one_file(config: &FileSinkConfig) -> bool {
    config
        .table_paths
        .first()
        .is_some_and(|url| config.file_output_mode.single_file_output(url))
}

/// An owned copy of a file sink (DataFusion lends sinks out only by reference).
pub fn own_file_sink(sink: &dyn DataSink) -> Option<Arc<dyn DataSink>> {
    let (config, rebuild) = file_sink(sink)?;
    Some(rebuild(config.clone()))
}

/// The same sink writing below `dir` of its location: `<location>/<dir>/`
/// for a folder, `<folder>/<dir>/<name>` for a single file.
pub fn sink_below(sink: &dyn DataSink, dir: &str) -> Result<Arc<dyn DataSink>> {
    let (config, rebuild) = file_sink(sink)
        .ok_or_else(|| DataFusionError::Internal("a write task needs a file sink".into()))?;
    let base = config
        .table_paths
        .first()
        .ok_or_else(|| DataFusionError::Internal("file sink without a location".into()))?;
    let text = base.as_str();
    let url = if writes_one_file(config) {
        let (folder, name) = text
            .trim_end_matches('/')
            .rsplit_once('/')
            .ok_or_else(|| DataFusionError::Internal(format!("no folder in {text}")))?;
        format!("{folder}/{dir}/{name}")
    } else {
        format!("{}/{dir}/", text.trim_end_matches('/'))
    };
    let table = ListingTableUrl::parse(&url)?;
    Ok(rebuild(FileSinkConfig {
        original_url: url,
        table_paths: vec![table],
        ..config.clone()
    }))
}

/// Writes one partition of its input with a file sink, into the task
/// attempt's own folder, and yields one summary row `(0, rows, 0)` (the
/// shape of a shuffle writer's summary, so the task runner reports both alike).
#[derive(Debug)]
pub struct WriteFilesExec {
    input: Arc<dyn ExecutionPlan>,
    sink: Arc<dyn DataSink>,
    stage_id: u32,
    properties: Arc<PlanProperties>,
}

impl WriteFilesExec {
    /// Tasks of stage `stage_id` writing `input`'s partitions with `sink`.
    pub fn new(input: Arc<dyn ExecutionPlan>, sink: Arc<dyn DataSink>, stage_id: u32) -> Self {
        let properties = summary_properties(&input);
        WriteFilesExec {
            input,
            sink,
            stage_id,
            properties,
        }
    }

    /// The stage this node ends.
    pub fn stage_id(&self) -> u32 {
        self.stage_id
    }

    /// The sink, pointed at the write's staging location.
    pub fn sink(&self) -> &Arc<dyn DataSink> {
        &self.sink
    }
}

impl DisplayAs for WriteFilesExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "WriteFilesExec: stage={}, sink=", self.stage_id)?;
        self.sink.fmt_as(t, f)
    }
}

impl ExecutionPlan for WriteFilesExec {
    plan_node_basics!("WriteFilesExec", input, no_expressions);

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = one_child(children, "WriteFilesExec")?;
        Ok(Arc::new(WriteFilesExec::new(
            input,
            self.sink.clone(),
            self.stage_id,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let env = ShuffleTaskEnv::of(&context, "write task")?;
        let dir = attempt_dir(self.stage_id, partition as u32, env.attempt);
        let sink = sink_below(self.sink.as_ref(), &dir)?;
        let data = execute_input_stream(
            self.input.clone(),
            sink.schema().clone(),
            partition,
            context.clone(),
        )?;
        let fut = async move {
            let rows = sink.write_all(data, &context).await?;
            summary_batch(vec![0], vec![rows], vec![0])
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            summary_schema(),
            futures::stream::once(fut),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::parsers::CompressionTypeVariant;
    use datafusion::datasource::physical_plan::FileOutputMode;
    use datafusion::execution::object_store::ObjectStoreUrl;
    use datafusion::logical_expr::dml::InsertOp;

    fn csv_sink(url: &str) -> Arc<dyn DataSink> {
        let config = FileSinkConfig {
            original_url: url.into(),
            object_store_url: ObjectStoreUrl::local_filesystem(),
            file_group: Default::default(),
            table_paths: vec![ListingTableUrl::parse(url).expect("url")],
            output_schema: Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)])),
            table_partition_cols: vec![],
            insert_op: InsertOp::Append,
            keep_partition_by_columns: false,
            file_extension: "csv".into(),
            file_output_mode: FileOutputMode::Automatic,
        };
        let options = CsvWriterOptions::new(
            arrow::csv::WriterBuilder::new(),
            CompressionTypeVariant::UNCOMPRESSED,
        );
        Arc::new(CsvSink::new(config, options))
    }

    fn location(sink: &Arc<dyn DataSink>) -> String {
        let (config, _) = file_sink(sink.as_ref()).expect("file sink");
        config.table_paths[0].as_str().to_string()
    }

    #[test]
    fn each_attempt_writes_below_its_own_folder() {
        let folder = sink_below(csv_sink("file:///tmp/stage/").as_ref(), "_task-3-1-0")
            .expect("folder sink");
        assert_eq!(location(&folder), "file:///tmp/stage/_task-3-1-0/");
        let file = sink_below(
            csv_sink("file:///tmp/stage/out.csv").as_ref(),
            "_task-3-0-2",
        )
        .expect("file sink");
        assert_eq!(location(&file), "file:///tmp/stage/_task-3-0-2/out.csv");
        assert_eq!(attempt_dir(3, 0, 2), "_task-3-0-2");
    }

    #[test]
    fn empty_formats_from_the_plan_codec_mean_the_defaults() {
        let decoded = CsvWriterOptions::new(
            WriterBuilder::new()
                .with_date_format(String::new())
                .with_timestamp_format(String::new())
                .with_datetime_format("%Y/%m/%d %H".into())
                .with_delimiter(b';'),
            CompressionTypeVariant::GZIP,
        );
        let fixed = unset_empty_formats(&decoded);
        let w = &fixed.writer_options;
        assert_eq!(w.date_format(), None);
        assert_eq!(w.timestamp_format(), None);
        assert_eq!(w.datetime_format(), Some("%Y/%m/%d %H"));
        assert_eq!(w.delimiter(), b';');
        assert_eq!(fixed.compression, CompressionTypeVariant::GZIP);
    }
}
