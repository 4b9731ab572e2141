//! The reconciler's writes to the API server that a later reconcile reads
//! back: the application's status, and the pods it creates and deletes.
//! Each is noted in the cache ([`super::cache`]) so the next reconcile does
//! not decide on a store that has not seen it yet.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::debug;

use super::{observe, write_status, Context, ControllerError};
use crate::application::SparkApplicationStatus;
use crate::SparkApplication;

/// `namespace/name` of an application: the key of its metrics and notes.
pub(crate) fn key(app: &SparkApplication) -> String {
    format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any())
}

/// Writes the status (see [`write_status`]) and notes the write, so the
/// next reconcile does not read an older copy.
pub(crate) async fn write(
    ctx: &Context,
    apps: &Api<SparkApplication>,
    app: &SparkApplication,
    old: &SparkApplicationStatus,
    new: &SparkApplicationStatus,
) -> Result<(), ControllerError> {
    if let Some(written) = write_status(apps, &app.name_any(), old, new).await? {
        ctx.cache.wrote_status(&key(app), &written);
    }
    Ok(())
}

/// Creates `obj` unless it exists (`AlreadyExists` is success: names are
/// deterministic, so a repeat after a restart finds the first one). Returns
/// the object created, `None` when it existed.
pub(crate) async fn create_once<K>(api: &Api<K>, obj: &K) -> Result<Option<K>, kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(created) => Ok(Some(created)),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates pod `pod` of `app` unless it exists, and notes the creation.
pub(crate) async fn create_pod(
    ctx: &Context,
    app: &SparkApplication,
    api: &Api<Pod>,
    pod: &Pod,
) -> Result<(), ControllerError> {
    if let Some(created) = create_once(api, pod).await? {
        ctx.cache.created(&key(app), &created);
    }
    Ok(())
}

/// Deletes the pods `which` selects (those not already going).
pub(crate) async fn delete_pods(
    ctx: &Context,
    app: &SparkApplication,
    api: &Api<Pod>,
    pods: &[Pod],
    which: impl Fn(&Pod) -> bool,
) -> Result<(), ControllerError> {
    for p in pods.iter().filter(|p| which(p) && !observe::terminating(p)) {
        match api.delete(&p.name_any(), &DeleteParams::default()).await {
            Ok(_) => {
                ctx.cache.deleted(&key(app), p);
                debug!(pod = %p.name_any(), "deleted");
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
