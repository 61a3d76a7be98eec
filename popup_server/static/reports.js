/*
 * ctihub reports page: figures the hub computed (GET /api/v1/reports/{kind}), as a table
 * and as charts (Chart.js, vendored in /static/vendor/chartjs), in the page's language and
 * direction; days in Jalali in Persian (the browser's Intl persian calendar).
 */
(function () {
  "use strict";
  var t = I18n.t;
  var $ = Ctihub.$, digits = Ctihub.digits, el = Ctihub.el;
  var SUPERVISOR_ROLES = { supervisor: true, admin: true };
  var PERCENT = { service_level_pct: true, abandon_pct: true, first_contact_resolution_pct: true };
  var session = new Ctihub.Session({ socketPath: null, onMessage: function () {}, logout: logout });
  var state = { table: null, intervals: null, agents: null, charts: [] };

  // ---------------------------------------------------------------- formatting

  function fa() { return I18n.language() === "fa"; }

  /** "2026-11-23" as the page writes a day: Jalali (Persian calendar) in Persian. */
  function dayText(iso) {
    if (!fa()) return iso;
    var p = iso.split("-");
    var d = new Date(Date.UTC(+p[0], +p[1] - 1, +p[2], 12));
    return new Intl.DateTimeFormat("fa-IR-u-ca-persian-nu-arab", {
      year: "numeric", month: "2-digit", day: "2-digit", timeZone: "UTC"
    }).format(d).replace(/[٠-٩]/g, function (c) { return "۰۱۲۳۴۵۶۷۸۹"["٠١٢٣٤٥٦٧٨٩".indexOf(c)]; });
  }

  /** An interval's start ("2026-11-23T08:30+03:30": the call center's own clock). */
  function intervalText(iso, withDay) {
    var time = digits(iso.slice(11, 16));
    return withDay ? dayText(iso.slice(0, 10)) + " " + time : time;
  }

  function number(value, column) {
    if (value === null || value === undefined) return "—";
    // Rates and averages always with their tenth (50.0%), counts as they are.
    var tenths = PERCENT[column] || /_s$/.test(column) || column === "calls_per_case";
    var text = tenths ? value.toFixed(column === "calls_per_case" ? 2 : 1) : String(value);
    if (fa()) text = digits(text.replace(".", "٫"));
    return PERCENT[column] ? text + (fa() ? "٪" : "%") : text;
  }

  // ---------------------------------------------------------------- loading

  function query(kind, extra) {
    return "/reports/" + kind + "?from=" + $("from").value + "&to=" + $("to").value + (extra || "");
  }

  function show(e) {
    if (e) e.preventDefault();
    $("report-error").textContent = "";
    var kind = $("kind").value;
    var every = "&interval=" + $("interval").value;
    Promise.all([
      session.api("GET", query(kind, kind === "calls" ? every : "")),
      session.api("GET", query("calls", every)),
      session.api("GET", query("agents"))
    ]).then(function (answers) {
      state.table = answers[0]; state.intervals = answers[1]; state.agents = answers[2];
      render();
    }).catch(function (err) { $("report-error").textContent = err.message; });
  }

  function downloadCsv() {
    var kind = $("kind").value;
    fetch("/api/v1" + query(kind, (kind === "calls" ? "&interval=" + $("interval").value : "") + "&format=csv"),
          { headers: { Authorization: "Bearer " + session.token } })
      .then(function (r) {
        if (!r.ok) throw new Error(r.statusText);
        return r.blob();
      })
      .then(function (blob) {
        var a = el("a", { href: URL.createObjectURL(blob), download: "ctihub-" + kind + ".csv" });
        document.body.appendChild(a); a.click(); a.remove();
      })
      .catch(function (err) { $("report-error").textContent = err.message; });
  }

  // ---------------------------------------------------------------- rendering

  function render() {
    $("from-text").textContent = $("from").value ? dayText($("from").value) : "";
    $("to-text").textContent = $("to").value ? dayText($("to").value) : "";
    if (!state.table) return;
    $("standard").textContent = state.table.standard;
    renderTable(state.table);
    renderCharts();
  }

  function label(column, value) {
    if (value === null || value === undefined) return "—";
    if (column === "day") return dayText(value);
    if (column === "interval") return intervalText(value, $("from").value !== $("to").value);
    return value;
  }

  function renderTable(table) {
    var rows = table.rows;
    var columns = rows.length ? Object.keys(rows[0]) : [];
    // The days in their own isolates: a Persian zero is a dot, so no dot-like separators.
    $("table-title").textContent = "";
    [t("rp_" + table.kind) + ": ", el("bdi", { text: dayText(table.from.slice(0, 10)) }), " – ",
     el("bdi", { text: dayText($("to").value) })].forEach(function (part) {
      $("table-title").append(part);
    });
    var head = $("report-table").tHead, body = $("report-table").tBodies[0];
    head.textContent = ""; body.textContent = "";
    var keyColumns = { queue: true, team: true, agent: true, day: true, interval: true };
    head.appendChild(el("tr", {}, columns.map(function (c) {
      return el("th", { class: keyColumns[c] ? "" : "num", scope: "col", text: t("rc_" + c) });
    })));
    rows.forEach(function (row) {
      body.appendChild(el("tr", {}, columns.map(function (c) {
        if (keyColumns[c]) return el("td", {}, [el("bdi", { text: String(label(c, row[c])) })]);
        return el("td", { class: "num " + c, text: number(row[c], c) });
      })));
    });
    $("no-rows").hidden = rows.length > 0;
  }

  function chartOptions(yTitle, horizontal) {
    var rtl = fa();
    var font = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.family = font;
    var value = {
      beginAtZero: true, position: rtl ? "right" : "left",
      title: { display: true, text: yTitle },
      ticks: { callback: function (v) { return digits(String(v)); } }
    };
    var category = { reverse: rtl, ticks: { autoSkip: true, autoSkipPadding: 12, maxRotation: 0 } };
    return {
      responsive: true, maintainAspectRatio: false, animation: false,
      layout: { padding: { left: 12, right: 12 } },
      locale: rtl ? "fa-IR" : "en",
      indexAxis: horizontal ? "y" : "x",
      plugins: {
        legend: { rtl: rtl, textDirection: rtl ? "rtl" : "ltr", position: "bottom" },
        tooltip: { rtl: rtl, textDirection: rtl ? "rtl" : "ltr" }
      },
      scales: horizontal
        ? { x: Object.assign({}, value, { position: "bottom", reverse: rtl }),
            y: { position: rtl ? "right" : "left", ticks: { autoSkip: false } } }
        : { x: category, y: value }
    };
  }

  function renderCharts() {
    state.charts.forEach(function (c) { c.destroy(); });
    state.charts = [];
    var withDay = $("from").value !== $("to").value;
    var rows = state.intervals.rows;
    var labels = rows.map(function (r) { return intervalText(r.interval, withDay); });
    state.charts.push(new Chart($("chart-sl"), {
      type: "line",
      data: { labels: labels, datasets: [{
        label: t("rc_service_level_pct"), data: rows.map(function (r) { return r.service_level_pct; }),
        borderColor: "#1f6fb2", backgroundColor: "#1f6fb2", spanGaps: true, tension: 0.2
      }] },
      options: chartOptions("%")
    }));
    state.charts.push(new Chart($("chart-volume"), {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: t("rc_offered"), data: rows.map(function (r) { return r.offered; }), backgroundColor: "#7aa6d6" },
        { label: t("rc_abandoned"), data: rows.map(function (r) { return r.abandoned; }), backgroundColor: "#c0392b" }
      ] },
      options: chartOptions(t("rp_calls_axis"))
    }));
    var agents = state.agents.rows.filter(function (r) { return r.aht_s !== null; });
    state.charts.push(new Chart($("chart-aht"), {
      type: "bar",
      data: { labels: agents.map(function (r) { return digits(r.agent); }), datasets: [{
        label: t("rc_aht_s"), data: agents.map(function (r) { return r.aht_s; }), backgroundColor: "#2e8b57"
      }] },
      options: chartOptions(t("rp_seconds_axis"), true)
    }));
    $("chart-sl").setAttribute("aria-label", t("rp_chart_sl"));
    $("chart-volume").setAttribute("aria-label", t("rp_chart_volume"));
    $("chart-aht").setAttribute("aria-label", t("rp_chart_aht"));
  }

  // ---------------------------------------------------------------- session

  function isoDay(d) {
    return d.getFullYear() + "-" + Ctihub.pad(d.getMonth() + 1) + "-" + Ctihub.pad(d.getDate());
  }

  function showReports() {
    var user = session.user;
    if (!SUPERVISOR_ROLES[user.role]) { location.replace("/"); return; }
    $("login").hidden = true; $("reports").hidden = false; $("logout-btn").hidden = false;
    $("wallboard-link").hidden = false;
    $("whoami").textContent = user.name;
    session.adoptUserLanguage();
    session.scheduleRenewal();
    if (!$("to").value) {
      var today = new Date(), weekAgo = new Date(Date.now() - 6 * 86400000);
      $("to").value = isoDay(today); $("from").value = isoDay(weekAgo);
    }
    show();
  }

  function logout() {
    session.end();
    $("reports").hidden = true; $("login").hidden = false; $("logout-btn").hidden = true;
    $("wallboard-link").hidden = true; $("whoami").textContent = "";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var params = new URLSearchParams(location.search);
    if (params.get("from")) $("from").value = params.get("from");
    if (params.get("to")) $("to").value = params.get("to");
    if (params.get("kind")) $("kind").value = params.get("kind");
    Ctihub.startPage(session, { loggedIn: showReports, logout: logout, rerender: render });
    $("report-form").addEventListener("submit", show);
    $("csv-btn").addEventListener("click", downloadCsv);
    ["from", "to"].forEach(function (id) { $(id).addEventListener("change", render); });
    if (session.isLive()) showReports();
  });
})();
