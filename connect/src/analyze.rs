//! AnalyzePlan: what a client asks about a plan without running it
//! (schema, explain, tree string, DDL parsing, input files, semantic
//! equality, storage levels), answered from the session's planner.

use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::displayable;

use crate::error::{ConnectError, Result};
use crate::proto::analyze_plan_request::Analyze;
use crate::proto::analyze_plan_response as ar;
use crate::proto::*;
use crate::relation::Planner;
use crate::session::Session;
use crate::types;

fn relation_of(plan: Option<&Plan>) -> Result<&Relation> {
    match plan.and_then(|p| p.op_type.as_ref()) {
        Some(plan::OpType::Root(rel)) => Ok(rel),
        _ => Err(ConnectError::IllegalArgument(
            "analyze needs a relation".into(),
        )),
    }
}

async fn plan_of(session: &Session, plan: Option<&Plan>) -> Result<LogicalPlan> {
    Planner::new(&session.ctx).plan(relation_of(plan)?).await
}

/// Spark's level of `df.cache()` (MEMORY_AND_DISK).
const CACHE_LEVEL: StorageLevel = StorageLevel {
    use_disk: true,
    use_memory: true,
    use_off_heap: false,
    deserialized: true,
    replication: 1,
};

/// The level of a DataFrame that is not persisted (Spark's NONE).
const NOT_PERSISTED: StorageLevel = StorageLevel {
    use_disk: false,
    use_memory: false,
    use_off_heap: false,
    deserialized: false,
    replication: 1,
};

/// Answers one AnalyzePlan request of `session`.
pub async fn analyze(session: &Session, req: AnalyzePlanRequest) -> Result<AnalyzePlanResponse> {
    let result = match req.analyze {
        Some(Analyze::Schema(s)) => {
            let plan = plan_of(session, s.plan.as_ref()).await?;
            let schema = types::client_schema(analyzed_schema(session, &plan)?.as_ref());
            ar::Result::Schema(ar::Schema {
                schema: Some(types::schema_to_spark(&schema)),
            })
        }
        Some(Analyze::Explain(e)) => {
            let plan = plan_of(session, e.plan.as_ref()).await?;
            ar::Result::Explain(ar::Explain {
                explain_string: explain(session, &plan, e.explain_mode).await?,
            })
        }
        Some(Analyze::TreeString(t)) => {
            let plan = plan_of(session, t.plan.as_ref()).await?;
            let schema = types::client_schema(analyzed_schema(session, &plan)?.as_ref());
            ar::Result::TreeString(ar::TreeString {
                tree_string: tree_string(&schema, t.level),
            })
        }
        // Kiln runs every plan, rows from the client included, as a job
        // on the executors: nothing is answered on the driver alone (as
        // Spark parallelizes a local list, whose isLocal() is False).
        Some(Analyze::IsLocal(_)) => ar::Result::IsLocal(ar::IsLocal { is_local: false }),
        Some(Analyze::IsStreaming(_)) => ar::Result::IsStreaming(ar::IsStreaming {
            is_streaming: false,
        }),
        Some(Analyze::InputFiles(f)) => {
            let mut paths = vec![];
            input_paths(relation_of(f.plan.as_ref())?, &mut paths);
            let mut files = vec![];
            for p in paths {
                list_files(&p, &mut files);
            }
            files.sort();
            files.dedup();
            ar::Result::InputFiles(ar::InputFiles { files })
        }
        Some(Analyze::SparkVersion(_)) => ar::Result::SparkVersion(ar::SparkVersion {
            version: crate::SPARK_VERSION.to_string(),
        }),
        Some(Analyze::DdlParse(d)) => {
            // A schema (`a int, b string`) or, as Spark, a bare type
            // (`boolean`: a UDF's return type).
            let parsed = types::to_spark(&types::parse_ddl(&d.ddl_string)?);
            ar::Result::DdlParse(ar::DdlParse {
                parsed: Some(parsed),
            })
        }
        Some(Analyze::SameSemantics(s)) => {
            let a = plan_of(session, s.target_plan.as_ref()).await?;
            let b = plan_of(session, s.other_plan.as_ref()).await?;
            let state = session.ctx.state();
            let same = canonical(&state.optimize(&a)?) == canonical(&state.optimize(&b)?);
            ar::Result::SameSemantics(ar::SameSemantics { result: same })
        }
        Some(Analyze::SemanticHash(h)) => {
            use std::hash::{Hash, Hasher};
            let plan = plan_of(session, h.plan.as_ref()).await?;
            let text = canonical(&session.ctx.state().optimize(&plan)?);
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut hasher);
            ar::Result::SemanticHash(ar::SemanticHash {
                result: hasher.finish() as i32,
            })
        }
        // Kiln keeps no cached partitions yet: a persisted DataFrame is
        // recomputed by each action (docs/pyspark.md says so); its level is
        // remembered so `df.storageLevel` reads back what was asked.
        Some(Analyze::Persist(p)) => {
            let rel = p
                .relation
                .as_ref()
                .ok_or_else(|| ConnectError::IllegalArgument("persist of nothing".into()))?;
            session.persist(rel, p.storage_level.unwrap_or(CACHE_LEVEL));
            ar::Result::Persist(ar::Persist {})
        }
        Some(Analyze::Unpersist(u)) => {
            if let Some(rel) = u.relation.as_ref() {
                session.unpersist(rel);
            }
            ar::Result::Unpersist(ar::Unpersist {})
        }
        Some(Analyze::GetStorageLevel(g)) => {
            let level = g
                .relation
                .as_ref()
                .and_then(|r| session.storage_level(r))
                .unwrap_or(NOT_PERSISTED);
            ar::Result::GetStorageLevel(ar::GetStorageLevel {
                storage_level: Some(level),
            })
        }
        Some(Analyze::JsonToDdl(_)) => return Err(ConnectError::Unsupported("JsonToDDL".into())),
        None => {
            return Err(ConnectError::IllegalArgument(
                "an empty analyze request".into(),
            ))
        }
    };
    Ok(AnalyzePlanResponse {
        session_id: session.id.clone(),
        server_side_session_id: session.server_side_id.clone(),
        result: Some(result),
    })
}

/// `df.explain(mode)`'s text: Spark's sections, with Kiln's (DataFusion's)
/// plans in them. `cost` adds the statistics the physical planner
/// estimates for the plan's output.
async fn explain(session: &Session, plan: &LogicalPlan, mode: i32) -> Result<String> {
    use analyze_plan_request::explain::ExplainMode as M;
    let state = session.ctx.state();
    let optimized = state.optimize(plan)?;
    let physical = state.create_physical_plan(plan).await?;
    let shown = displayable(physical.as_ref()).indent(false).to_string();
    Ok(match M::try_from(mode).unwrap_or(M::Simple) {
        M::Extended => {
            let analyzed = state.analyzer().execute_and_check(
                plan.clone(),
                state.config_options(),
                |_, _| {},
            )?;
            format!(
                "== Parsed Logical Plan ==\n{}\n\n== Analyzed Logical Plan ==\n{}\n\n\
                 == Optimized Logical Plan ==\n{}\n\n== Physical Plan ==\n{shown}\n",
                plan.display_indent(),
                analyzed.display_indent(),
                optimized.display_indent()
            )
        }
        M::Cost => {
            let stats = datafusion::physical_plan::StatisticsContext::new().compute(
                physical.as_ref(),
                &datafusion::physical_plan::StatisticsArgs::new(),
            )?;
            let mut known = vec![];
            if let Some(bytes) = stats.total_byte_size.get_value() {
                known.push(format!("sizeInBytes={bytes} B"));
            }
            if let Some(rows) = stats.num_rows.get_value() {
                known.push(format!("rowCount={rows}"));
            }
            let text = optimized.display_indent().to_string();
            let mut lines = text.lines();
            let first = lines.next().unwrap_or_default();
            let rest: Vec<&str> = lines.collect();
            format!(
                "== Optimized Logical Plan ==\n{first}, Statistics({})\n{}\n\n== Physical Plan ==\n{shown}\n",
                known.join(", "),
                rest.join("\n")
            )
        }
        _ => format!("== Physical Plan ==\n{shown}\n"),
    })
}

/// A plan's text with the names its projections give their columns left
/// out: Spark's canonical form ignores aliases (`withColumn("a", e)` and
/// `withColumn("b", e)` have the same semantics).
fn canonical(plan: &LogicalPlan) -> String {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    let unaliased = plan.clone().transform_up(|p| {
        let p = p
            .map_expressions(|e| Ok(Transformed::yes(e.unalias_nested().data)))?
            .data;
        Ok(Transformed::yes(p.recompute_schema()?))
    });
    match unaliased {
        Ok(p) => p.data.display_indent().to_string(),
        Err(_) => plan.display_indent().to_string(),
    }
}

fn one(r: &Option<Box<Relation>>) -> Option<&Relation> {
    r.as_deref()
}

fn input_paths(rel: &Relation, out: &mut Vec<String>) {
    use relation::RelType;
    if let Some(RelType::Read(Read {
        read_type: Some(read::ReadType::DataSource(ds)),
        ..
    })) = &rel.rel_type
    {
        out.extend(ds.paths.iter().cloned());
    }
    // Children: the input relations of every relation type that has some.
    let mut children: Vec<&Relation> = vec![];
    match &rel.rel_type {
        Some(RelType::Project(p)) => children.extend(one(&p.input)),
        Some(RelType::Filter(p)) => children.extend(one(&p.input)),
        Some(RelType::Sort(p)) => children.extend(one(&p.input)),
        Some(RelType::Limit(p)) => children.extend(one(&p.input)),
        Some(RelType::Offset(p)) => children.extend(one(&p.input)),
        Some(RelType::Tail(p)) => children.extend(one(&p.input)),
        Some(RelType::Aggregate(p)) => children.extend(one(&p.input)),
        Some(RelType::Deduplicate(p)) => children.extend(one(&p.input)),
        Some(RelType::SubqueryAlias(p)) => children.extend(one(&p.input)),
        Some(RelType::ToDf(p)) => children.extend(one(&p.input)),
        Some(RelType::WithColumns(p)) => children.extend(one(&p.input)),
        Some(RelType::WithColumnsRenamed(p)) => children.extend(one(&p.input)),
        Some(RelType::Drop(p)) => children.extend(one(&p.input)),
        Some(RelType::Repartition(p)) => children.extend(one(&p.input)),
        Some(RelType::RepartitionByExpression(p)) => children.extend(one(&p.input)),
        Some(RelType::Hint(p)) => children.extend(one(&p.input)),
        Some(RelType::Sample(p)) => children.extend(one(&p.input)),
        Some(RelType::Join(j)) => {
            children.extend(one(&j.left));
            children.extend(one(&j.right));
        }
        Some(RelType::SetOp(s)) => {
            children.extend(one(&s.left_input));
            children.extend(one(&s.right_input));
        }
        _ => {}
    }
    for c in children {
        input_paths(c, out);
    }
}

/// The data files under `path` (a file, or a folder listed recursively
/// without hidden and `_` files), as Spark names them (`file://` URIs);
/// remote paths as given.
fn list_files(path: &str, out: &mut Vec<String>) {
    let local = path.strip_prefix("file://").unwrap_or(path);
    if path.contains("://") && !path.starts_with("file://") {
        out.push(path.to_string());
        return;
    }
    let p = std::path::Path::new(local);
    let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if p.is_file() {
        out.push(format!("file://{}", p.display()));
        return;
    }
    let Ok(entries) = std::fs::read_dir(&p) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        list_files(&e.path().to_string_lossy(), out);
    }
}

/// The schema a plan's rows will have: its names, and the types after
/// the analyzer's coercions (Spark's among them), which the rows are
/// computed with (`date - date` is planned as a count of days and
/// analyzed into an interval).
fn analyzed_schema(
    session: &crate::session::Session,
    plan: &datafusion::logical_expr::LogicalPlan,
) -> Result<arrow::datatypes::SchemaRef> {
    let state = session.ctx.state();
    let analyzed =
        state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    let names = std::sync::Arc::new(plan.schema().as_arrow().clone());
    let types = std::sync::Arc::new(analyzed.schema().as_arrow().clone());
    Ok(crate::execute::with_types_of(&names, &types))
}

/// `printSchema()`'s text, as Spark prints it.
fn tree_string(schema: &arrow::datatypes::Schema, level: Option<i32>) -> String {
    fn field(
        out: &mut String,
        prefix: &str,
        name: &str,
        t: &arrow::datatypes::DataType,
        nullable: bool,
        depth: i32,
        max: i32,
    ) {
        use arrow::datatypes::DataType as A;
        let type_name = types::type_name(t);
        out.push_str(&format!(
            "{prefix}-- {name}: {type_name} (nullable = {nullable})\n"
        ));
        if max > 0 && depth >= max {
            return;
        }
        let child_prefix = format!("{prefix}    |");
        match t {
            A::Struct(fs) => {
                for f in fs {
                    field(
                        out,
                        &child_prefix,
                        f.name(),
                        f.data_type(),
                        f.is_nullable(),
                        depth + 1,
                        max,
                    );
                }
            }
            A::List(f) | A::LargeList(f) => {
                field_element(
                    out,
                    &child_prefix,
                    "element",
                    f.data_type(),
                    f.is_nullable(),
                    "containsNull",
                    depth,
                    max,
                );
            }
            A::Map(entries, _) => {
                if let A::Struct(kv) = entries.data_type() {
                    if kv.len() == 2 {
                        out.push_str(&format!(
                            "{child_prefix}-- key: {}\n",
                            types::type_name(kv[0].data_type())
                        ));
                        field_element(
                            out,
                            &child_prefix,
                            "value",
                            kv[1].data_type(),
                            kv[1].is_nullable(),
                            "valueContainsNull",
                            depth,
                            max,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    #[allow(clippy::too_many_arguments)]
    fn field_element(
        out: &mut String,
        prefix: &str,
        name: &str,
        t: &arrow::datatypes::DataType,
        nullable: bool,
        label: &str,
        depth: i32,
        max: i32,
    ) {
        let mut inner = String::new();
        field(&mut inner, prefix, name, t, nullable, depth + 1, max);
        out.push_str(&inner.replacen(
            &format!("(nullable = {nullable})"),
            &format!("({label} = {nullable})"),
            1,
        ));
    }
    let max = level.unwrap_or(0);
    let mut out = "root\n".to_string();
    for f in schema.fields() {
        field(
            &mut out,
            " |",
            f.name(),
            f.data_type(),
            f.is_nullable(),
            1,
            max,
        );
    }
    out
}
