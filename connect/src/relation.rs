//! Connect relations to DataFusion logical plans, planned in a client
//! session's catalog. Each relation becomes the DataFrame operation Spark
//! would run; the plan then goes to Kiln's distributed planner as a whole.

use std::collections::HashMap;

use datafusion::common::tree_node::TreeNode;
use datafusion::common::DFSchemaRef;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, GroupingSet, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::future::BoxFuture;

use crate::error::{ConnectError, Result};
use crate::expression::{
    columns_of, named, sort_key, to_expr, to_exprs, PlanIds, Scope, Subqueries,
};
use crate::proto::relation::RelType;
use crate::proto::{self, Relation};

/// Plans the relations of one request in a session.
pub struct Planner<'a> {
    pub(crate) ctx: &'a SessionContext,
    pub(crate) state: SessionState,
    pub(crate) plan_ids: PlanIds,
    pub(crate) next_alias: usize,
    /// WithRelations' relations that subquery expressions name, by plan id.
    pub(crate) references: HashMap<i64, Relation>,
    /// The subqueries planned so far.
    pub(crate) subqueries: Subqueries,
    /// While a subquery is planned: its enclosing query's schema.
    pub(crate) outer: Option<DFSchemaRef>,
}

pub(crate) fn required_box<'a, T>(x: &'a Option<Box<T>>, what: &str) -> Result<&'a T> {
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
            references: HashMap::new(),
            subqueries: Subqueries::new(),
            outer: None,
        }
    }

    pub(crate) fn df(&self, plan: LogicalPlan) -> DataFrame {
        DataFrame::new(self.state.clone(), plan)
    }

    pub(crate) fn scope<'s>(&'s self, schema: &'s datafusion::common::DFSchema) -> Scope<'s> {
        Scope {
            state: &self.state,
            schema,
            plan_ids: &self.plan_ids,
            outer: self.outer.as_deref(),
            subqueries: &self.subqueries,
            translator: &crate::expression::Translator,
        }
    }

    /// A leaf under a name no other leaf has, so the columns of two reads
    /// stay apart in a join.
    pub(crate) fn leaf(&mut self, plan: LogicalPlan) -> Result<LogicalPlan> {
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

    pub(crate) async fn input(&mut self, input: &Option<Box<Relation>>) -> Result<LogicalPlan> {
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
                self.sql(&s.query).await
            }
            RelType::LocalRelation(l) => self.local_relation(l),
            RelType::Range(r) => self.range(r),
            RelType::Project(p) => {
                let input = match &p.input {
                    Some(i) => self.plan(i).await?,
                    // `spark.range(0).select(lit(1))`-less selects: one empty row.
                    None => LogicalPlanBuilder::empty(true).build()?,
                };
                self.project(input, &p.expressions).await
            }
            RelType::Filter(f) => {
                let input = self.input(&f.input).await?;
                let condition = f.condition.as_ref().ok_or_else(|| {
                    ConnectError::IllegalArgument("the filter condition is missing".into())
                })?;
                let cond = self
                    .with_subqueries(input.schema(), |scope| to_expr(condition, scope))
                    .await?;
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
            RelType::ToDf(t) => self.rename_all(t).await,
            RelType::WithColumnsRenamed(w) => self.with_columns_renamed(w).await,
            RelType::Drop(d) => self.drop(d).await,
            RelType::Deduplicate(d) => self.deduplicate(d).await,
            RelType::WithColumns(w) => self.with_columns(w).await,
            RelType::Repartition(r) => self.repartition(r).await,
            RelType::RepartitionByExpression(r) => self.repartition_by_expression(r).await,
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
            RelType::ApproxQuantile(a) => {
                let input = self.input(&a.input).await?;
                crate::relation_stat::approx_quantile(&self.state, input, a)
            }
            RelType::FreqItems(f) => {
                let input = self.input(&f.input).await?;
                crate::relation_stat::freq_items(&self.state, input, f)
            }
            RelType::Describe(d) => self.describe(d).await,
            RelType::Summary(s) => self.summary(s).await,
            RelType::Crosstab(c) => self.crosstab(c).await,
            RelType::Unpivot(u) => self.unpivot(u).await,
            RelType::Transpose(t) => self.transpose(t).await,
            RelType::Sample(s) => self.sample(s).await,
            RelType::SampleBy(s) => self.sample_by(s).await,
            RelType::ToSchema(t) => self.conform_to_schema(t).await,
            RelType::Catalog(c) => crate::relation_catalog::catalog(self.ctx, c).await,
            RelType::WithRelations(w) => self.with_relations(w).await,
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
            RelType::Hint(h) => self.hint(h).await,
            RelType::ShowString(_) | RelType::HtmlString(_) => Err(ConnectError::analysis(
                "show() output cannot be the input of another relation",
            )),
            other => Err(ConnectError::Unsupported(format!(
                "the relation {}",
                relation_name(other)
            ))),
        }
    }

    async fn project(
        &mut self,
        input: LogicalPlan,
        expressions: &[proto::Expression],
    ) -> Result<LogicalPlan> {
        // A generator (`explode`) first runs below the select.
        let generated = crate::generator::expand(&input, expressions, &self.scope(input.schema()))?;
        let (input, expressions) = match &generated {
            Some((plan, items)) => (plan.clone(), items.as_slice()),
            None => (input, expressions),
        };
        let converted = self
            .with_subqueries(input.schema(), |scope| {
                expressions
                    .iter()
                    .map(|e| {
                        Ok(to_exprs(e, scope)?
                            .into_iter()
                            .map(|x| named(e, x, scope))
                            .collect::<Vec<_>>())
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .await?;
        let mut exprs = vec![];
        // Spark allows two result columns of one name (`select(f(a), f(a))`);
        // DataFusion wants them unique: the later ones get a hidden suffix.
        let mut taken = kiln_core::spark_names::NameList::default();
        for xs in converted {
            for x in xs {
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
            G::Pivot => {
                let p = a.pivot.as_ref().ok_or_else(|| {
                    ConnectError::IllegalArgument("a pivot without a column".into())
                })?;
                let column = p.col.as_ref().ok_or_else(|| {
                    ConnectError::IllegalArgument("a pivot without a column".into())
                })?;
                let pivot = to_expr(column, &scope)?;
                return self.pivot(input, groups, aggs, pivot, &p.values).await;
            }
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

fn relation_name(t: &RelType) -> String {
    let debug = format!("{t:?}");
    let name = debug.split('(').next().unwrap_or("unknown");
    name.to_string()
}

/// The output column names of `plan`, as the client shows them.
pub fn column_names(plan: &LogicalPlan) -> Vec<String> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
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
        outer: None,
        subqueries: &Subqueries::new(),
        translator: &crate::expression::Translator,
    };
    exprs.iter().map(|e| sort_key(e, &scope)).collect()
}
