//! Connect relations to DataFusion logical plans, planned in a client
//! session's catalog. Each relation becomes the DataFrame operation Spark
//! would run; the plan then goes to Kiln's distributed planner as a whole.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{Column, JoinType};
use datafusion::datasource::MemTable;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{
    Expr, ExprSchemable, GroupingSet, LogicalPlan, LogicalPlanBuilder, Partitioning,
};
use datafusion::prelude::{
    coalesce, CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions, SessionContext,
};
use futures::future::BoxFuture;

use crate::error::{ConnectError, Result};
use crate::expression::{
    columns_of, named, parse_identifier, resolve_column, sort_key, to_expr, to_exprs, PlanIds,
    Scope,
};
use crate::proto::relation::RelType;
use crate::proto::{self, Relation};
use crate::types;

/// Plans the relations of one request in a session.
pub struct Planner<'a> {
    ctx: &'a SessionContext,
    state: SessionState,
    plan_ids: PlanIds,
    next_alias: usize,
}

fn required_box<'a, T>(x: &'a Option<Box<T>>, what: &str) -> Result<&'a T> {
    x.as_deref()
        .ok_or_else(|| ConnectError::IllegalArgument(format!("{what} is missing")))
}

impl<'a> Planner<'a> {
    /// A planner for relations of `ctx`'s session.
    pub fn new(ctx: &'a SessionContext) -> Self {
        Planner {
            ctx,
            state: ctx.state(),
            plan_ids: PlanIds::new(),
            next_alias: 0,
        }
    }

    fn df(&self, plan: LogicalPlan) -> DataFrame {
        DataFrame::new(self.state.clone(), plan)
    }

    fn scope<'s>(&'s self, schema: &'s datafusion::common::DFSchema) -> Scope<'s> {
        Scope {
            state: &self.state,
            schema,
            plan_ids: &self.plan_ids,
        }
    }

    /// A leaf under a name no other leaf has, so the columns of two reads
    /// stay apart in a join.
    fn leaf(&mut self, plan: LogicalPlan) -> Result<LogicalPlan> {
        self.next_alias += 1;
        Ok(LogicalPlanBuilder::from(plan)
            .alias(format!("__kiln_r{}", self.next_alias))?
            .build()?)
    }

    /// The logical plan of `rel`.
    pub fn plan<'b>(&'b mut self, rel: &'b Relation) -> BoxFuture<'b, Result<LogicalPlan>> {
        Box::pin(async move {
            let plan = self.plan_inner(rel).await?;
            if let Some(id) = rel.common.as_ref().and_then(|c| c.plan_id) {
                self.plan_ids.insert(id, columns_of(plan.schema()));
            }
            Ok(plan)
        })
    }

    async fn input(&mut self, input: &Option<Box<Relation>>) -> Result<LogicalPlan> {
        let rel = required_box(input, "the relation's input")?;
        self.plan(rel).await
    }

    async fn plan_inner(&mut self, rel: &Relation) -> Result<LogicalPlan> {
        let Some(t) = &rel.rel_type else {
            return Err(ConnectError::IllegalArgument(
                "a relation without a type".into(),
            ));
        };
        match t {
            RelType::Read(r) => self.read(r).await,
            #[allow(deprecated)]
            RelType::Sql(s) => {
                if !s.args.is_empty()
                    || !s.pos_args.is_empty()
                    || !s.named_arguments.is_empty()
                    || !s.pos_arguments.is_empty()
                {
                    return Err(ConnectError::Unsupported("spark.sql with args".into()));
                }
                sql_query_plan(self.ctx, &s.query).await
            }
            RelType::LocalRelation(l) => {
                let plan = local_relation(self.ctx, l)?;
                self.leaf(plan)
            }
            RelType::Range(r) => {
                let plan = range(self.ctx, r)?;
                self.leaf(plan)
            }
            RelType::Project(p) => {
                let input = match &p.input {
                    Some(i) => self.plan(i).await?,
                    // `spark.range(0).select(lit(1))`-less selects: one empty row.
                    None => LogicalPlanBuilder::empty(true).build()?,
                };
                self.project(input, &p.expressions)
            }
            RelType::Filter(f) => {
                let input = self.input(&f.input).await?;
                let cond = to_expr(
                    f.condition.as_ref().ok_or_else(|| {
                        ConnectError::IllegalArgument("the filter condition is missing".into())
                    })?,
                    &self.scope(input.schema()),
                )?;
                Ok(self.df(input).filter(cond)?.into_unoptimized_plan())
            }
            RelType::Join(j) => self.join(j).await,
            RelType::SetOp(s) => self.set_op(s).await,
            RelType::Sort(s) => {
                let input = self.input(&s.input).await?;
                let scope = self.scope(input.schema());
                let keys = s
                    .order
                    .iter()
                    .map(|o| crate::expression::sort_expr(o, &scope))
                    .collect::<Result<Vec<_>>>()?;
                Ok(self.df(input).sort(keys)?.into_unoptimized_plan())
            }
            RelType::Limit(l) => {
                let input = self.input(&l.input).await?;
                let n = usize::try_from(l.limit).map_err(|_| {
                    ConnectError::IllegalArgument(format!("limit {} is negative", l.limit))
                })?;
                Ok(self.df(input).limit(0, Some(n))?.into_unoptimized_plan())
            }
            RelType::Offset(o) => {
                let input = self.input(&o.input).await?;
                let n = usize::try_from(o.offset).map_err(|_| {
                    ConnectError::IllegalArgument(format!("offset {} is negative", o.offset))
                })?;
                Ok(self.df(input).limit(n, None)?.into_unoptimized_plan())
            }
            RelType::Aggregate(a) => self.aggregate(a).await,
            RelType::SubqueryAlias(s) => {
                let input = self.input(&s.input).await?;
                Ok(self.df(input).alias(&s.alias)?.into_unoptimized_plan())
            }
            RelType::ToDf(t) => {
                let input = self.input(&t.input).await?;
                if t.column_names.len() != input.schema().fields().len() {
                    return Err(ConnectError::IllegalArgument(format!(
                        "toDF: {} names for {} columns",
                        t.column_names.len(),
                        input.schema().fields().len()
                    )));
                }
                let exprs: Vec<Expr> = input
                    .schema()
                    .iter()
                    .zip(&t.column_names)
                    .map(|((q, f), n)| Expr::Column(Column::new(q.cloned(), f.name())).alias(n))
                    .collect();
                Ok(LogicalPlanBuilder::from(input).project(exprs)?.build()?)
            }
            RelType::WithColumnsRenamed(w) => {
                let input = self.input(&w.input).await?;
                let mut renames: Vec<(String, String)> = w
                    .renames
                    .iter()
                    .map(|r| (r.col_name.clone(), r.new_col_name.clone()))
                    .collect();
                renames.extend(
                    w.rename_columns_map
                        .iter()
                        .map(|(a, b)| (a.clone(), b.clone())),
                );
                let exprs: Vec<Expr> = input
                    .schema()
                    .iter()
                    .map(|(q, f)| {
                        let c = Expr::Column(Column::new(q.cloned(), f.name()));
                        match renames
                            .iter()
                            .find(|(old, _)| old.eq_ignore_ascii_case(f.name()))
                        {
                            Some((_, new)) => c.alias(new),
                            None => c,
                        }
                    })
                    .collect();
                Ok(LogicalPlanBuilder::from(input).project(exprs)?.build()?)
            }
            RelType::Drop(d) => {
                let input = self.input(&d.input).await?;
                let scope = self.scope(input.schema());
                let mut dropped: Vec<Column> = vec![];
                for c in &d.columns {
                    if let Ok(Expr::Column(col)) = to_expr(c, &scope) {
                        dropped.push(col);
                    }
                }
                let exprs: Vec<Expr> = input
                    .schema()
                    .iter()
                    .filter(|(q, f)| {
                        !d.column_names
                            .iter()
                            .any(|n| n.eq_ignore_ascii_case(f.name()))
                            && !dropped
                                .iter()
                                .any(|c| c.name == *f.name() && c.relation.as_ref() == *q)
                    })
                    .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
                    .collect();
                Ok(LogicalPlanBuilder::from(input).project(exprs)?.build()?)
            }
            RelType::Deduplicate(d) => {
                let input = self.input(&d.input).await?;
                if d.column_names.is_empty() || d.all_columns_as_keys == Some(true) {
                    return Ok(self.df(input).distinct()?.into_unoptimized_plan());
                }
                let scope = self.scope(input.schema());
                let on = d
                    .column_names
                    .iter()
                    .map(|n| resolve_column(&parse_identifier(n)?, None, &scope))
                    .collect::<Result<Vec<_>>>()?;
                let all: Vec<Expr> = input
                    .schema()
                    .iter()
                    .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
                    .collect();
                Ok(self
                    .df(input)
                    .distinct_on(on, all, None)?
                    .into_unoptimized_plan())
            }
            RelType::WithColumns(w) => {
                let input = self.input(&w.input).await?;
                let scope = self.scope(input.schema());
                let mut exprs: Vec<Expr> = input
                    .schema()
                    .iter()
                    .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
                    .collect();
                let names: Vec<String> = input
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                for a in &w.aliases {
                    let name = a.name.join(".");
                    let value =
                        to_expr(required_box(&a.expr, "the new column")?, &scope)?.alias(&name);
                    match names.iter().position(|n| n.eq_ignore_ascii_case(&name)) {
                        Some(i) => exprs[i] = value,
                        None => exprs.push(value),
                    }
                }
                Ok(self.df(input).select(exprs)?.into_unoptimized_plan())
            }
            RelType::Repartition(r) => {
                let input = self.input(&r.input).await?;
                let n = usize::try_from(r.num_partitions.max(1)).unwrap_or(1);
                Ok(self
                    .df(input)
                    .repartition(Partitioning::RoundRobinBatch(n))?
                    .into_unoptimized_plan())
            }
            RelType::RepartitionByExpression(r) => {
                let input = self.input(&r.input).await?;
                let scope = self.scope(input.schema());
                let exprs = r
                    .partition_exprs
                    .iter()
                    .map(|e| to_expr(e, &scope))
                    .collect::<Result<Vec<_>>>()?;
                let n = r
                    .num_partitions
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .unwrap_or(self.state.config().target_partitions());
                let partitioning = if exprs.is_empty() {
                    Partitioning::RoundRobinBatch(n)
                } else {
                    Partitioning::Hash(exprs, n)
                };
                Ok(self
                    .df(input)
                    .repartition(partitioning)?
                    .into_unoptimized_plan())
            }
            RelType::FillNa(f) => {
                let input = self.input(&f.input).await?;
                crate::relation_na::fill(input, f)
            }
            RelType::DropNa(d) => {
                let input = self.input(&d.input).await?;
                crate::relation_na::drop(input, d)
            }
            RelType::Replace(r) => {
                let input = self.input(&r.input).await?;
                crate::relation_na::replace(input, r)
            }
            RelType::Corr(c) => {
                let input = self.input(&c.input).await?;
                crate::relation_stat::corr_of(input, c)
            }
            RelType::Cov(c) => {
                let input = self.input(&c.input).await?;
                crate::relation_stat::cov_of(input, c)
            }
            RelType::MapPartitions(m) => {
                let input = self.input(&m.input).await?;
                crate::udf::map_partitions(self.ctx, input, m)
            }
            RelType::GroupMap(g) => {
                let input = self.input(&g.input).await?;
                let scope = self.scope(input.schema());
                crate::udf::group_map(self.ctx, input.clone(), g, &scope)
            }
            RelType::CoGroupMap(g) => {
                let left = self.input(&g.input).await?;
                let right = self.input(&g.other).await?;
                let (ls, rs) = (left.schema().clone(), right.schema().clone());
                let (ls, rs) = (self.scope(&ls), self.scope(&rs));
                crate::udf::co_group_map(self.ctx, (left, &ls), (right, &rs), g)
            }
            // Hints (broadcast) are the planner's business in Kiln: the
            // broadcast threshold decides.
            RelType::Hint(h) => self.input(&h.input).await,
            RelType::ShowString(_) | RelType::HtmlString(_) => Err(ConnectError::analysis(
                "show() output cannot be the input of another relation",
            )),
            other => Err(ConnectError::Unsupported(format!(
                "the relation {}",
                relation_name(other)
            ))),
        }
    }

    fn project(
        &mut self,
        input: LogicalPlan,
        expressions: &[proto::Expression],
    ) -> Result<LogicalPlan> {
        let scope = self.scope(input.schema());
        let mut exprs = vec![];
        // Spark allows two result columns of one name (`select(f(a), f(a))`);
        // DataFusion wants them unique: the later ones get a hidden suffix.
        let mut taken = kiln_core::spark_names::NameList::default();
        for e in expressions {
            for x in to_exprs(e, &scope)? {
                let x = named(e, x, &scope);
                let duplicate = match &x {
                    Expr::Alias(a) => taken.claim(&a.name),
                    other => {
                        taken.claim(&other.schema_name().to_string());
                        None
                    }
                };
                exprs.push(match duplicate {
                    Some(unique) => x.unalias().alias(unique),
                    None => x,
                });
            }
        }
        // A select of aggregates only (`df.select(sum("x"))`) is a global aggregate.
        let has_agg = exprs.iter().any(contains_aggregate);
        if has_agg && exprs.iter().all(contains_aggregate) {
            return Ok(self
                .df(input)
                .aggregate(vec![], exprs)?
                .into_unoptimized_plan());
        }
        Ok(self.df(input).select(exprs)?.into_unoptimized_plan())
    }

    async fn read(&mut self, r: &proto::Read) -> Result<LogicalPlan> {
        use proto::read::ReadType;
        if r.is_streaming {
            return Err(ConnectError::Unsupported(
                "streaming reads (spark.readStream): Kiln runs batch jobs".into(),
            ));
        }
        match &r.read_type {
            Some(ReadType::NamedTable(t)) => {
                let parts = parse_identifier(&t.unparsed_identifier)?;
                let name = parts.join(".");
                let df = self
                    .ctx
                    .table(name.as_str())
                    .await
                    .map_err(|_| ConnectError::table_not_found(&parts))?;
                Ok(df.into_unoptimized_plan())
            }
            Some(ReadType::DataSource(ds)) => {
                let plan = read_source(self.ctx, ds).await?;
                self.leaf(plan)
            }
            None => Err(ConnectError::IllegalArgument("a read of nothing".into())),
        }
    }

    async fn join(&mut self, j: &proto::Join) -> Result<LogicalPlan> {
        use proto::join::JoinType as J;
        let left = self.input(&j.left).await?;
        let right = self.input(&j.right).await?;
        let jt = match J::try_from(j.join_type).unwrap_or(J::Inner) {
            J::Unspecified | J::Inner => JoinType::Inner,
            J::FullOuter => JoinType::Full,
            J::LeftOuter => JoinType::Left,
            J::RightOuter => JoinType::Right,
            J::LeftAnti => JoinType::LeftAnti,
            J::LeftSemi => JoinType::LeftSemi,
            J::Cross => JoinType::Inner,
        };
        if !j.using_columns.is_empty() {
            return self.join_using(left, right, jt, &j.using_columns);
        }
        let mut joined_schema = left.schema().as_ref().clone();
        joined_schema.merge(right.schema());
        let cond = match &j.join_condition {
            Some(c) => vec![to_expr(c, &self.scope(&joined_schema))?],
            None => vec![],
        };
        Ok(LogicalPlanBuilder::from(left)
            .join_on(right, jt, cond)?
            .build()?)
    }

    /// `join(other, on=["k"])`: equal keys, each key once in the output (the
    /// left's, the right's for a right join, either for a full join).
    fn join_using(
        &mut self,
        left: LogicalPlan,
        right: LogicalPlan,
        jt: JoinType,
        using: &[String],
    ) -> Result<LogicalPlan> {
        // DataFusion refuses a join whose sides have a column of one name
        // once qualified and once not (an aggregate's output, an earlier
        // USING key): such a side gets a name of its own first.
        let mut named = |plan: LogicalPlan| {
            if plan.schema().iter().any(|(q, _)| q.is_none()) {
                self.leaf(plan)
            } else {
                Ok(plan)
            }
        };
        let left = named(left)?;
        let right = named(right)?;
        let ls = self.scope(left.schema());
        let rs = self.scope(right.schema());
        let mut keys = vec![];
        for name in using {
            let parts = parse_identifier(name)?;
            let l = resolve_column(&parts, None, &ls)?;
            let r = resolve_column(&parts, None, &rs)?;
            keys.push((name.clone(), l, r));
        }
        let cond: Vec<Expr> = keys
            .iter()
            .map(|(_, l, r)| l.clone().eq(r.clone()))
            .collect();
        let left_cols = columns_of(left.schema());
        let right_cols = columns_of(right.schema());
        let is_key = |e: &Expr, q: &Option<datafusion::common::TableReference>, n: &str| matches!(e, Expr::Column(c) if c.name == n && c.relation == *q);
        // Each side's key columns resolve against that side only: a key the
        // left has without a qualifier (a USING key of an earlier join)
        // would be ambiguous in a condition read against both sides.
        let columns: Option<(Vec<Column>, Vec<Column>)> = keys
            .iter()
            .map(|(_, l, r)| match (l, r) {
                (Expr::Column(l), Expr::Column(r)) => Some((l.clone(), r.clone())),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|pairs| pairs.into_iter().unzip());
        let plan = match columns {
            Some(on) => LogicalPlanBuilder::from(left)
                .join(right, jt, on, None)?
                .build()?,
            None => LogicalPlanBuilder::from(left)
                .join_on(right, jt, cond)?
                .build()?,
        };
        if matches!(jt, JoinType::LeftSemi | JoinType::LeftAnti) {
            return Ok(plan);
        }
        // A key keeps the qualifier of the side whose column it stands for
        // (the left's for a full join): an unqualified key next to a
        // qualified column of the same name in a later join would be
        // ambiguous to DataFusion.
        let qualifier = |e: &Expr| match e {
            Expr::Column(c) => c.relation.clone(),
            _ => None,
        };
        let mut exprs: Vec<Expr> = keys
            .iter()
            .map(|(name, l, r)| match jt {
                JoinType::Right => r.clone().alias_qualified(qualifier(r), name),
                JoinType::Full => {
                    coalesce(vec![l.clone(), r.clone()]).alias_qualified(qualifier(l), name)
                }
                _ => l.clone().alias_qualified(qualifier(l), name),
            })
            .collect();
        for (q, n) in &left_cols {
            if !keys.iter().any(|(_, l, _)| is_key(l, q, n)) {
                exprs.push(Expr::Column(Column::new(q.clone(), n)));
            }
        }
        for (q, n) in &right_cols {
            if !keys.iter().any(|(_, _, r)| is_key(r, q, n)) {
                exprs.push(Expr::Column(Column::new(q.clone(), n)));
            }
        }
        Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
    }

    async fn set_op(&mut self, s: &proto::SetOperation) -> Result<LogicalPlan> {
        use proto::set_operation::SetOpType as S;
        let left = self.input(&s.left_input).await?;
        let right = self.input(&s.right_input).await?;
        let all = s.is_all.unwrap_or(false);
        let by_name = s.by_name.unwrap_or(false);
        let op = S::try_from(s.set_op_type).unwrap_or(S::Unspecified);
        if op != S::Union && left.schema().fields().len() != right.schema().fields().len() {
            return Err(ConnectError::Analysis {
                class: "NUM_COLUMNS_MISMATCH",
                message: format!(
                    "{} can only be performed on inputs with the same number of columns, but \
                     the first input has {} columns and the second input has {} columns.",
                    match op {
                        S::Intersect => "INTERSECT",
                        _ => "EXCEPT",
                    },
                    left.schema().fields().len(),
                    right.schema().fields().len()
                ),
            });
        }
        let plan = match op {
            S::Union => {
                if by_name {
                    if s.allow_missing_columns != Some(true) {
                        let names = |p: &LogicalPlan| {
                            let mut v: Vec<String> = p
                                .schema()
                                .fields()
                                .iter()
                                .map(|f| f.name().to_lowercase())
                                .collect();
                            v.sort();
                            v
                        };
                        if names(&left) != names(&right) {
                            return Err(ConnectError::Analysis {
                                class: "NUM_COLUMNS_MISMATCH",
                                message: "unionByName: the inputs have different columns (use \
                                          allowMissingColumns=True)"
                                    .into(),
                            });
                        }
                    }
                    LogicalPlanBuilder::from(left)
                        .union_by_name(right)?
                        .build()?
                } else {
                    if left.schema().fields().len() != right.schema().fields().len() {
                        return Err(ConnectError::Analysis {
                            class: "NUM_COLUMNS_MISMATCH",
                            message: format!(
                                "UNION can only be performed on inputs with the same number of \
                                 columns, but the first input has {} columns and the second \
                                 input has {} columns.",
                                left.schema().fields().len(),
                                right.schema().fields().len()
                            ),
                        });
                    }
                    let b = LogicalPlanBuilder::from(left);
                    if all {
                        b.union(right)?.build()?
                    } else {
                        b.union_distinct(right)?.build()?
                    }
                }
            }
            S::Intersect => LogicalPlanBuilder::intersect(left, right, all)?,
            S::Except => LogicalPlanBuilder::except(left, right, all)?,
            S::Unspecified => {
                return Err(ConnectError::IllegalArgument(
                    "a set operation without a type".into(),
                ))
            }
        };
        Ok(plan)
    }

    async fn aggregate(&mut self, a: &proto::Aggregate) -> Result<LogicalPlan> {
        use proto::aggregate::GroupType as G;
        let input = self.input(&a.input).await?;
        let scope = self.scope(input.schema());
        let groups = a
            .grouping_expressions
            .iter()
            .map(|g| Ok(named(g, to_expr(g, &scope)?, &scope)))
            .collect::<Result<Vec<_>>>()?;
        let aggs = a
            .aggregate_expressions
            .iter()
            .map(|e| Ok(named(e, to_expr(e, &scope)?, &scope)))
            .collect::<Result<Vec<_>>>()?;
        let group_exprs = match G::try_from(a.group_type).unwrap_or(G::Groupby) {
            G::Unspecified | G::Groupby => groups,
            G::Rollup => vec![Expr::GroupingSet(GroupingSet::Rollup(groups))],
            G::Cube => vec![Expr::GroupingSet(GroupingSet::Cube(groups))],
            G::Pivot => return Err(ConnectError::Unsupported("pivot".into())),
            G::GroupingSets => {
                let sets = a
                    .grouping_sets
                    .iter()
                    .map(|s| {
                        s.grouping_set
                            .iter()
                            .map(|g| to_expr(g, &scope))
                            .collect::<Result<Vec<_>>>()
                    })
                    .collect::<Result<Vec<_>>>()?;
                vec![Expr::GroupingSet(GroupingSet::GroupingSets(sets))]
            }
        };
        Ok(self
            .df(input)
            .aggregate(group_exprs, aggs)?
            .into_unoptimized_plan())
    }
}

fn contains_aggregate(e: &Expr) -> bool {
    let mut found = false;
    let _ = e.apply(|x| {
        if matches!(x, Expr::AggregateFunction(_)) {
            found = true;
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        if matches!(x, Expr::WindowFunction(_)) {
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Jump);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

use datafusion::common::tree_node::TreeNode;

fn relation_name(t: &RelType) -> String {
    let debug = format!("{t:?}");
    let name = debug.split('(').next().unwrap_or("unknown");
    name.to_string()
}

/// The logical plan of one SQL query text in `ctx` (identifiers resolved
/// case-insensitively, as in manifests).
pub async fn sql_query_plan(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan> {
    let mut plans = kiln_driver::application::sql_plans(ctx, sql, "spark.sql")
        .await
        .map_err(|e| ConnectError::from_sql(e, sql))?;
    match plans.len() {
        1 => {
            let mut plans = plans.remove(0);
            match plans.len() {
                1 => Ok(plans.remove(0)),
                _ => Err(ConnectError::Unsupported(
                    "this statement as a DataFrame (run it with spark.sql first)".into(),
                )),
            }
        }
        0 => Err(ConnectError::Parse(
            "[PARSE_EMPTY_STATEMENT] Syntax error, unexpected empty statement.".into(),
        )),
        n => Err(ConnectError::Parse(format!(
            "spark.sql takes one statement, got {n}"
        ))),
    }
}

fn bool_option(ds: &proto::read::DataSource, key: &str, default: bool) -> Result<bool> {
    match option(ds, key) {
        None => Ok(default),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ConnectError::IllegalArgument(format!(
                "option `{key}`: `{v}` is not true or false"
            ))),
        },
    }
}

fn option<'d>(ds: &'d proto::read::DataSource, key: &str) -> Option<&'d str> {
    ds.options
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Files of a read: a folder takes the format's files, a file or glob as given.
fn extension_for(paths: &[String], default: &str) -> String {
    if paths.iter().all(|p| std::path::Path::new(p).is_dir()) {
        default.to_string()
    } else {
        String::new()
    }
}

async fn read_source(ctx: &SessionContext, ds: &proto::read::DataSource) -> Result<LogicalPlan> {
    let format = ds
        .format
        .as_deref()
        .unwrap_or("parquet")
        .to_ascii_lowercase();
    if ds.paths.is_empty() {
        return Err(ConnectError::IllegalArgument(format!(
            "a {format} read needs a path"
        )));
    }
    for p in &ds.paths {
        if !p.contains("://") && !p.contains('*') && !std::path::Path::new(p).exists() {
            return Err(ConnectError::path_not_found(p));
        }
    }
    let schema: Option<SchemaRef> = ds
        .schema
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(types::parse_schema)
        .transpose()?;
    let paths: Vec<&str> = ds.paths.iter().map(String::as_str).collect();
    // Hive partition folders of a single folder read (Spark's discovery).
    let partitions = match ds.paths.as_slice() {
        [one] => crate::partitions::partition_columns(one),
        _ => vec![],
    };
    let df = match format.as_str() {
        "parquet" => {
            let ext = extension_for(&ds.paths, ".parquet");
            let mut opts = ParquetReadOptions::default()
                .file_extension(&ext)
                .table_partition_cols(partitions.clone());
            if let Some(s) = &schema {
                opts = opts.schema(s);
            }
            ctx.read_parquet(paths, opts).await?
        }
        "csv" => {
            let header = bool_option(ds, "header", false)?;
            let infer = bool_option(ds, "inferSchema", false)?;
            let sep = option(ds, "sep").or(option(ds, "delimiter")).unwrap_or(",");
            let [sep] = sep.as_bytes() else {
                return Err(ConnectError::IllegalArgument(format!(
                    "option `sep`: `{sep}` must be one character"
                )));
            };
            let ext = extension_for(&ds.paths, ".csv");
            let base = || {
                CsvReadOptions::new()
                    .has_header(header)
                    .delimiter(*sep)
                    .file_extension(&ext)
                    .table_partition_cols(partitions.clone())
            };
            let schema = match schema {
                Some(s) => s,
                None => {
                    // Spark: columns `_c0, _c1, ...` without a header, and
                    // every column a string unless inferSchema.
                    let probe = ctx.read_csv(paths.clone(), base()).await?;
                    let fields: Vec<Field> = probe
                        .schema()
                        .fields()
                        .iter()
                        .filter(|f| !partitions.iter().any(|(p, _)| p == f.name()))
                        .enumerate()
                        .map(|(i, f)| {
                            let name = if header {
                                f.name().clone()
                            } else {
                                format!("_c{i}")
                            };
                            let t = if infer {
                                f.data_type().clone()
                            } else {
                                DataType::Utf8
                            };
                            Field::new(name, t, true)
                        })
                        .collect();
                    Arc::new(Schema::new(fields))
                }
            };
            ctx.read_csv(paths, base().schema(&schema)).await?
        }
        "json" => {
            let ext = extension_for(&ds.paths, ".json");
            let mut opts = JsonReadOptions::default()
                .file_extension(&ext)
                .table_partition_cols(partitions.clone());
            if let Some(s) = &schema {
                opts = opts.schema(s);
            }
            ctx.read_json(paths, opts).await?
        }
        other => {
            return Err(ConnectError::Unsupported(format!(
                "the data source `{other}` (Kiln reads parquet, csv and json)"
            )))
        }
    };
    Ok(crate::partitions::nullable(ctx, df, &partitions)?.into_unoptimized_plan())
}

fn local_relation(ctx: &SessionContext, l: &proto::LocalRelation) -> Result<LogicalPlan> {
    let mut batches = vec![];
    let mut schema: Option<SchemaRef> = None;
    if let Some(data) = &l.data {
        let reader =
            arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(data.as_ref()), None)
                .map_err(|e| ConnectError::IllegalArgument(format!("local relation data: {e}")))?;
        schema = Some(reader.schema());
        for b in reader {
            batches.push(
                b.map_err(|e| ConnectError::IllegalArgument(format!("local relation data: {e}")))?,
            );
        }
    }
    if let Some(s) = l.schema.as_deref().filter(|s| !s.is_empty()) {
        let declared = types::parse_schema(s)?;
        match &schema {
            // The data's own (Arrow) schema wins; the declared names apply.
            Some(data_schema) if data_schema.fields().len() == declared.fields().len() => {
                let fields: Vec<Field> = data_schema
                    .fields()
                    .iter()
                    .zip(declared.fields())
                    .map(|(d, n)| Field::new(n.name(), d.data_type().clone(), true))
                    .collect();
                let renamed = Arc::new(Schema::new(fields));
                batches = batches
                    .into_iter()
                    .map(|b| RecordBatch::try_new(renamed.clone(), b.columns().to_vec()))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| ConnectError::IllegalArgument(e.to_string()))?;
                schema = Some(renamed);
            }
            Some(_) => {}
            None => schema = Some(declared),
        }
    }
    let schema = schema.ok_or_else(|| {
        ConnectError::IllegalArgument("a local relation without data or schema".into())
    })?;
    let table = MemTable::try_new(schema, vec![batches])?;
    Ok(ctx.read_table(Arc::new(table))?.into_unoptimized_plan())
}

fn range(ctx: &SessionContext, r: &proto::Range) -> Result<LogicalPlan> {
    let start = r.start.unwrap_or(0);
    let (end, step) = (r.end, r.step);
    if step == 0 {
        return Err(ConnectError::IllegalArgument(
            "range: step must not be 0".into(),
        ));
    }
    let count = if (step > 0 && end > start) || (step < 0 && end < start) {
        ((end as i128 - start as i128 + step as i128 - step.signum() as i128) / step as i128) as u64
    } else {
        0
    };
    if count > 100_000_000 {
        return Err(ConnectError::Unsupported(format!(
            "range of {count} rows (Kiln builds ranges in memory, up to 100000000 rows)"
        )));
    }
    let parts = r
        .num_partitions
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(ctx.state().config().target_partitions())
        .max(1);
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    // Spark's split: partition i holds rows [i * n / parts, (i + 1) * n / parts).
    let bound = |p: u64| (u128::from(p) * u128::from(count) / parts as u128) as u64;
    let mut partitions = vec![];
    for p in 0..parts as u64 {
        let (lo, hi) = (bound(p), bound(p + 1));
        let ids: Int64Array = (lo..hi).map(|i| start + (i as i64) * step).collect();
        let col: ArrayRef = Arc::new(ids);
        partitions.push(vec![RecordBatch::try_new(schema.clone(), vec![col])
            .map_err(|e| ConnectError::Execution(e.to_string()))?]);
    }
    let table = MemTable::try_new(schema, partitions)?;
    Ok(ctx.read_table(Arc::new(table))?.into_unoptimized_plan())
}

/// The output column names of `plan`, as the client shows them.
pub fn column_names(plan: &LogicalPlan) -> Vec<String> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[allow(unused)]
fn type_of(e: &Expr, plan: &LogicalPlan) -> Option<DataType> {
    e.get_type(plan.schema()).ok()
}

/// The sort keys of a sort relation (for `orderBy` inside windows and
/// writes' `sortBy`).
pub fn sort_keys(
    exprs: &[proto::Expression],
    state: &SessionState,
    plan: &LogicalPlan,
    plan_ids: &PlanIds,
) -> Result<Vec<datafusion::logical_expr::SortExpr>> {
    let scope = Scope {
        state,
        schema: plan.schema(),
        plan_ids,
    };
    exprs.iter().map(|e| sort_key(e, &scope)).collect()
}
