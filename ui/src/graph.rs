//! The plan graph of a SQL execution: its operators with their metrics
//! (total, and min / median / max over tasks), grouped into stages, laid
//! out for an SVG drawing, with a skew flag on operators whose busiest task
//! handled far more rows than the median task.

use kiln_core::events::PlanNode;
use serde::Serialize;

use crate::status::{quantile, AppStatus};

/// When an operator is flagged as skewed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkewRule {
    /// Max rows of a task over the median's (`kiln.ui.skew.ratio`, default 4).
    pub ratio: f64,
    /// The busiest task must also handle this many rows more than the
    /// median one (`kiln.ui.skew.minRows`, default 100000): small inputs
    /// are never worth a flag.
    pub min_rows: u64,
}

impl Default for SkewRule {
    fn default() -> Self {
        SkewRule {
            ratio: 4.0,
            min_rows: 100_000,
        }
    }
}

/// One metric of one operator.
#[derive(Debug, Clone, Serialize)]
pub struct NodeMetric {
    /// Spark's name.
    pub name: String,
    /// Spark's type (`sum`, `size`, `nsTiming`).
    pub metric_type: String,
    /// Sum over tasks.
    pub total: u64,
    /// Smallest task value.
    pub min: u64,
    /// Median task value.
    pub median: u64,
    /// Largest task value.
    pub max: u64,
    /// Tasks that reported it.
    pub tasks: usize,
}

/// One operator in the graph.
#[derive(Debug, Clone, Serialize)]
pub struct GraphNode {
    /// Position in the plan, parents first (Spark's node id).
    pub id: usize,
    /// Operator name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Stage that runs it (`None`: the driver).
    pub stage_id: Option<u32>,
    /// Its metrics.
    pub metrics: Vec<NodeMetric>,
    /// Whether its rows are skewed over tasks.
    pub skew: bool,
    /// Drawing position (top-left corner).
    pub x: u32,
    /// Drawing position.
    pub y: u32,
}

/// A stage's box around its operators.
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    /// The stage (`None`: the driver).
    pub stage_id: Option<u32>,
    /// Box.
    pub x: u32,
    /// Box.
    pub y: u32,
    /// Box.
    pub width: u32,
    /// Box.
    pub height: u32,
}

/// An edge from a child operator (its output) to its parent.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// Child id.
    pub from: usize,
    /// Parent id.
    pub to: usize,
}

/// The whole graph.
#[derive(Debug, Clone, Serialize)]
pub struct PlanGraph {
    /// Operators.
    pub nodes: Vec<GraphNode>,
    /// Edges child -> parent.
    pub edges: Vec<Edge>,
    /// Stage boxes.
    pub clusters: Vec<Cluster>,
    /// Drawing size.
    pub width: u32,
    /// Drawing size.
    pub height: u32,
}

/// Size of an operator box in the drawing.
pub const NODE_WIDTH: u32 = 230;
/// Size of an operator box in the drawing.
pub const NODE_HEIGHT: u32 = 78;
const GAP_X: u32 = 30;
const GAP_Y: u32 = 36;
const PAD: u32 = 12;

/// The graph of `plan`, with metric values from `app`.
pub fn plan_graph(plan: &PlanNode, app: &AppStatus, rule: SkewRule) -> PlanGraph {
    let mut nodes = vec![];
    let mut edges = vec![];
    let mut next_leaf = 0u32;
    layout(
        plan,
        0,
        app,
        rule,
        &mut nodes,
        &mut edges,
        &mut next_leaf,
        None,
    );
    let mut clusters: Vec<Cluster> = vec![];
    let mut stages: Vec<Option<u32>> = nodes.iter().map(|n| n.stage_id).collect();
    stages.dedup();
    stages.sort();
    stages.dedup();
    for s in stages {
        let members: Vec<&GraphNode> = nodes.iter().filter(|n| n.stage_id == s).collect();
        let (Some(x0), Some(y0)) = (
            members.iter().map(|n| n.x).min(),
            members.iter().map(|n| n.y).min(),
        ) else {
            continue;
        };
        let x1 = members.iter().map(|n| n.x + NODE_WIDTH).max().unwrap_or(x0);
        let y1 = members
            .iter()
            .map(|n| n.y + NODE_HEIGHT)
            .max()
            .unwrap_or(y0);
        clusters.push(Cluster {
            stage_id: s,
            x: x0.saturating_sub(PAD),
            y: y0.saturating_sub(PAD + 14),
            width: x1 - x0 + 2 * PAD,
            height: y1 - y0 + 2 * PAD + 14,
        });
    }
    let width = nodes.iter().map(|n| n.x + NODE_WIDTH).max().unwrap_or(0) + 2 * PAD;
    let height = nodes.iter().map(|n| n.y + NODE_HEIGHT).max().unwrap_or(0) + 2 * PAD;
    PlanGraph {
        nodes,
        edges,
        clusters,
        width,
        height,
    }
}

/// Places `p` at `depth` (top to bottom), leaves left to right, a parent
/// centred over its children; returns its id.
#[allow(clippy::too_many_arguments)]
fn layout(
    p: &PlanNode,
    depth: u32,
    app: &AppStatus,
    rule: SkewRule,
    nodes: &mut Vec<GraphNode>,
    edges: &mut Vec<Edge>,
    next_leaf: &mut u32,
    parent: Option<usize>,
) -> (usize, u32) {
    // Ids in visit order, parents first: reserve this one before the children.
    let id = nodes.len();
    nodes.push(placeholder(id));
    if let Some(parent) = parent {
        edges.push(Edge {
            from: id,
            to: parent,
        });
    }
    let mut xs = vec![];
    for c in &p.children {
        let (_, x) = layout(c, depth + 1, app, rule, nodes, edges, next_leaf, Some(id));
        xs.push(x);
    }
    let x = if xs.is_empty() {
        let x = PAD + *next_leaf * (NODE_WIDTH + GAP_X);
        *next_leaf += 1;
        x
    } else {
        (xs.iter().min().copied().unwrap_or(0) + xs.iter().max().copied().unwrap_or(0)) / 2
    };
    let metrics: Vec<NodeMetric> = p
        .metrics
        .iter()
        .map(|m| {
            let mut v = app.metric_values(m.accumulator_id);
            v.sort_unstable();
            NodeMetric {
                name: m.name.clone(),
                metric_type: m.metric_type.clone(),
                total: v.iter().sum(),
                min: v.first().copied().unwrap_or(0),
                median: quantile(&v, 0.5),
                max: v.last().copied().unwrap_or(0),
                tasks: v.len(),
            }
        })
        .collect();
    let skew = metrics.iter().any(|m| {
        m.name == "number of output rows"
            && m.tasks >= 2
            && m.max.saturating_sub(m.median) >= rule.min_rows
            && m.max as f64 >= rule.ratio * m.median as f64
    });
    let node = GraphNode {
        id,
        name: p.name.clone(),
        description: p.description.clone(),
        stage_id: p.stage_id,
        metrics,
        skew,
        x,
        y: PAD + 14 + depth * (NODE_HEIGHT + GAP_Y),
    };
    nodes[id] = node;
    (id, x)
}

fn placeholder(id: usize) -> GraphNode {
    GraphNode {
        id,
        name: String::new(),
        description: String::new(),
        stage_id: None,
        metrics: vec![],
        skew: false,
        x: 0,
        y: 0,
    }
}

#[cfg(test)]
mod tests {
    use kiln_core::events::PlanMetric;

    use super::*;

    fn node(name: &str, stage: Option<u32>, acc: u64, children: Vec<PlanNode>) -> PlanNode {
        PlanNode {
            name: name.into(),
            description: name.into(),
            stage_id: stage,
            metrics: vec![PlanMetric {
                name: "number of output rows".into(),
                accumulator_id: acc,
                metric_type: "sum".into(),
            }],
            children,
        }
    }

    #[test]
    fn every_operator_is_a_node_and_skew_needs_a_large_max() {
        let plan = node(
            "root",
            None,
            1,
            vec![node("a", Some(1), 2, vec![]), node("b", Some(2), 3, vec![])],
        );
        let mut app = AppStatus::default();
        app.task_values.insert(2, vec![1_000_000, 10, 12, 11]);
        app.task_values.insert(3, vec![1_000, 10, 12, 11]);
        let g = plan_graph(&plan, &app, SkewRule::default());
        assert_eq!(g.nodes.len(), 3);
        assert_eq!(g.edges.len(), 2);
        let skewed: Vec<&str> = g
            .nodes
            .iter()
            .filter(|n| n.skew)
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(skewed, ["a"]);
        assert_eq!(g.clusters.len(), 3);
        let ids: Vec<usize> = g.nodes.iter().map(|n| n.id).collect();
        assert_eq!(ids, [0, 1, 2]);
    }
}
