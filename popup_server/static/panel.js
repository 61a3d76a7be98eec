/* ctihub agent panel: login, live pops over the agent websocket, phonebook, cases, wrap-up. */
(function () {
  "use strict";
  var t = I18n.t;
  var $ = Ctihub.$, digits = Ctihub.digits, pad = Ctihub.pad, el = Ctihub.el;
  var setLink = Ctihub.setLink;
  var session = new Ctihub.Session({ socketPath: "/ws/agent", onMessage: onMessage, logout: logout });
  var api = session.api.bind(session);
  var state = { pops: new Map(), members: new Map(), dispositions: [] };

  // ---------------------------------------------------------------- formatting

  function toDate(value) {
    if (value === null || value === undefined || value === "") return null;
    var d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    return isNaN(d.getTime()) ? null : d;
  }
  function fmtDate(value) {
    var d = toDate(value);
    return d ? Ctihub.dateText(d) : "";
  }
  function fmtTime(value) {
    var d = toDate(value);
    return d ? digits(pad(d.getHours()) + ":" + pad(d.getMinutes())) : "";
  }
  function fmtDateTime(value) {
    var d = toDate(value);
    return d ? fmtDate(value) + " " + fmtTime(value) : "";
  }
  function fmtSeconds(s) {
    if (s === null || s === undefined) return "";
    if (s < 60) return digits(s) + " " + t("seconds");
    return digits(Math.floor(s / 60) + ":" + pad(s % 60)) + " " + t("minutes");
  }

  // ---------------------------------------------------------------- websocket

  function onMessage(m) {
    switch (m.type) {
      case "hello":
        // The snapshot that follows is the whole truth: start from a clean slate.
        state.pops.clear(); state.members.clear(); renderPops(); renderMembers();
        break;
      case "snapshot_done":
        session.retry = 0; setLink("connected"); loadToday();
        break;
      case "pop":
        var isNew = !state.pops.has(m.call.call_id) && m.call.state === "ringing";
        state.pops.set(m.call.call_id, m.call);
        renderPops();
        if (isNew) alertAgent(m.call);
        break;
      case "call_update":
        var pop = state.pops.get(m.call_id);
        if (pop) { Object.assign(pop, m.call); renderPops(); }
        if (m.change === "ended") setTimeout(loadToday, 1500);
        break;
      case "pop_withdrawn":
        state.pops.delete(m.call_id); renderPops();
        break;
      case "queue_member":
        state.members.set(m.queue, m); renderMembers();
        break;
    }
  }

  // ---------------------------------------------------------------- notification

  function alertAgent(call) {
    if (!document.hidden) return;
    var who = callerTitle(call);
    if ("Notification" in window && Notification.permission === "granted") {
      var n = new Notification(t("new_pop"), { body: who, tag: call.call_id });
      n.onclick = function () { window.focus(); n.close(); };
    }
    beep();
  }

  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(); var gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.15;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.35);
      osc.onended = function () { ctx.close(); };
    } catch (e) { /* no audio device */ }
  }

  // ---------------------------------------------------------------- rendering pops

  function callerTitle(call) {
    var best = call.match.customers[0];
    if (best) return best.name;
    if (call.match.status === "extension") return t("internal_caller");
    return call.caller.name || t("unknown_caller");
  }

  function fact(dl, key, value, ltr) {
    if (value === null || value === undefined || value === "") return;
    dl.appendChild(el("dt", { text: t(key) }));
    // Numbers and codes stay left-to-right inside Persian text ("+98…", not "…98+").
    dl.appendChild(el("dd", ltr ? { text: value, class: "ltr" } : { text: value }));
  }

  function renderCustomer(c) {
    var box = el("section", { class: "customer" });
    var head = el("h4", {}, [el("span", { text: c.name })]);
    if (c.vip) head.appendChild(el("span", { class: "vip", text: "VIP" }));
    box.appendChild(head);
    var dl = el("dl", { class: "facts" });
    fact(dl, "company", c.company || (c.kind === "company" ? c.name : ""));
    fact(dl, "address", c.address);
    fact(dl, "language", c.language);
    var contract = c.contract || { state: "none" };
    var cText = t("contract_" + contract.state) + (contract.plan ? " · " + contract.plan : "") +
      (contract.ends_on ? " · " + t("until") + " " + fmtDate(contract.ends_on) : "");
    dl.appendChild(el("dt", { text: t("contract") }));
    dl.appendChild(el("dd", { class: "contract contract-" + contract.state, text: cText }));
    box.appendChild(dl);
    if (c.open_cases && c.open_cases.length) {
      box.appendChild(el("h5", { text: t("open_cases") }));
      var ul = el("ul", { class: "cases" });
      c.open_cases.forEach(function (k) {
        ul.appendChild(el("li", {}, [
          el("span", { class: "code", text: digits(k.tracking_code) }),
          el("span", { text: " " + (k.subject || "") + " " }),
          el("span", { class: "muted", text: k.due_at ? t("due") + " " + fmtDateTime(k.due_at) : "" })
        ]));
      });
      box.appendChild(ul);
    }
    if (c.recent_calls && c.recent_calls.length) {
      box.appendChild(el("h5", { text: t("last_calls") }));
      var table = el("table", { class: "calls" });
      c.recent_calls.slice(0, 5).forEach(function (k) {
        table.appendChild(el("tr", {}, [
          el("td", { text: fmtDateTime(k.started_at) }),
          el("td", { text: fmtSeconds(k.talk_seconds) }),
          el("td", { text: k.agent ? digits(k.agent) : "" }),
          el("td", { text: k.disposition ? t("call_" + k.disposition) : "" })
        ]));
      });
      box.appendChild(table);
    }
    return box;
  }

  function renderPop(call) {
    var node = document.importNode($("pop-template").content, true).firstElementChild;
    node.dataset.callId = call.call_id;
    node.dataset.state = call.state;
    node.querySelector(".state-badge").textContent = t("state_" + call.state);
    node.querySelector(".pop-title").textContent = callerTitle(call);
    var best = call.match.customers[0];
    node.querySelector(".vip").hidden = !(best && best.vip);
    var dl = node.querySelector(".facts");
    fact(dl, "number", call.caller.presented ? digits(call.caller.presented) : "", true);
    fact(dl, "normalised", call.caller.normalised ? digits(call.caller.normalised) : "", true);
    fact(dl, "queue", call.queue);
    fact(dl, "waited", call.wait_seconds !== null ? fmtSeconds(call.wait_seconds) : "");
    if (call.ivr) {
      fact(dl, "ivr_digits", digits(call.ivr.input), true);
      if (call.ivr.case) fact(dl, "ivr_case", digits(call.ivr.case.tracking_code) + " " + (call.ivr.case.subject || ""));
    }
    if (call.transfers && call.transfers.length) {
      fact(dl, "transfers", call.transfers.map(function (x) { return digits((x.from || "?") + " → " + x.to); }).join(", "));
    }
    if (call.match.status === "unavailable") fact(dl, "contract", t("lookup_unavailable"));
    var customers = node.querySelector(".customers");
    call.match.customers.forEach(function (c) { customers.appendChild(renderCustomer(c)); });
    wireCallActions(node, call);
    I18n.apply(node);
    if (call.case) showCase(node, call.case, call.caseLinked);
    return node;
  }

  function renderPops() {
    // Keyed update: a pop the agent is typing in keeps its node; only its state badge changes.
    var list = $("pop-list");
    var existing = new Map();
    list.querySelectorAll(".pop").forEach(function (n) { existing.set(n.dataset.callId, n); });
    existing.forEach(function (n, id) { if (!state.pops.has(id)) n.remove(); });
    var calls = Array.from(state.pops.values()).reverse();
    var prev = null;
    calls.forEach(function (call) {
      var old = existing.get(call.call_id);
      var node;
      if (old && old.contains(document.activeElement)) {
        old.dataset.state = call.state;
        old.querySelector(".state-badge").textContent = t("state_" + call.state);
        node = old;
      } else {
        node = renderPop(call);
        if (old) old.replaceWith(node);
      }
      var want = prev ? prev.nextSibling : list.firstChild;
      if (want !== node) list.insertBefore(node, want);
      prev = node;
    });
    $("no-calls").hidden = calls.length > 0;
  }

  function renderMembers() {
    var paused = Array.from(state.members.values()).some(function (m) { return m.paused; });
    $("pause-btn").dataset.i18n = paused ? "unpause" : "pause";
    $("pause-btn").textContent = t(paused ? "unpause" : "pause");
    $("pause-btn").setAttribute("aria-pressed", paused ? "true" : "false");
    var reasons = Array.from(state.members.values()).filter(function (m) { return m.paused; })
      .map(function (m) { return m.queue + (m.paused_reason ? " (" + m.paused_reason + ")" : ""); });
    $("pause-state").textContent = paused ? t("paused") + ": " + reasons.join(", ") : "";
  }

  function showCase(node, k, linked) {
    var result = node.querySelector(".case-result");
    if (linked) {
      result.textContent = t("linked") + ": " + digits(k.tracking_code) + " " + (k.subject || "");
      result.className = "case-result";
    } else {
      result.textContent = t("tracking_code_is") + " " + digits(k.tracking_code);
      result.className = "case-result code-big";
    }
  }

  // The server files notes and cases only with the caller's own customer; for another
  // customer it answers 409 naming the flag that confirms it, which the agent is asked for.
  function confirming(send) {
    return send({}).catch(function (err) {
      if (err.status === 409 && err.confirm && window.confirm(err.message)) {
        var extra = {}; extra[err.confirm] = true;
        return send(extra);
      }
      throw err;
    });
  }

  function wireCallActions(node, call) {
    var result = node.querySelector(".case-result");
    var best = call.match.customers[0];
    node.querySelector(".case-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var subject = e.target.subject.value;
      confirming(function (extra) {
        return api("POST", "/cases", Object.assign(
          { subject: subject, call_id: call.call_id, customer_id: best ? best.id : null }, extra));
      }).then(function (k) {
          call.case = k; call.caseLinked = false;
          showCase(node, k, false);
          e.target.reset();
        })
        .catch(function (err) { result.textContent = err.message; result.className = "case-result error"; });
    });
    node.querySelector(".link-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var code = e.target.code.value;
      confirming(function (extra) {
        return api("POST", "/calls/" + encodeURIComponent(call.call_id) + "/case",
          Object.assign({ tracking_code: code }, extra));
      }).then(function (r) {
          call.case = r.case; call.caseLinked = true;
          showCase(node, r.case, true);
        })
        .catch(function (err) { result.textContent = err.message; result.className = "case-result error"; });
    });
    var select = node.querySelector(".wrap-form select");
    select.appendChild(el("option", { value: "", text: t("disp_none") }));
    state.dispositions.forEach(function (d) { select.appendChild(el("option", { value: d, text: t("disp_" + d) })); });
    node.querySelector(".wrap-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var out = node.querySelector(".wrap-result");
      var wrap = {
        note: e.target.note.value, disposition: e.target.disposition.value || null,
        case_id: call.case ? call.case.id : null
      };
      confirming(function (extra) {
        return api("POST", "/calls/" + encodeURIComponent(call.call_id) + "/wrapup", Object.assign({}, wrap, extra));
      }).then(function () {
        out.textContent = t("saved");
        if (call.state === "ended") { state.pops.delete(call.call_id); document.activeElement.blur(); renderPops(); }
      }).catch(function (err) { out.textContent = err.message; });
    });
  }

  // ---------------------------------------------------------------- phonebook, today

  function searchPhonebook(e) {
    e.preventDefault();
    var q = $("pb-query").value.trim();
    var ul = $("pb-results");
    if (q.length < 2) return;
    api("GET", "/phonebook?q=" + encodeURIComponent(q)).then(function (r) {
      ul.textContent = "";
      $("pb-status").textContent = r.entries.length ? "" : t("no_results");
      r.entries.forEach(function (entry) {
        var li = el("li", {}, [el("span", { class: "pb-name", text: entry.name + (entry.vip ? " ★" : "") })]);
        entry.numbers.forEach(function (n) {
          var number = n.e164 || n.raw;
          var btn = el("button", { type: "button", class: "dial", "data-number": number,
                                   "aria-label": t("call") + " " + entry.name + " " + number,
                                   text: digits(n.raw) });
          btn.addEventListener("click", function () { dial(number, btn); });
          li.appendChild(btn);
        });
        ul.appendChild(li);
      });
    }).catch(function (err) { $("pb-status").textContent = err.message; });
  }

  function dial(number, btn) {
    btn.disabled = true;
    $("pb-status").textContent = t("calling") + " " + digits(number);
    api("POST", "/originate", { number: number })
      .catch(function (err) { $("pb-status").textContent = err.message; })
      .then(function () { setTimeout(function () { btn.disabled = false; }, 3000); });
  }

  function loadToday() {
    // "Today" is the agent's own day (Tehran's midnight is 20:30 UTC the day before).
    var midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    api("GET", "/calls/today?since=" + Math.floor(midnight.getTime() / 1000)).then(function (r) {
      var body = $("today-body");
      body.textContent = "";
      r.calls.forEach(function (c) {
        body.appendChild(el("tr", {}, [
          el("td", { text: fmtTime(c.started_at) }),
          el("td", { text: c.customer_name || (c.caller ? digits(c.caller) : "") }),
          el("td", { text: fmtSeconds(c.talk_seconds) }),
          el("td", { text: c.disposition ? t("call_" + c.disposition) : "" }),
          el("td", {}, [c.has_recording ? playButton(c) : null])
        ]));
      });
    }).catch(function () { /* shown by link state */ });
  }

  // The audio element cannot send the bearer token: fetch the file, play it from a blob URL.
  function playButton(call) {
    var btn = el("button", { type: "button", class: "play", text: "▶",
                             "aria-label": t("play_recording") });
    btn.addEventListener("click", function () {
      btn.disabled = true;
      fetch("/api/v1/calls/" + encodeURIComponent(call.call_id) + "/recording",
            { headers: { "Authorization": "Bearer " + session.token } })
        .then(function (r) {
          if (!r.ok) throw new Error(t("recording_unavailable"));
          return r.blob();
        })
        .then(function (blob) {
          var audio = el("audio", { controls: "", "aria-label": t("play_recording") });
          audio.src = URL.createObjectURL(blob);
          btn.replaceWith(audio);
          audio.play().catch(function () { /* autoplay refused: the controls remain */ });
        })
        .catch(function (err) { btn.disabled = false; btn.title = err.message; });
    });
    return btn;
  }

  // ---------------------------------------------------------------- session

  function showWorkspace() {
    var user = session.user;
    $("login").hidden = true;
    $("workspace").hidden = false;
    $("logout-btn").hidden = false;
    $("pause-box").hidden = !(user && user.extensions.length);
    $("wallboard-link").hidden = user.role === "agent";
    $("whoami").textContent = user.name + " · " + digits(user.extensions.join(", "));
    session.stopped = false;
    session.adoptUserLanguage();
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(function () {});
    }
    api("GET", "/dispositions").then(function (r) { state.dispositions = r.dispositions; renderPops(); });
    session.scheduleRenewal();
    session.connect();
  }

  function logout() {
    session.end();
    state.pops.clear(); renderPops();
    $("workspace").hidden = true; $("login").hidden = false; $("logout-btn").hidden = true;
    $("pause-box").hidden = true; $("wallboard-link").hidden = true; $("whoami").textContent = "";
    setLink("offline");
  }

  function loggedIn(data) {
    // Supervisors and admins land on the wallboard; the agent panel stays a link away.
    if (data.user.role !== "agent") { location.assign("/supervisor"); return; }
    showWorkspace();
  }

  function togglePause() {
    var paused = Array.from(state.members.values()).some(function (m) { return m.paused; });
    api("POST", "/queue/pause", { paused: !paused, reason: paused ? null : $("pause-reason").value })
      .catch(function (err) { $("pause-state").textContent = err.message; });
  }

  function rerender() {
    var user = session.user;
    if (user) $("whoami").textContent = user.name + " · " + digits(user.extensions.join(", "));
    renderPops(); renderMembers(); loadToday();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Ctihub.startPage(session, { loggedIn: loggedIn, logout: logout, rerender: rerender });
    $("pb-form").addEventListener("submit", searchPhonebook);
    $("pause-btn").addEventListener("click", togglePause);
    if (session.isLive()) showWorkspace();
  });
})();
