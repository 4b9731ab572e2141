//! The map-output tracker: for every stage of a job, which executor holds
//! each map task's blocks and how large they are.

use std::collections::{HashMap, HashSet};

use kiln_core::shuffle::MapOutput;

/// Map outputs by stage and map partition.
#[derive(Debug, Default)]
pub struct MapOutputTracker {
    stages: HashMap<u32, Vec<Option<MapOutput>>>,
    /// Stages whose outputs outlive the executor that made them (a write
    /// stage's files are on the target's storage, not the executor's disk).
    durable: HashSet<u32>,
}

impl MapOutputTracker {
    /// Declares a stage with `partitions` map tasks.
    pub fn add_stage(&mut self, stage: u32, partitions: usize) {
        self.stages
            .entry(stage)
            .or_insert_with(|| vec![None; partitions]);
    }

    /// Marks `stage`'s outputs as surviving the loss of their executor.
    pub fn mark_durable(&mut self, stage: u32) {
        self.durable.insert(stage);
    }

    /// Records a finished map task.
    pub fn register(&mut self, stage: u32, output: MapOutput) {
        if let Some(v) = self.stages.get_mut(&stage) {
            if let Some(slot) = v.get_mut(output.map_partition as usize) {
                *slot = Some(output);
            }
        }
    }

    /// Whether every map task of `stage` has an output.
    pub fn is_complete(&self, stage: u32) -> bool {
        self.stages
            .get(&stage)
            .is_some_and(|v| v.iter().all(Option::is_some))
    }

    /// Map partitions of `stage` without an output.
    pub fn missing(&self, stage: u32) -> Vec<usize> {
        self.stages
            .get(&stage)
            .map(|v| {
                v.iter()
                    .enumerate()
                    .filter(|(_, o)| o.is_none())
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The outputs of a complete stage.
    pub fn outputs(&self, stage: u32) -> Vec<MapOutput> {
        self.stages
            .get(&stage)
            .map(|v| v.iter().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets one map output (its blocks could not be fetched).
    pub fn remove(&mut self, stage: u32, map_partition: u32) -> bool {
        self.stages
            .get_mut(&stage)
            .and_then(|v| v.get_mut(map_partition as usize))
            .and_then(Option::take)
            .is_some()
    }

    /// Forgets every output held by a lost executor (but those of durable
    /// stages); returns how many.
    pub fn remove_executor(&mut self, executor_id: &str) -> usize {
        let mut n = 0;
        for (stage, v) in self.stages.iter_mut() {
            if self.durable.contains(stage) {
                continue;
            }
            for slot in v.iter_mut() {
                if slot.as_ref().is_some_and(|o| o.executor_id == executor_id) {
                    *slot = None;
                    n += 1;
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(map: u32, exec: &str) -> MapOutput {
        MapOutput {
            map_partition: map,
            attempt: 0,
            executor_id: exec.into(),
            address: "http://x".into(),
            block_bytes: vec![1],
            rows: 1,
            shuffle_dir: String::new(),
        }
    }

    #[test]
    fn tracks_completion_and_loss() {
        let mut t = MapOutputTracker::default();
        t.add_stage(1, 2);
        t.register(1, out(0, "a"));
        assert!(!t.is_complete(1));
        assert_eq!(t.missing(1), vec![1]);
        t.register(1, out(1, "b"));
        assert!(t.is_complete(1));
        assert_eq!(t.remove_executor("b"), 1);
        assert_eq!(t.missing(1), vec![1]);
        assert!(t.remove(1, 0));
        assert_eq!(t.missing(1), vec![0, 1]);
    }

    #[test]
    fn durable_outputs_survive_their_executor() {
        let mut t = MapOutputTracker::default();
        t.add_stage(1, 1);
        t.add_stage(2, 1);
        t.mark_durable(2);
        t.register(1, out(0, "a"));
        t.register(2, out(0, "a"));
        assert_eq!(t.remove_executor("a"), 1);
        assert!(!t.is_complete(1));
        assert!(t.is_complete(2));
    }
}
