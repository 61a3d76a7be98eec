/*
 * ctihub supervisor wallboard: live queues and agents from /ws/supervisor, with
 * today's figures started from GET /api/v1/supervisor/today and counted on from events.
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
  var state = {
    tick: null,
    clockOffset: 0,          // server epoch seconds minus browser epoch seconds
    members: {},             // extension -> queue -> member state
    waiting: {},             // queue -> callers waiting now
    calls: {},               // call_id -> live call
    base: null,              // the /supervisor/today answer
    pendingEnds: [],         // call_ended events seen before the base arrived
    live: {},                // call_id -> what this call adds to today's figures
    agentSince: {},          // extension -> {key, since}: when the shown state began
    lastEnd: {}              // extension -> when its last call ended
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
  function todayText() { return Ctihub.dateText(new Date()); }
  function localMidnight() {
    var d = new Date(); d.setHours(0, 0, 0, 0);
    return d.getTime() / 1000;
  }

  // ---------------------------------------------------------------- websocket

  function onMessage(m) {
    if (m.type === "hello") {
      state.clockOffset = m.server_time - Date.now() / 1000;
    } else if (m.type === "board") {
      loadBoard(m);
      session.retry = 0; setLink("connected");
      loadToday();
    } else if (m.type === "event") {
      applyEvent(m.event);
      render();
    }
  }

  function loadBoard(board) {
    // The board is the whole truth after a (re)connect: live figures restart from the log.
    state.members = board.members; state.waiting = board.waiting; state.calls = {};
    state.base = null; state.pendingEnds = []; state.live = {};
    board.calls.forEach(function (c) {
      c.ring_at = {};
      c.ringing.forEach(function (a) { c.ring_at[a] = c.started_at; });
      state.calls[c.call_id] = c;
    });
    render();
  }

  function loadToday() {
    var since = Math.floor(localMidnight());
    api("GET", "/supervisor/today?since=" + since).then(function (r) {
      r.since_epoch = since;
      state.base = r;
      var ends = state.pendingEnds; state.pendingEnds = [];
      ends.forEach(countEnd);
      render();
    }).catch(function () { /* shown by the link state; the next reconnect retries */ });
  }

  // ---------------------------------------------------------------- events

  function record(callId) {
    if (!state.live[callId]) {
      state.live[callId] = { queue: null, agent: null, offered: false, answered: false,
                             inSla: false, abandoned: false, wait: null, talk: null };
    }
    return state.live[callId];
  }

  function slaSeconds() { return state.base ? state.base.targets.sla_seconds : 20; }

  function countAnswer(r, wait) {
    if (r.answered) return;
    r.answered = true; r.offered = r.offered || !!r.queue;
    r.wait = wait === null || wait === undefined ? 0 : wait;
    r.inSla = r.wait <= slaSeconds();
  }

  function countEnd(e) {
    if (e.ended_at !== null && e.ended_at <= state.base.as_of) {
      delete state.live[e.call_id];       // already in the logged figures
      return;
    }
    if (e.started_at !== null && e.started_at < state.base.since_epoch) return;
    var r = record(e.call_id);
    r.queue = e.queue || r.queue; r.agent = e.agent || r.agent;
    if (r.queue) r.offered = true;
    if (e.disposition === "answered") { countAnswer(r, e.wait_seconds); r.talk = e.talk_seconds; }
    r.abandoned = e.disposition === "abandoned";
    r.ended = true;
  }

  function applyEvent(e) {
    var call = e.call_id ? state.calls[e.call_id] : null;
    switch (e.type) {
      case "call_started":
        state.calls[e.call_id] = { call_id: e.call_id, direction: e.direction, caller: e.caller,
          state: "started", queue: null, agent: null, ringing: [], ring_at: {},
          started_at: e.at, queued_at: null, answered_at: null };
        break;
      case "call_queued":
        if (call) { call.queue = e.queue; call.queued_at = e.at; }
        var q = record(e.call_id); q.queue = e.queue; q.offered = true;
        break;
      case "agent_ringing":
        if (!call) break;
        call.queue = e.queue || call.queue;
        if (!call.agent) call.state = "ringing";
        if (call.ringing.indexOf(e.agent) < 0) call.ringing.push(e.agent);
        call.ring_at[e.agent] = e.at;
        break;
      case "agent_ring_stopped":
        if (call) call.ringing = call.ringing.filter(function (a) { return a !== e.agent; });
        break;
      case "call_answered":
        if (call) { call.state = "talking"; call.agent = e.agent; call.answered_at = e.at; call.ringing = []; }
        var a = record(e.call_id);
        a.queue = e.queue || a.queue; a.agent = e.agent;
        if (a.queue) a.offered = true;
        countAnswer(a, e.wait_seconds);
        break;
      case "call_held": case "call_resumed":
        if (call) call.state = e.type === "call_held" ? "held" : "talking";
        break;
      case "call_ended":
        delete state.calls[e.call_id];
        if (e.agent) state.lastEnd[e.agent] = e.ended_at || now();
        if (state.base) countEnd(e); else state.pendingEnds.push(e);
        break;
      case "queue_member_changed":
        (state.members[e.agent] = state.members[e.agent] || {})[e.queue] = {
          state: e.state, paused: e.paused, paused_reason: e.paused_reason,
          in_call: e.in_call, name: e.name, at: e.at };
        break;
      case "queue_member_removed":
        if (state.members[e.agent]) delete state.members[e.agent][e.queue];
        break;
      case "queue_callers_changed":
        state.waiting[e.queue] = e.waiting;
        break;
    }
  }

  // ---------------------------------------------------------------- figures

  function liveRecords() {
    return Object.keys(state.live).map(function (id) { return state.live[id]; });
  }

  /** Today's figures per queue: the logged base plus what live events added since. */
  function queueFigures() {
    var out = {};
    function get(name) {
      if (!out[name]) out[name] = { offered: 0, answered: 0, abandoned: 0, inSla: 0, waitSum: 0,
                                    talkSum: 0, talkCount: 0 };
      return out[name];
    }
    if (state.base) {
      state.base.queues.forEach(function (b) {
        var f = get(b.queue);
        f.offered = b.offered; f.answered = b.answered; f.abandoned = b.abandoned;
        f.inSla = b.answered_in_sla;
        f.waitSum = (b.avg_wait_seconds || 0) * b.answered;
        f.talkSum = (b.avg_talk_seconds || 0) * b.answered; f.talkCount = b.answered;
      });
    }
    liveRecords().forEach(function (r) {
      if (!r.queue || !r.offered) return;
      var f = get(r.queue);
      f.offered += 1;
      if (r.answered) { f.answered += 1; f.waitSum += r.wait; if (r.inSla) f.inSla += 1; }
      if (r.talk !== null) { f.talkSum += r.talk; f.talkCount += 1; }
      if (r.abandoned) f.abandoned += 1;
    });
    Object.keys(state.waiting).forEach(get);
    Object.keys(state.members).forEach(function (ext) { Object.keys(state.members[ext]).forEach(get); });
    return out;
  }

  function longestWait(queue) {
    var longest = null;
    Object.keys(state.calls).forEach(function (id) {
      var c = state.calls[id];
      if (c.queue === queue && !c.agent && c.queued_at !== null) {
        var w = now() - c.queued_at;
        if (longest === null || w > longest) longest = w;
      }
    });
    return longest;
  }

  function agentFigures() {
    var out = {};
    if (state.base) {
      state.base.agents.forEach(function (b) { out[b.agent] = { answered: b.answered, talk: b.talk_seconds }; });
    }
    liveRecords().forEach(function (r) {
      if (!r.answered || !r.agent) return;
      var f = out[r.agent] || (out[r.agent] = { answered: 0, talk: 0 });
      f.answered += 1; f.talk += r.talk || 0;
    });
    return out;
  }

  /** What an agent is doing now, and since when (server epoch seconds, null: unknown). */
  function agentState(ext) {
    var ids = Object.keys(state.calls);
    for (var i = 0; i < ids.length; i++) {
      var c = state.calls[ids[i]];
      if (c.agent === ext && (c.state === "talking" || c.state === "held")) {
        return { state: c.state, since: c.answered_at, caller: c.caller };
      }
    }
    for (var j = 0; j < ids.length; j++) {
      var r = state.calls[ids[j]];
      if (r.ringing.indexOf(ext) >= 0) return { state: "ringing", since: r.ring_at[ext], caller: r.caller };
    }
    var entries = Object.keys(state.members[ext] || {}).map(function (q) { return state.members[ext][q]; });
    var latest = entries.reduce(function (m, x) { return x.at !== null && x.at > m ? x.at : m; }, 0) || null;
    if (!entries.length || entries.every(function (x) { return x.state === "unavailable" || x.state === "unknown"; })) {
      return { state: "offline", since: latest };
    }
    var paused = entries.filter(function (x) { return x.paused; })[0];
    if (paused) return { state: "paused", reason: paused.paused_reason, since: paused.at };
    if (entries.some(function (x) { return x.state === "ringing"; })) return { state: "ringing", since: latest };
    if (entries.some(function (x) { return x.in_call || x.state === "in_use" || x.state === "busy"; })) {
      return { state: "talking", since: latest };
    }
    return { state: "idle", since: Math.max(latest || 0, state.lastEnd[ext] || 0) || null };
  }

  // ---------------------------------------------------------------- rendering

  function cell(text, cls) { return el("td", cls ? { class: cls, text: text } : { text: text }); }

  function render() {
    if (!session.user) return;
    var targets = state.base ? state.base.targets : null;
    if (targets) {
      $("targets").textContent = t("wb_targets") + ": " + t("wb_sla") + " ≥ " +
        percent(targets.sla_target_percent) + " (" + t("wb_within") + " " + clock(targets.sla_seconds) +
        ") · " + t("wb_max_wait") + " " + clock(targets.max_wait_seconds);
    }
    var alerts = [];
    var figures = queueFigures();
    var qBody = $("queue-body");
    qBody.textContent = "";
    Object.keys(figures).sort().forEach(function (name) {
      var f = figures[name];
      var sla = f.offered ? 100 * f.inSla / f.offered : null;
      var abandon = f.offered ? 100 * f.abandoned / f.offered : null;
      var longest = longestWait(name);
      // Whole seconds, as shown: an alert never reads "0:01 over 0:01".
      var waitBad = targets && longest !== null && Math.floor(longest) > targets.max_wait_seconds;
      var slaBad = targets && sla !== null && sla < targets.sla_target_percent;
      if (waitBad) alerts.push(name + ": " + t("wb_alert_wait") + " " + clock(longest) + " " + t("wb_over") + " " + clock(targets.max_wait_seconds));
      if (slaBad) alerts.push(name + ": " + t("wb_alert_sla") + " " + percent(sla) + " " + t("wb_under") + " " + percent(targets.sla_target_percent));
      var row = el("tr", { "data-queue": name, class: waitBad || slaBad ? "alert" : "" }, [
        cell(name, "queue-name"),
        cell(digits(state.waiting[name] || 0), "num big waiting"),
        cell(longest === null ? "—" : clock(longest), "num longest" + (waitBad ? " bad" : "")),
        cell(digits(f.offered), "num offered"),
        cell(digits(f.answered), "num answered"),
        cell(digits(f.abandoned), "num abandoned"),
        cell(percent(abandon), "num abandon-rate"),
        cell(percent(sla), "num sla" + (slaBad ? " bad" : sla !== null ? " good" : "")),
        cell(f.answered ? clock(f.waitSum / f.answered) : "—", "num avg-wait"),
        cell(f.talkCount ? clock(f.talkSum / f.talkCount) : "—", "num avg-talk")
      ]);
      qBody.appendChild(row);
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

    var perAgent = agentFigures();
    var exts = {};
    Object.keys(state.members).forEach(function (x) { exts[x] = true; });
    Object.keys(perAgent).forEach(function (x) { exts[x] = true; });
    var aBody = $("agent-body");
    aBody.textContent = "";
    Object.keys(exts).sort().forEach(function (ext) {
      var s = agentState(ext);
      var key = s.state + "|" + (s.reason || "");
      var seen = state.agentSince[ext];
      if (!seen || seen.key !== key) seen = state.agentSince[ext] = { key: key, since: s.since || now() };
      var queues = Object.keys(state.members[ext] || {}).sort();
      var name = queues.map(function (q) { return state.members[ext][q].name; }).filter(Boolean)[0] || "";
      var label = t("ag_" + s.state) + (s.reason ? " (" + s.reason + ")" : "");
      var f = perAgent[ext] || { answered: 0, talk: 0 };
      aBody.appendChild(el("tr", { "data-agent": ext, "data-state": s.state }, [
        cell(digits(ext), "num ext"),
        cell(name, "name"),
        el("td", {}, [el("span", { class: "agent-state", text: label })]),
        cell(clock(now() - seen.since), "num for"),
        cell(digits(f.answered), "num answered"),
        cell(clock(f.talk), "num talk"),
        el("td", { class: "caller" }, [s.caller ? el("span", { class: "ltr", text: digits(s.caller) }) : null]),
        cell(queues.join(", "), "queues")
      ]));
    });
    $("no-agents").hidden = aBody.children.length > 0;
    $("today").textContent = t("wb_today") + " " + todayText();
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
    $("whoami").textContent = user.name;
    session.adoptUserLanguage();
    session.stopped = false;
    session.save({ token: session.token, expires_at: session.expiresAt, user: user });
    clearInterval(state.tick);
    state.tick = setInterval(render, 1000);
    session.connect();
  }

  function logout() {
    clearInterval(state.tick);
    session.end();
    $("board").hidden = true; $("login").hidden = false; $("logout-btn").hidden = true;
    $("panel-link").hidden = true; $("whoami").textContent = "";
    setLink("offline");
  }

  document.addEventListener("DOMContentLoaded", function () {
    Ctihub.startPage(session, { loggedIn: showBoard, logout: logout, rerender: render });
    $("today").textContent = todayText();
    if (session.isLive()) showBoard();
  });
})();
