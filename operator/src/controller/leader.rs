//! Leader election with a `coordination.k8s.io/v1` Lease, so that of several
//! operator replicas only one acts. The holder renews the lease every third
//! of its duration; another replica takes it over once it has not been
//! renewed for a whole duration. Writes use the lease's `resourceVersion`,
//! so two replicas racing for it cannot both win. A leader that cannot renew
//! in time stops acting (the process exits and is restarted as a standby).
//!
//! Expiry is judged as client-go judges it: by when *this* replica saw the
//! lease record (holder and renew time) last change, on its own monotonic
//! clock, never by comparing the holder's `renewTime` with the local wall
//! clock. So a skewed clock on either node neither steals a live lease nor
//! keeps a dead one.
//!
//! Why not a crate: kube-runtime 5 has no leader election;
//! `kube-leader-election` 0.44 is built on kube 4; `kube-lease-manager` 0.13
//! fits kube 5 but judges expiry by the holder's `renewTime` against the local
//! wall clock (with a grace period for skew), the rule this module avoids.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use tracing::{debug, info, warn};

/// Who competes for which lease, and how long a lease lasts.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Name of the Lease object.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// This replica's identity (its pod name, or host name plus pid).
    pub identity: String,
    /// How long a lease holds without renewal.
    pub duration: Duration,
}

impl LeaseConfig {
    fn renew_every(&self) -> Duration {
        (self.duration / 3).max(Duration::from_millis(200))
    }
}

/// The outcome of one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// This replica holds the lease.
    Mine,
    /// Another replica does.
    Other,
}

/// What this replica last saw of the lease record, and when on its own
/// clock it saw it change.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    record: Option<(Option<String>, Option<Timestamp>)>,
    at: Option<Instant>,
}

impl Observed {
    /// Notes the record read at `now`; returns when it last changed.
    pub fn see(
        &mut self,
        holder: Option<&str>,
        renewed: Option<Timestamp>,
        now: Instant,
    ) -> Instant {
        let record = (holder.map(str::to_string), renewed);
        match self.at {
            Some(at) if self.record.as_ref() == Some(&record) => at,
            _ => {
                self.record = Some(record);
                self.at = Some(now);
                now
            }
        }
    }
}

/// Whether a lease held by `holder`, whose record this replica saw change
/// last at `changed`, may be taken by `me` at `now`.
pub fn can_take(
    holder: Option<&str>,
    changed: Instant,
    duration: Duration,
    me: &str,
    now: Instant,
) -> bool {
    match holder {
        None | Some("") => true,
        Some(h) if h == me => true,
        Some(_) => now.saturating_duration_since(changed) > duration,
    }
}

/// One attempt to acquire or renew the lease.
pub async fn try_acquire(
    api: &Api<Lease>,
    cfg: &LeaseConfig,
    observed: &mut Observed,
) -> Result<Held, kube::Error> {
    let now = Timestamp::now();
    let secs = i32::try_from(cfg.duration.as_secs().max(1)).unwrap_or(i32::MAX);
    let existing = api.get_opt(&cfg.name).await?;
    let Some(mut lease) = existing else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                namespace: Some(cfg.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(secs),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(Held::Mine),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Held::Other),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.as_deref();
    let renewed = spec.renew_time.as_ref().map(|t| t.0);
    let seen = Instant::now();
    let changed = observed.see(holder, renewed, seen);
    if !can_take(holder, changed, cfg.duration, &cfg.identity, seen) {
        return Ok(Held::Other);
    }
    let taking_over = holder != Some(cfg.identity.as_str());
    let mut next = spec.clone();
    next.holder_identity = Some(cfg.identity.clone());
    next.lease_duration_seconds = Some(secs);
    next.renew_time = Some(MicroTime(now));
    if taking_over {
        next.acquire_time = Some(MicroTime(now));
        next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    lease.spec = Some(next);
    // Replace carries the resourceVersion read above: a concurrent writer
    // makes this fail with 409 instead of both believing they lead.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => {
            if taking_over {
                info!(identity = %cfg.identity, lease = %cfg.name, "acquired the lease");
            }
            Ok(Held::Mine)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(Held::Other),
        Err(e) => Err(e),
    }
}

/// Waits until this replica holds the lease.
pub async fn acquire(client: &Client, cfg: &LeaseConfig) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    info!(identity = %cfg.identity, lease = %cfg.name, "waiting for the lease");
    let mut observed = Observed::default();
    loop {
        match try_acquire(&api, cfg, &mut observed).await {
            Ok(Held::Mine) => return,
            Ok(Held::Other) => debug!("lease held by another replica"),
            Err(e) => warn!("lease: {e}"),
        }
        tokio::time::sleep(cfg.renew_every()).await;
    }
}

/// Renews the lease until a renewal fails for a whole lease duration (or
/// another replica took it); then returns: this replica must stop acting.
pub async fn keep(client: Client, cfg: LeaseConfig) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut last_ok = tokio::time::Instant::now();
    let mut observed = Observed::default();
    loop {
        tokio::time::sleep(cfg.renew_every()).await;
        match try_acquire(&api, &cfg, &mut observed).await {
            Ok(Held::Mine) => last_ok = tokio::time::Instant::now(),
            Ok(Held::Other) => {
                warn!(lease = %cfg.name, "the lease was taken by another replica");
                return;
            }
            Err(e) => warn!("cannot renew the lease: {e}"),
        }
        // Stop before the lease can expire in the others' eyes.
        if last_ok.elapsed() + cfg.renew_every() >= cfg.duration {
            warn!(lease = %cfg.name, "could not renew the lease in time");
            return;
        }
    }
}

/// Gives the lease up (on shutdown) so a standby takes over at once.
pub async fn release(client: &Client, cfg: &LeaseConfig) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let Ok(Some(lease)) = api.get_opt(&cfg.name).await else {
        return;
    };
    let holder = lease.spec.as_ref().and_then(|s| s.holder_identity.clone());
    if holder.as_deref() != Some(cfg.identity.as_str()) {
        return;
    }
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": lease.metadata.resource_version},
        "spec": {"holderIdentity": null, "renewTime": null}
    });
    match api
        .patch(&cfg.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => info!(lease = %cfg.name, "released the lease"),
        Err(e) => warn!("cannot release the lease: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn a_lease_is_taken_only_when_free_mine_or_expired() {
        let d = Duration::from_secs(10);
        let base = Instant::now();
        let at = |s: u64| base + Duration::from_secs(s);
        assert!(can_take(None, at(0), d, "a", at(0)));
        assert!(can_take(Some(""), at(0), d, "a", at(0)));
        assert!(can_take(Some("a"), at(0), d, "a", at(0)));
        assert!(!can_take(Some("b"), at(0), d, "a", at(5)));
        assert!(!can_take(Some("b"), at(0), d, "a", at(10)));
        assert!(can_take(Some("b"), at(0), d, "a", at(11)));
    }

    /// The holder's clock runs an hour behind (or ahead of) ours: its
    /// renewTime says nothing about expiry; only whether it keeps changing.
    #[test]
    fn expiry_follows_the_locally_observed_renewals_not_the_holders_clock() {
        let d = Duration::from_secs(10);
        let base = Instant::now();
        let at = |s: u64| base + Duration::from_secs(s);
        for skew in [-3600, 3600] {
            let mut o = Observed::default();
            // Renewed every 3 s by a live holder: never expired, although its
            // renewTime is an hour off our wall clock.
            for k in 0..10u64 {
                let renewed = Some(t(1_000_000 + skew + 3 * k as i64));
                let changed = o.see(Some("b"), renewed, at(3 * k));
                assert!(!can_take(Some("b"), changed, d, "a", at(3 * k)));
            }
            // The holder stops renewing: the same record for a whole duration.
            let last = Some(t(1_000_000 + skew + 27));
            let changed = o.see(Some("b"), last, at(31));
            assert!(!can_take(Some("b"), changed, d, "a", at(31)));
            assert_eq!(o.see(Some("b"), last, at(41)), at(27));
            assert!(can_take(
                Some("b"),
                o.see(Some("b"), last, at(41)),
                d,
                "a",
                at(41)
            ));
        }
    }
}
