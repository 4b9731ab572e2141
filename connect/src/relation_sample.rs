//! The Sample relation (`df.sample`, `randomSplit`) and StatSampleBy
//! (`df.sampleBy`), with Spark's generators and seeds
//! ([`kiln_core::sample`]): on the same partitions as Spark's (a
//! `spark.range` with its partition count, a file read into the same
//! splits) a seeded sample keeps the same rows.

use datafusion::common::Column;
use datafusion::logical_expr::{col, lit, when, Expr, LogicalPlan, LogicalPlanBuilder};
use kiln_core::sample::{SampleMode, SparkSample};

use crate::error::{ConnectError, Result};
use crate::expression::{literal, to_expr};
use crate::proto;
use crate::relation::Planner;

/// The column of Spark's `rand(seed)` a sample filters on.
const RAND: &str = "__kiln_rand";

/// The input's own columns (the random one left out).
fn columns(plan: &LogicalPlan) -> Vec<Expr> {
    plan.schema()
        .iter()
        .filter(|(_, f)| f.name() != RAND)
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect()
}

/// A seed for a sample without one (the client normally sends one).
fn any_seed() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// `input` with Spark's `rand(seed)` as a column, rows kept where `keep`
/// holds, the random column dropped again.
fn filter_on_rand(input: LogicalPlan, seed: i64, keep: Expr) -> Result<LogicalPlan> {
    let out = columns(&input);
    let with_rand = SparkSample::try_new(input, SampleMode::Random { seed }, RAND)?.into_plan();
    Ok(LogicalPlanBuilder::from(with_rand)
        .filter(keep)?
        .project(out)?
        .build()?)
}

impl Planner<'_> {
    /// `df.sample(withReplacement, fraction, seed)` and the splits of
    /// `randomSplit` (bounds `[lower, upper)` of the unit interval; a
    /// deterministic order sorts the input first, as Spark sorts each
    /// partition, so the splits of one input never overlap).
    pub(crate) async fn sample(&mut self, s: &proto::Sample) -> Result<LogicalPlan> {
        let mut input = self.input(&s.input).await?;
        let (lower, upper) = (s.lower_bound, s.upper_bound);
        if !(0.0..=1.0).contains(&lower) || upper < lower {
            return Err(ConnectError::IllegalArgument(format!(
                "Lower bound ({lower}) must be in [0, 1] and at most the upper bound ({upper})"
            )));
        }
        let seed = s.seed.unwrap_or_else(any_seed);
        if s.deterministic_order {
            let keys = columns(&input)
                .into_iter()
                .map(|c| c.sort(true, true))
                .collect::<Vec<_>>();
            input = LogicalPlanBuilder::from(input).sort(keys)?.build()?;
        }
        if s.with_replacement == Some(true) {
            let fraction = upper - lower;
            if fraction >= 40.0 {
                return Err(ConnectError::Unsupported(format!(
                    "sampling with replacement with a fraction of {fraction} (Kiln samples \
                     fractions below 40)"
                )));
            }
            return Ok(
                SparkSample::try_new(input, SampleMode::Poisson { fraction, seed }, RAND)?
                    .into_plan(),
            );
        }
        if upper > 1.0 {
            return Err(ConnectError::IllegalArgument(format!(
                "Upper bound ({upper}) must be <= 1.0 when sampling without replacement"
            )));
        }
        let keep = col(RAND).gt_eq(lit(lower)).and(col(RAND).lt(lit(upper)));
        filter_on_rand(input, seed, keep)
    }

    /// `df.sampleBy(col, fractions, seed)`: a row is kept when `rand(seed)`
    /// is below its stratum's fraction (0 for a stratum not listed).
    pub(crate) async fn sample_by(&mut self, s: &proto::StatSampleBy) -> Result<LogicalPlan> {
        let input = self.input(&s.input).await?;
        let scope = self.scope(input.schema());
        let stratum = to_expr(
            s.col
                .as_ref()
                .ok_or_else(|| ConnectError::IllegalArgument("sampleBy needs a column".into()))?,
            &scope,
        )?;
        let mut cases = vec![];
        for f in &s.fractions {
            if !(0.0..=1.0).contains(&f.fraction) {
                return Err(ConnectError::IllegalArgument(format!(
                    "Fractions must be in [0, 1], but got {}.",
                    f.fraction
                )));
            }
            let value =
                literal(f.stratum.as_ref().ok_or_else(|| {
                    ConnectError::IllegalArgument("a stratum is missing".into())
                })?)?;
            cases.push((stratum.clone().eq(lit(value)), lit(f.fraction)));
        }
        let threshold = match cases.split_first() {
            None => lit(0.0),
            Some(((c, v), rest)) => {
                let mut b = when(c.clone(), v.clone());
                for (c, v) in rest {
                    b = b.when(c.clone(), v.clone());
                }
                b.otherwise(lit(0.0))?
            }
        };
        let seed = s.seed.unwrap_or_else(any_seed);
        filter_on_rand(input, seed, col(RAND).lt(threshold))
    }
}
