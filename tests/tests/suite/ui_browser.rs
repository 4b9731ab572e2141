//! The web UI in a real browser: headless Chromium (Debian's package, from
//! `scripts/setup-chromium.sh`) driven over the DevTools protocol loads the
//! live UI of `kiln run` jobs served under a non-root `spark.ui.proxyBase`.
//! It sees the progress of TPC-H q9 advance over Server-Sent Events without
//! a reload, a plan graph with one node per operator of each query's plan,
//! the skew flag on a deliberately skewed job only, and no console error or
//! broken link on any page reachable from the overview.
//!
//! Screenshots of q9's application, query (plan graph) and stage pages are
//! kept in `target/<profile>/kiln-test-artifacts/ui-browser/`; with
//! `KILN_UI_SCREENSHOTS=docs` they also replace the ones in `docs/images/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_tests::cdp::{Browser, Page};
use kiln_tests::{tpch_ddl, tpch_query, tpch_sf01, write_manifest};
use serde_json::Value;

use crate::ui::{get_json, split_url, Kiln};

const BASE: &str = "/gateway/kiln-browser";
const WIDTH: u32 = 1280;

/// Where the screenshots are kept after the test.
fn artifacts() -> PathBuf {
    let dir = kiln_tests::cache_dir()
        .parent()
        .expect("profile dir")
        .join("kiln-test-artifacts/ui-browser");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn conf() -> String {
    format!(
        "  conf:\n    spark.ui.port: \"0\"\n    spark.ui.proxyBase: {BASE}\n    \
         kiln.ui.retainAfterEnd: 10m\n    kiln.test.stageDelay: 400ms\n"
    )
}

/// Starts `kiln run` of `sql`; returns it with its UI's URL once served.
fn start_job(dir: &Path, name: &str, sql: &str) -> (Kiln, String) {
    start_job_with(dir, name, sql, "")
}

/// [`start_job`] with more settings (`conf:` lines).
fn start_job_with(dir: &Path, name: &str, sql: &str, more: &str) -> (Kiln, String) {
    let m = write_manifest(dir, name, sql, 2, 1, &format!("{}{more}", conf()));
    let mut kiln = Kiln::start(&["run", m.to_str().expect("utf8")]);
    let url = kiln.wait_line("UI: ")["UI: ".len()..].trim().to_string();
    assert!(url.ends_with(&format!("{BASE}/")), "UI URL {url}");
    (kiln, url)
}

fn eval(page: &mut Page, js: &str) -> Value {
    page.eval(js).unwrap_or_else(|e| panic!("{e}"))
}

/// The tasks done and the application's state the overview shows, and
/// whether the page is still the document the test marked (`None` while
/// the page reloads).
fn progress(page: &mut Page) -> Option<(u64, String, bool)> {
    let v = page.eval(
        "(() => { const p = document.getElementById('progress'); \
         const s = document.querySelector('header .state'); \
         return [p ? Number(p.dataset.done) : -1, s ? s.textContent.trim() : '', \
                 window.kilnBrowserTest === 'same document']; })()",
    );
    let v = v.ok()?;
    Some((
        v[0].as_u64().unwrap_or(0),
        v[1].as_str().unwrap_or("").to_string(),
        v[2] == true,
    ))
}

/// Loads `url`; it must answer 200 with no console error, exception,
/// failed load or HTTP error (its own assets included).
fn visit(page: &mut Page, url: &str) {
    let from = page.events.len();
    let status = page.navigate(url).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200, "broken link {url}");
    // Errors of the page's script show up after its load event.
    page.pump(Duration::from_millis(300)).expect("events");
    let errors = page.errors_since(from);
    assert!(errors.is_empty(), "{url}: {errors:#?}");
}

/// The resolved URLs of a page's links, scripts and stylesheets.
fn links(page: &mut Page) -> Vec<String> {
    let v = eval(
        page,
        "Array.from(document.querySelectorAll('a[href], link[href], script[src], img[src]'))\
         .map(e => e.href || e.src)",
    );
    v.as_array()
        .expect("links")
        .iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect()
}

/// Visits every page reachable from `start` on the same server; each link
/// must stay below the proxy base. Returns the pages' URLs.
fn crawl(page: &mut Page, start: &str) -> Vec<String> {
    let origin = start.split(BASE).next().expect("origin").to_string();
    let mut todo = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(url) = todo.pop() {
        if seen.len() >= 300 || !seen.insert(url.clone()) {
            continue;
        }
        if url.contains("/static/") {
            // An asset, fetched by the page (a browser shown a bare asset
            // asks the server's root for an icon).
            let status = eval(page, &format!("fetch({url:?}).then(r => r.status)"));
            assert_eq!(status, 200, "broken link {url}");
            continue;
        }
        visit(page, &url);
        for l in links(page) {
            assert!(
                l.starts_with(&format!("{origin}{BASE}/")),
                "link {l} on {url} is not below the proxy base {BASE}"
            );
            let l = l.split('#').next().unwrap_or_default().to_string();
            if !seen.contains(&l) {
                todo.push(l);
            }
        }
    }
    seen.into_iter().collect()
}

/// Plan graph nodes, skew-flagged nodes on the page shown.
fn graph_nodes(page: &mut Page) -> (u64, u64) {
    let v = eval(
        page,
        "[document.querySelectorAll('#plan-graph g.node').length, \
          document.querySelectorAll('#plan-graph g.node.skew').length]",
    );
    (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
}

/// Each SQL execution of the application at `url`: (page URL, operators
/// in its plan as `/api/v1` describes it).
fn sql_pages(url: &str) -> Vec<(String, u64)> {
    let (addr, _) = split_url(url);
    let apps = get_json(&addr, &format!("{BASE}/api/v1/applications"));
    let id = apps[0]["id"].as_str().expect("app id").to_string();
    let sqls = get_json(&addr, &format!("{BASE}/api/v1/applications/{id}/sql"));
    sqls.as_array()
        .expect("sql")
        .iter()
        .map(|s| {
            let nodes = s["nodes"].as_array().expect("nodes").len() as u64;
            // The plan text lists one operator a line under `stage N:` headings.
            let text = s["planDescription"].as_str().expect("plan text");
            let lines = text
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.ends_with(':'))
                .count() as u64;
            assert_eq!(nodes, lines, "sql {}: nodes vs plan text:\n{text}", s["id"]);
            (format!("{url}sql/{}", s["id"]), nodes)
        })
        .collect()
}

fn shoot(page: &mut Page, name: &str) {
    let kept = artifacts().join(name);
    page.screenshot(&kept, WIDTH, 2400)
        .unwrap_or_else(|e| panic!("{e}"));
    if std::env::var("KILN_UI_SCREENSHOTS").as_deref() == Ok("docs") {
        let docs = kiln_tests::repo_root().join("docs/images").join(name);
        std::fs::copy(&kept, &docs).unwrap_or_else(|e| panic!("{}: {e}", docs.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_follows_a_live_job_under_a_proxy_base() {
    let work = tempfile::tempdir().expect("tempdir");
    let browser =
        Browser::start(&work.path().join("profile"), WIDTH, 900).unwrap_or_else(|e| panic!("{e}"));
    let mut page = browser.page().unwrap_or_else(|e| panic!("{e}"));
    let ddl = tpch_ddl(tpch_sf01());

    // TPC-H q9: the overview's task count advances while the job runs,
    // updated by the page's script on Server-Sent Events (no reload).
    let (q9, url) = start_job(
        work.path(),
        "browser-q9",
        &format!("{ddl}{}", tpch_query(9)),
    );
    visit(&mut page, &url);
    eval(&mut page, "window.kilnBrowserTest = 'same document'");
    // The task counts the page showed without a reload while q9 ran; when
    // the application ends the page reloads itself to show its end state.
    let mut seen = vec![];
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (done, state, same) = progress(&mut page).unwrap_or_default();
        if state == "RUNNING" {
            assert!(same, "the overview reloaded while q9 ran");
            if seen.last() != Some(&done) {
                seen.push(done);
            }
        } else if !state.is_empty() {
            assert_eq!(state, "COMPLETED", "q9's application");
            break;
        }
        if Instant::now() > deadline {
            let sse: Vec<String> = page
                .events
                .iter()
                .filter(|e| e["method"] == "Network.eventSourceMessageReceived")
                .map(|e| e["params"]["eventName"].to_string())
                .collect();
            panic!(
                "q9 never finished: seen {seen:?}, last state {state:?}, SSE events {sse:?}, errors {:?}",
                page.errors_since(0)
            );
        }
        page.pump(Duration::from_millis(150)).expect("events");
    }
    assert!(
        seen.len() >= 3 && seen.windows(2).all(|w| w[0] < w[1]),
        "the tasks done did not advance on the page: {seen:?}"
    );
    let updates = page
        .events
        .iter()
        .filter(|e| {
            e["method"] == "Network.eventSourceMessageReceived"
                && e["params"]["eventName"] == "update"
        })
        .count();
    assert!(updates >= 2, "{updates} SSE updates reached the page");
    let errors = page.errors_since(0);
    assert!(errors.is_empty(), "while live: {errors:#?}");
    shoot(&mut page, "ui-application.png");

    // Every page, in the browser: no broken link, no console error.
    let pages = crawl(&mut page, &url);
    assert!(
        pages.iter().any(|p| p.contains("/stages/")) && pages.iter().any(|p| p.contains("/sql/")),
        "{pages:?}"
    );

    // The plan graph draws one node per operator; q9 has no skew flag.
    let sqls = sql_pages(&url);
    assert!(!sqls.is_empty(), "q9 ran no SQL execution");
    for (sql_url, operators) in &sqls {
        visit(&mut page, sql_url);
        let (nodes, skewed) = graph_nodes(&mut page);
        assert_eq!(
            nodes, *operators,
            "{sql_url}: graph nodes vs plan operators"
        );
        assert_eq!(skewed, 0, "{sql_url}: q9 flagged as skewed");
    }
    let (q9_sql, operators) = sqls.last().expect("q9's query").clone();
    assert!(operators > 10, "q9's plan has more operators: {operators}");
    visit(&mut page, &q9_sql);
    shoot(&mut page, "ui-query.png");
    // The page of the first stage the query page links.
    let stage = eval(
        &mut page,
        "(() => { const a = Array.from(document.querySelectorAll('a[href*=\"/stages/\"]')); \
         return a.length ? a[0].href : null; })()",
    );
    let stage = stage.as_str().map(str::to_string).unwrap_or_else(|| {
        pages
            .iter()
            .find(|p| p.contains("/stages/"))
            .expect("a stage page")
            .clone()
    });
    visit(&mut page, &stage);
    shoot(&mut page, "ui-stage.png");
    q9.terminate();

    // A job whose rows pile up on one key: one task of the window stage gets
    // nearly all of lineitem; its graph flags the skew.
    let skewed_sql = format!(
        "{ddl}SELECT COUNT(*) AS n, SUM(r) AS s FROM (\
         SELECT ROW_NUMBER() OVER (PARTITION BY k ORDER BY l_partkey) AS r FROM (\
         SELECT CASE WHEN l_linenumber <= 6 THEN 0 ELSE l_orderkey END AS k, l_partkey \
         FROM lineitem) t) w;\n"
    );
    let (mut skewed, url) = start_job_with(
        work.path(),
        "browser-skew",
        &skewed_sql,
        "    spark.sql.shuffle.partitions: \"8\"\n",
    );
    skewed.wait_line("the UI stays up");
    let sqls = sql_pages(&url);
    let mut flagged = 0;
    for (sql_url, operators) in &sqls {
        visit(&mut page, sql_url);
        let (nodes, skew) = graph_nodes(&mut page);
        assert_eq!(
            nodes, *operators,
            "{sql_url}: graph nodes vs plan operators"
        );
        flagged += skew;
    }
    assert!(flagged >= 1, "the skewed job has no skew flag");
    let note = eval(
        &mut page,
        "(document.querySelector('.skew-note') || {}).textContent || ''",
    );
    assert!(
        note.as_str().unwrap_or_default().contains("skewed"),
        "no skew note on the skewed query's page"
    );
    skewed.terminate();
    drop(page);
    drop(browser);
}
