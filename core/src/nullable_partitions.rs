//! Hive partition columns (`table/store=3/...`) declared nullable, as Spark
//! declares them: a partition value may be `__HIVE_DEFAULT_PARTITION__`
//! (NULL). DataFusion's listing tables declare them non-nullable.
//! [`NullablePartitions`] is the same table with only its declared schema
//! changed; scans, filter pushdown and statistics are the listing table's.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::{Constraints, Statistics};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

/// A table whose columns named in `nullable` are declared nullable.
#[derive(Debug)]
pub struct NullablePartitions {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
}

impl NullablePartitions {
    /// `inner` with the columns `names` declared nullable.
    pub fn new(inner: Arc<dyn TableProvider>, names: &[String]) -> Self {
        let schema = inner.schema();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                let nullable = f.is_nullable() || names.iter().any(|n| n == f.name());
                f.as_ref().clone().with_nullable(nullable)
            })
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        NullablePartitions { inner, schema }
    }
}

#[async_trait]
impl TableProvider for NullablePartitions {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> Result<ScanResult> {
        self.inner.scan_with_args(state, args).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}
