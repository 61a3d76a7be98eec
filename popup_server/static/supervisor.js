/*
 * ctihub supervisor wallboard: shows the live board the hub computes (cti/live_board.py),
 * sent on /ws/supervisor as "board" messages. Nothing is counted here: the page only
 * formats the hub's figures and ticks the clocks from the hub's "since" moments.
 */
(function () {
  "use strict";
  var t = I18n.t;
  var $ = Ctihub.$, digits = Ctihub.digits, pad = Ctihub.pad, el = Ctihub.el;
  var setLink = Ctihub.setLink;
  var SUPERVISOR_ROLES = { supervisor: true, admin: true };
  var session = new Ctihub.Session({
    socketPath: "/ws/supervisor", onMessage: onMessage, logout: logout
  });
  var api = session.api.bind(session);
  var alerts = null;  // CtihubAlerts.AlertList once the board shows
  var work = null;    // CtihubWork.SupervisorWork: open callbacks, call lists
  var state = {
    tick: null,
    clockOffset: 0,          // server epoch seconds minus browser epoch seconds
    board: null              // the last "board" message
  };

  // ---------------------------------------------------------------- formatting

  function now() { return Date.now() / 1000 + state.clockOffset; }
  /** "0:42", "12:05", "1:02:05": durations tick on a wallboard, so always clock-style. */
  function clock(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "";
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return digits((h ? h + ":" + pad(m) : m) + ":" + pad(s % 60));
  }
  function percent(value) {
    if (value === null || value === undefined) return "—";
    // Persian writes 66٫7٪: its own decimal separator and percent sign.
    if (I18n.language() === "fa") return digits(value.toFixed(1).replace(".", "٫")) + "٪";
    return value.toFixed(1) + "%";
  }
  function seconds(value) { return value === null || value === undefined ? "—" : clock(value); }
  function todayText() { return Ctihub.dateText(new Date()); }

  // ---------------------------------------------------------------- websocket

  function onMessage(m) {
    if (m.type === "hello") {
      state.workLoaded = false;
      state.clockOffset = m.server_time - Date.now() / 1000;
    } else if (m.type === "board") {
      state.board = m;
      session.retry = 0; setLink("connected");
      // The first board after a (re)connect: the alerts and outbound work start from REST.
      if (!state.workLoaded) {
        state.workLoaded = true;
        if (alerts) alerts.load();
        if (work) work.refresh();
      }
      render();
    } else if (m.type === "event") {
      if (alerts) alerts.onMessage(m);
      // A call's end may open or close a callback: look again once the CRM has it.
      if (work && m.event.type === "call_ended") setTimeout(function () { work.refresh(); }, 1500);
    }
  }

  // ---------------------------------------------------------------- rendering

  function cell(text, cls) { return el("td", cls ? { class: cls, text: text } : { text: text }); }

  function render() {
    if (!session.user) return;
    var board = state.board;
    $("today").textContent = t("wb_today") + " " + todayText();
    if (!board) return;
    var alerts = [];
    var qBody = $("queue-body");
    qBody.textContent = "";
    board.queues.forEach(function (q) {
      var longest = q.longest_wait_since === null ? null : now() - q.longest_wait_since;
      var waitBad = q.alerts.indexOf("wait") >= 0, slaBad = q.alerts.indexOf("service_level") >= 0;
      if (waitBad) alerts.push(q.queue + ": " + t("wb_alert_wait") + " " + clock(longest) + " " + t("wb_over") + " " + clock(q.max_wait_seconds));
      if (slaBad) alerts.push(q.queue + ": " + t("wb_alert_sla") + " " + percent(q.service_level_pct) + " " + t("wb_under") + " " + percent(q.target_percent));
      var sla = q.service_level_pct;
      qBody.appendChild(el("tr", { "data-queue": q.queue, class: waitBad || slaBad ? "alert" : "" }, [
        el("td", { class: "queue-name" }, [el("bdi", { text: q.queue })]),
        cell(digits(q.waiting), "num big waiting"),
        cell(longest === null ? "—" : clock(longest), "num longest" + (waitBad ? " bad" : "")),
        cell(digits(q.offered), "num offered"),
        cell(digits(q.answered), "num answered"),
        cell(digits(q.abandoned), "num abandoned"),
        cell(percent(q.abandon_pct), "num abandon-rate"),
        cell(percent(sla), "num sla" + (slaBad ? " bad" : sla !== null ? " good" : "")),
        cell(digits(clock(q.threshold_seconds)), "num threshold"),
        cell(seconds(q.asa_s), "num asa"),
        cell(seconds(q.aht_s), "num aht")
      ]));
    });
    $("no-queues").hidden = qBody.children.length > 0;

    var box = $("alerts");
    box.textContent = "";
    box.className = "alerts " + (alerts.length ? "bad" : "ok");
    if (alerts.length) {
      box.appendChild(el("ul", {}, alerts.map(function (a) { return el("li", { text: a }); })));
    } else {
      box.textContent = t("wb_no_alerts");
    }

    var aBody = $("agent-body");
    aBody.textContent = "";
    board.agents.forEach(function (a) {
      var label = t("ag_" + a.state) + (a.reason ? " (" + a.reason + ")" : "");
      aBody.appendChild(el("tr", { "data-agent": a.agent, "data-state": a.state }, [
        cell(digits(a.agent), "num ext"),
        el("td", { class: "name" }, [el("bdi", { text: a.name || "" })]),
        el("td", {}, [el("span", { class: "agent-state", text: label })]),
        cell(a.since === null ? "" : clock(now() - a.since), "num for"),
        cell(digits(a.answered), "num answered"),
        cell(clock(a.talk_seconds), "num talk"),
        cell(seconds(a.aht_s), "num aht"),
        el("td", { class: "caller" }, [a.caller ? el("bdi", { class: "ltr", text: digits(a.caller) }) : null]),
        cell(a.queues.join(", "), "queues"),
        el("td", { class: "actions-col" }, [el("div", { class: "actions" }, actionButtons(a))])
      ]));
    });
    $("no-agents").hidden = aBody.children.length > 0;
    renderCallers(board);
  }

  function renderCallers(board) {
    var body = $("caller-body");
    body.textContent = "";
    board.queues.forEach(function (q) {
      q.callers.forEach(function (c) {
        body.appendChild(el("tr", { "data-call": c.call_id, "data-queue": q.queue }, [
          el("td", {}, [el("bdi", { text: q.queue })]),
          el("td", { class: "caller" }, [el("bdi", { class: "ltr", text: c.caller ? digits(c.caller) : "—" })]),
          el("td", { class: "customer" }, [el("bdi", { text: c.customer || c.caller_name || "" })]),
          cell(c.waiting_since === null ? "" : clock(now() - c.waiting_since), "num waited")
        ]));
      });
    });
    $("no-callers").hidden = body.children.length > 0;
  }

  // ---------------------------------------------------------------- intervention

  function button(label, action, ext, body, enabled) {
    var b = el("button", { type: "button", class: "act", "data-action": action, text: t(label) });
    b.disabled = !enabled;
    b.addEventListener("click", function () { act(ext, action, body); });
    return b;
  }

  function actionButtons(a) {
    var onCall = a.state === "talking" || a.state === "held";
    var inQueues = a.queues.length > 0;
    var paused = a.state === "paused";
    return [
      paused ? button("wb_unpause", "unpause", a.agent, { paused: false }, inQueues)
             : button("wb_pause", "pause", a.agent, { paused: true, reason: "supervisor" }, inQueues),
      button("wb_logout", "logout", a.agent, {}, inQueues),
      button("wb_listen", "listen", a.agent, { mode: "listen" }, onCall),
      button("wb_whisper", "whisper", a.agent, { mode: "whisper" }, onCall),
      button("wb_barge", "barge", a.agent, { mode: "barge" }, onCall)
    ];
  }

  function act(ext, action, body) {
    var path = action === "pause" || action === "unpause" ? "pause"
             : action === "logout" ? "logout" : "spy";
    $("action-status").textContent = "";
    session.api("POST", "/supervisor/agents/" + encodeURIComponent(ext) + "/" + path, body)
      .then(function () {
        $("action-status").textContent = t("wb_sent") + " " + t("wb_" + action) + " " + digits(ext);
      })
      .catch(function (err) { $("action-status").textContent = err.message; });
  }

  // ---------------------------------------------------------------- wall screen

  function setWall(on) {
    document.body.classList.toggle("wall", on);
    sessionStorage.setItem("ctihub.wall", on ? "1" : "");
    $("wall-btn").dataset.i18n = on ? "wb_desk_mode" : "wb_wall_mode";
    $("wall-btn").textContent = t($("wall-btn").dataset.i18n);
  }

  // ---------------------------------------------------------------- session

  function showBoard() {
    var user = session.user;
    if (!SUPERVISOR_ROLES[user.role]) {
      // Agents belong on their own panel (the supervisor socket refuses them anyway).
      location.replace("/");
      return;
    }
    $("login").hidden = true; $("board").hidden = false; $("logout-btn").hidden = false;
    $("panel-link").hidden = !user.extensions.length;
    $("reports-link").hidden = false; $("wall-btn").hidden = false;
    $("whoami").textContent = user.name;
    session.adoptUserLanguage();
    session.stopped = false;
    session.save({ token: session.token, expires_at: session.expiresAt, user: user });
    clearInterval(state.tick);
    state.tick = setInterval(render, 1000);
    alerts = alerts || new CtihubAlerts.AlertList($("alert-list"), { api: api, canAck: true, now: now });
    if (!work) {
      work = new CtihubWork.SupervisorWork($("work-board"), { api: api });
      setInterval(function () { if (session.user) work.refresh(); }, 15000);
    }
    session.connect();
  }

  function logout() {
    clearInterval(state.tick);
    session.end();
    $("board").hidden = true; $("login").hidden = false; $("logout-btn").hidden = true;
    $("panel-link").hidden = true; $("whoami").textContent = "";
    $("reports-link").hidden = true; $("wall-btn").hidden = true;
    setLink("offline");
  }

  document.addEventListener("DOMContentLoaded", function () {
    Ctihub.startPage(session, { loggedIn: showBoard, logout: logout, rerender: render });
    $("today").textContent = todayText();
    $("wall-btn").addEventListener("click", function () {
      setWall(!document.body.classList.contains("wall"));
    });
    setWall(new URLSearchParams(location.search).get("wall") === "1" ||
            sessionStorage.getItem("ctihub.wall") === "1");
    if (session.isLive()) showBoard();
  });
})();
