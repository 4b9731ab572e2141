//! What a reconcile reads: an application and its pods, from the reflector
//! stores its controller keeps anyway (the watches that trigger reconciles
//! fill them, as in kube-rs's `controller-rs`), not from a GET and a LIST
//! per reconcile.
//!
//! A store lags behind the operator's own writes, and a decision taken on a
//! copy older than them is wrong: a status just moved to SUBMITTED read back
//! as NEW submits again; a driver pod just created but not yet in the store
//! looks vanished. So each write is noted here ([`Cache::wrote_status`],
//! [`Cache::created`], [`Cache::deleted`]), and until the store shows it
//! that application, or its pods, are read from the API server instead
//! (client-go's controllers call these notes "expectations"). Whether the
//! store's copy of the application is as new as a status write is told by
//! comparing resource versions, which Kubernetes defines as comparable
//! integers since 1.35 (KEP-5504); one that is not an integer is never
//! taken as new enough. A note the store never shows (a pod someone else
//! deleted before the watch saw it) is dropped after [`NOTE_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};

use super::names::{self, LABEL_APP};
use super::ControllerError;
use crate::SparkApplication;

/// How long a write may take to show in a store before its note is dropped
/// (a watch normally delivers it within milliseconds).
pub const NOTE_TTL: Duration = Duration::from_secs(60);

/// The operator's writes to one application that its stores must show.
#[derive(Debug, Default)]
struct Notes {
    /// The resource version the last status write returned.
    status: Option<(String, Instant)>,
    /// Uids of pods created.
    created: Vec<(String, Instant)>,
    /// Uids of pods deleted (the store must show them going or gone).
    deleted: Vec<(String, Instant)>,
}

impl Notes {
    fn expire(&mut self, now: Instant) {
        let live = |t: &Instant| now.duration_since(*t) < NOTE_TTL;
        self.status = self.status.take().filter(|(_, t)| live(t));
        self.created.retain(|(_, t)| live(t));
        self.deleted.retain(|(_, t)| live(t));
    }

    fn is_empty(&self) -> bool {
        self.status.is_none() && self.created.is_empty() && self.deleted.is_empty()
    }
}

/// The stores of one controller (one watched namespace, or all) and the
/// notes of its writes.
pub struct Cache {
    apps: Store<SparkApplication>,
    pods: Store<Pod>,
    notes: Mutex<HashMap<String, Notes>>,
}

impl Cache {
    /// Reads from `apps` (the controller's own store) and `pods` (the store
    /// of the pod watch that triggers it).
    pub fn new(apps: Store<SparkApplication>, pods: Store<Pod>) -> Self {
        Cache {
            apps,
            pods,
            notes: Mutex::default(),
        }
    }

    /// Runs `f` on the notes of `key`. Expired notes, of every application
    /// (one deleted while a note was pending is never read again), and
    /// emptied entries are dropped.
    fn with_notes<T>(&self, key: &str, f: impl FnOnce(&mut Notes) -> T) -> T {
        let mut all = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let notes = all.entry(key.to_string()).or_default();
        notes.expire(now);
        let out = f(notes);
        all.retain(|_, n| {
            n.expire(now);
            !n.is_empty()
        });
        out
    }

    /// Application `ns/name`, as new as the operator's last status write:
    /// the store's copy, else (the store has not seen that write yet) the
    /// API server's. `None`: it is gone.
    pub async fn application(
        &self,
        api: &Api<SparkApplication>,
        ns: &str,
        name: &str,
    ) -> Result<Option<SparkApplication>, ControllerError> {
        match self.stored_application(ns, name) {
            Some(cached) => Ok(cached.map(|a| (*a).clone())),
            None => Ok(api.get_opt(name).await?),
        }
    }

    /// The store's copy of `ns/name` (inner `None`: not in the store), or
    /// `None` when the store has not seen the last status write.
    fn stored_application(&self, ns: &str, name: &str) -> Option<Option<Arc<SparkApplication>>> {
        let cached = self.apps.get(&ObjectRef::new(name).within(ns));
        let fresh = self.with_notes(&format!("{ns}/{name}"), |n| {
            let Some((written, _)) = &n.status else {
                return true;
            };
            let seen = cached.as_ref().and_then(|a| a.resource_version());
            let fresh = seen.is_some_and(|seen| not_older(&seen, written));
            if fresh {
                n.status = None;
            }
            fresh
        });
        fresh.then_some(cached)
    }

    /// The pods of `app` (any run), as new as the operator's own creations
    /// and deletions: the store's, else the API server's.
    pub async fn pods(
        &self,
        api: &Api<Pod>,
        app: &SparkApplication,
    ) -> Result<Vec<Pod>, ControllerError> {
        if let Some(cached) = self.stored_pods(app) {
            return Ok(cached.iter().map(|p| (**p).clone()).collect());
        }
        let uid = app.uid().unwrap_or_default();
        Ok(api
            .list(&ListParams::default().labels(&names::app_selector(&app.name_any())))
            .await?
            .items
            .into_iter()
            .filter(|p| owned_by(p, &uid))
            .collect())
    }

    /// The store's pods of `app`, or `None` when the store has not listed
    /// yet or does not show the operator's last creations and deletions.
    fn stored_pods(&self, app: &SparkApplication) -> Option<Vec<Arc<Pod>>> {
        // Until the pod watch has listed once, the store knows nothing.
        if !matches!(self.pods.wait_until_ready().now_or_never(), Some(Ok(()))) {
            return None;
        }
        let ns = app.namespace().unwrap_or_default();
        let name = app.name_any();
        let uid = app.uid().unwrap_or_default();
        let label = names::app_label(&name);
        let cached = self.pods.state_filter(|p| {
            p.namespace().as_deref() == Some(ns.as_str())
                && p.labels().get(LABEL_APP) == Some(&label)
                && owned_by(p, &uid)
        });
        let fresh = self.with_notes(&format!("{ns}/{name}"), |n| {
            let shown = |uid: &str| cached.iter().find(|p| p.uid().as_deref() == Some(uid));
            n.created.retain(|(uid, _)| shown(uid.as_str()).is_none());
            n.deleted.retain(|(uid, _)| {
                shown(uid.as_str()).is_some_and(|p| p.metadata.deletion_timestamp.is_none())
            });
            n.created.is_empty() && n.deleted.is_empty()
        });
        fresh.then_some(cached)
    }

    /// The status of `key` (`namespace/name`) was written; `written` is the
    /// application the API server returned.
    pub fn wrote_status(&self, key: &str, written: &SparkApplication) {
        if let Some(v) = written.resource_version() {
            self.with_notes(key, |n| n.status = Some((v, Instant::now())));
        }
    }

    /// Pod `pod` (as the API server returned it) was created for `key`.
    pub fn created(&self, key: &str, pod: &Pod) {
        if let Some(uid) = pod.uid() {
            self.with_notes(key, |n| n.created.push((uid, Instant::now())));
        }
    }

    /// Pod `pod` of `key` was deleted.
    pub fn deleted(&self, key: &str, pod: &Pod) {
        if let Some(uid) = pod.uid() {
            self.with_notes(key, |n| n.deleted.push((uid, Instant::now())));
        }
    }

    /// Application `key` is gone: its notes go too.
    pub fn forget(&self, key: &str) {
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Whether `uid` owns `p` (a pod with the application's label but another
/// owner belongs to a deleted application of the same name).
fn owned_by(p: &Pod, uid: &str) -> bool {
    p.owner_references().iter().any(|o| o.uid == uid)
}

/// Whether resource version `seen` is at least `written` (KEP-5504: decimal
/// integers without leading zeros, compared by length, then digit by
/// digit). Anything else is not comparable and counts as older.
pub fn not_older(seen: &str, written: &str) -> bool {
    let valid =
        |v: &str| !v.is_empty() && !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit());
    valid(seen) && valid(written) && (seen.len(), seen) >= (written.len(), written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store;
    use kube::runtime::watcher::Event;

    #[test]
    fn resource_versions_compare_as_integers() {
        assert!(not_older("10", "9"));
        assert!(not_older("9", "9"));
        assert!(!not_older("9", "10"));
        assert!(not_older("123456789012345678901234", "99"));
        // Not integers: never taken as new enough.
        assert!(!not_older("", "1"));
        assert!(!not_older("abc", "1"));
        assert!(!not_older("012", "1"));
        assert!(!not_older("5", "x"));
    }

    fn pod(name: &str, uid: &str, owner: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": name, "namespace": "team", "uid": uid,
                "labels": {LABEL_APP: "pi"},
                "ownerReferences": [{"apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
                                      "name": "pi", "uid": owner}],
            }
        }))
        .unwrap()
    }

    fn application(version: &str) -> SparkApplication {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
            "metadata": {"name": "pi", "namespace": "team", "uid": "app-1",
                         "resourceVersion": version},
            "spec": {"sql": "SELECT 1"},
        }))
        .unwrap()
    }

    #[test]
    fn a_store_is_trusted_once_it_shows_the_operators_writes() {
        let (apps, mut app_writer) = store::<SparkApplication>();
        let (pods, mut pod_writer) = store::<Pod>();
        let cache = Cache::new(apps, pods);
        let version = |c: &Cache| {
            c.stored_application("team", "pi")
                .map(|a| a.and_then(|a| a.resource_version()))
        };
        assert_eq!(version(&cache), Some(None), "not in the store: gone");
        app_writer.apply_watcher_event(&Event::Apply(application("7")));
        assert_eq!(version(&cache), Some(Some("7".into())));
        cache.wrote_status("team/pi", &application("9"));
        assert_eq!(version(&cache), None, "the store still has version 7");
        app_writer.apply_watcher_event(&Event::Apply(application("10")));
        assert_eq!(version(&cache), Some(Some("10".into())));

        let app = application("10");
        let names = |c: &Cache| {
            c.stored_pods(&app)
                .map(|ps| ps.iter().map(|p| p.name_any()).collect::<Vec<_>>())
        };
        assert_eq!(names(&cache), None, "the pod watch has not listed yet");
        pod_writer.apply_watcher_event(&Event::Init);
        pod_writer.apply_watcher_event(&Event::InitDone);
        assert_eq!(names(&cache), Some(vec![]));
        let driver = pod("pi-driver", "pod-1", "app-1");
        cache.created("team/pi", &driver);
        assert_eq!(
            names(&cache),
            None,
            "the created driver is not in the store yet"
        );
        pod_writer.apply_watcher_event(&Event::Apply(driver.clone()));
        // Same label, another owner (a deleted application of the same name).
        pod_writer.apply_watcher_event(&Event::Apply(pod("pi-exec", "pod-2", "app-0")));
        assert_eq!(names(&cache), Some(vec!["pi-driver".to_string()]));

        cache.deleted("team/pi", &driver);
        assert_eq!(names(&cache), None, "the store still shows it running");
        let mut going = driver.clone();
        going.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        pod_writer.apply_watcher_event(&Event::Apply(going));
        assert_eq!(names(&cache), Some(vec!["pi-driver".to_string()]));
        cache.wrote_status("team/pi", &application("12"));
        cache.forget("team/pi");
        assert!(cache.notes.lock().unwrap().is_empty());
    }

    #[test]
    fn notes_expire() {
        let mut n = Notes {
            status: Some((
                "5".into(),
                Instant::now() - NOTE_TTL - Duration::from_secs(1),
            )),
            created: vec![("u".into(), Instant::now())],
            deleted: Vec::new(),
        };
        n.expire(Instant::now());
        assert!(n.status.is_none());
        assert_eq!(n.created.len(), 1);
    }
}
