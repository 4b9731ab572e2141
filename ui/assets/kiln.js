// Kiln UI: live updates over Server-Sent Events and sortable tables.
// Served from the driver's binary; no build step, no dependencies.
(function () {
  "use strict";

  function sortable(root) {
    root.querySelectorAll("table.sortable thead th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var table = th.closest("table");
        var body = table.tBodies[0];
        var asc = th.dataset.dir !== "asc";
        table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
        th.dataset.dir = asc ? "asc" : "desc";
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (row) {
          var cell = row.cells[col];
          if (!cell) return "";
          var v = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
          var n = Number(v);
          return isNaN(n) ? v : n;
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var c = x < y ? -1 : x > y ? 1 : 0;
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  function live(url) {
    var main = document.querySelector("main");
    var busy = false, again = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(window.location.href, { headers: { "X-Kiln-Fragment": "1" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null) {
            main.innerHTML = html;
            sortable(main);
          }
        })
        .catch(function () {})
        .then(function () {
          busy = false;
          if (again) { again = false; refresh(); }
        });
    }
    var source = new EventSource(url);
    source.addEventListener("update", refresh);
    // The application ended: load the page whole, so its header (the
    // application's state) is current too, not only its main part.
    source.addEventListener("end", function () { source.close(); window.location.reload(); });
    source.onerror = function () {
      // The driver is gone (the application ended): stop retrying.
      if (source.readyState === EventSource.CLOSED) return;
      source.close();
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    sortable(document);
    var url = document.body.dataset.live;
    if (url) live(url);
  });
})();
