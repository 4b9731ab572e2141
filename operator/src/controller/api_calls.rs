//! Counts the operator's requests to the API server by verb and resource
//! (`kiln_operator_api_requests_total{verb, resource}`, client-go's
//! `rest_client_requests_total` by what the request does): a layer on the
//! kube client's tower stack sees every request the controllers, the event
//! recorder and the lease make. It is how the reads a reconcile costs are
//! measured (`bench/RESULTS.md`).

use axum::http::{Method, Request};
use kube::client::Body;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The labels: `verb` (Kubernetes' audit verbs: get, list, watch, create,
/// update, patch, delete, deletecollection) and `resource` (the plural,
/// with `/subresource` when there is one).
type CallLabels = [(&'static str, String); 2];

/// The counter family, shared by the client layer and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls {
    calls: Family<CallLabels, Counter>,
}

impl ApiCalls {
    /// Registers the family in `registry` (under its prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "api_requests",
            "Requests to the Kubernetes API server, by verb and resource",
            self.calls.clone(),
        );
    }

    /// Counts one request.
    pub fn count<B>(&self, req: &Request<B>) {
        let (verb, resource) = classify(req.method(), req.uri().path(), req.uri().query());
        self.calls
            .get_or_create(&[("verb", verb.to_string()), ("resource", resource)])
            .inc();
    }

    /// A layer for `kube::client::ClientBuilder::with_layer` that counts
    /// each request and passes it on unchanged.
    pub fn layer(
        &self,
    ) -> tower::util::MapRequestLayer<
        impl FnMut(Request<Body>) -> Request<Body> + Clone + Send + Sync + 'static,
    > {
        let calls = self.clone();
        tower::util::MapRequestLayer::new(move |req: Request<Body>| {
            calls.count(&req);
            req
        })
    }
}

/// The audit verb and the resource of a request to `path?query`. Paths
/// outside the resource API (`/version`, discovery) are resource `other`.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> (&'static str, String) {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // `/api/v1/...` or `/apis/<group>/<version>/...`.
    let rest = match segs.first() {
        Some(&"api") if segs.len() > 2 => &segs[2..],
        Some(&"apis") if segs.len() > 3 => &segs[3..],
        _ => &[][..],
    };
    // A path outside the resource API names no collection: a GET of it is a get.
    let (resource, name, sub) = match rest {
        [] => ("other", Some(""), None),
        ["namespaces", _, kind, tail @ ..] | [kind, tail @ ..] => {
            (*kind, tail.first().copied(), tail.get(1).copied())
        }
    };
    let resource = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        Method::GET if watch => "watch",
        Method::GET if name.is_some() => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if name.is_some() => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    };
    (verb, resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(method: Method, path: &str, query: Option<&str>) -> (&'static str, String) {
        classify(&method, path, query)
    }

    #[test]
    fn reads_verb_and_resource_from_the_path() {
        let apps = "/apis/kiln.dev/v1alpha1/namespaces/team/sparkapplications";
        assert_eq!(
            c(Method::GET, apps, None),
            ("list", "sparkapplications".into())
        );
        assert_eq!(
            c(
                Method::GET,
                apps,
                Some("labelSelector=a&watch=true&timeoutSeconds=290")
            ),
            ("watch", "sparkapplications".into())
        );
        assert_eq!(
            c(Method::GET, &format!("{apps}/pi"), None),
            ("get", "sparkapplications".into())
        );
        assert_eq!(
            c(Method::PATCH, &format!("{apps}/pi/status"), None),
            ("patch", "sparkapplications/status".into())
        );
        assert_eq!(
            c(
                Method::GET,
                "/api/v1/namespaces/team/pods",
                Some("labelSelector=kiln.dev%2Fapp%3Dpi")
            ),
            ("list", "pods".into())
        );
        assert_eq!(
            c(
                Method::GET,
                "/api/v1/namespaces/team/pods/pi-driver/log",
                Some("container=x")
            ),
            ("get", "pods/log".into())
        );
        assert_eq!(
            c(Method::POST, "/api/v1/namespaces/team/pods", None),
            ("create", "pods".into())
        );
        assert_eq!(
            c(
                Method::DELETE,
                "/api/v1/namespaces/team/pods/pi-exec-1",
                None
            ),
            ("delete", "pods".into())
        );
        assert_eq!(
            c(
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/kiln/leases/kiln-operator",
                None
            ),
            ("update", "leases".into())
        );
        // Cluster-wide lists and cluster-scoped objects.
        assert_eq!(
            c(Method::GET, "/api/v1/pods", Some("watch=1")),
            ("watch", "pods".into())
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/team", None),
            ("get", "namespaces".into())
        );
        assert_eq!(c(Method::GET, "/version", None), ("get", "other".into()));
    }

    #[test]
    fn counts_each_request_under_its_labels() {
        let calls = ApiCalls::default();
        let mut registry = Registry::default();
        calls.register(&mut registry);
        for _ in 0..2 {
            let req = Request::get("/api/v1/namespaces/team/pods?labelSelector=x")
                .body(())
                .unwrap();
            calls.count(&req);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("api_requests_total{verb=\"list\",resource=\"pods\"} 2\n"),
            "{text}"
        );
    }
}
