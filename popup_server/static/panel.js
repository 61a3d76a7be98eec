/*
 * ctihub agent panel: login, live pops over the agent websocket, call control (hold, transfer,
 * hang up), queues, after-call work, customers from the pop, phonebook and call history.
 */
(function () {
  "use strict";
  var t = I18n.t;
  var $ = Ctihub.$, digits = Ctihub.digits, el = Ctihub.el;
  var fmtDate = Ctihub.dateText, fmtTime = Ctihub.timeText, fmtDateTime = Ctihub.dateTimeText;
  var fmtSeconds = Ctihub.secondsText;
  var setLink = Ctihub.setLink;
  var session = new Ctihub.Session({ socketPath: "/ws/agent", onMessage: onMessage, logout: logout });
  var api = session.api.bind(session);
  var state = {
    pops: new Map(), members: new Map(), dispositions: [], agents: [], queues: [],
    wrapup: { default_seconds: 30, queues: {}, notes_required: false },
    source: { editable: true, record_url: null }, calling: null, seq: 0
  };
  var LIVE = { ringing: 0, talking: 0, held: 0 };

  // ---------------------------------------------------------------- websocket

  function onMessage(m) {
    switch (m.type) {
      case "hello":
        // The snapshot that follows is the whole truth: start from a clean slate.
        state.pops.clear(); state.members.clear(); renderPops(); renderMembers();
        break;
      case "snapshot_done":
        session.retry = 0; setLink("connected"); loadHistory(); loadAlerts(); loadWork();
        break;
      case "alert":
      case "alert_acknowledged":
        if (state.alerts) state.alerts.onMessage(m);
        break;
      case "pop":
        var old = state.pops.get(m.call.call_id);
        var isNew = !old && m.call.state === "ringing";
        m.call.seq = old ? old.seq : ++state.seq;
        if (old) {
          m.call.case = old.case; m.call.caseLinked = old.caseLinked; m.call.acwStart = old.acwStart;
          if (old.adopted) { m.call.adopted = true; m.call.match = old.match; }
        }
        state.pops.set(m.call.call_id, m.call);
        if (m.call.direction === "outbound" && state.calling) clearCalling();
        renderPops();
        if (isNew) alertAgent(m.call);
        break;
      case "pop_updated":
        // The CRM answered after the pop went out: caller, match and IVR case filled in
        // (a customer the agent adopted by hand stays).
        var looked = state.pops.get(m.call_id);
        if (looked) {
          var found = Object.assign({}, m.call);
          if (looked.adopted) delete found.match;
          Object.assign(looked, found);
          renderPops();
        }
        break;
      case "call_update":
        var pop = state.pops.get(m.call_id);
        if (pop) {
          Object.assign(pop, m.call);
          if (m.change === "ended" || m.change === "transferred") pop.acwStart = Date.now();
          renderPops();
        }
        if (m.change === "ended") { setTimeout(loadHistory, 1500); setTimeout(loadWork, 1500); }
        break;
      case "pop_withdrawn":
        state.pops.delete(m.call_id); renderPops();
        break;
      case "queue_member":
        state.members.set(m.queue, m); renderMembers();
        break;
      case "queue_member_removed":
        state.members.delete(m.queue); renderMembers();
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

  /** The other party's number: the dialled one on an outbound call. */
  function partyNumber(call) {
    return call.direction === "outbound" && call.dialed ? call.dialed : call.caller.presented;
  }

  function callerTitle(call) {
    var best = call.match.customers[0];
    if (best) return best.name;
    if (call.match.status === "extension") return t("internal_call") + " · " + digits(partyNumber(call) || "");
    // While the CRM is asked, the number is all there is: not yet an "unknown caller".
    if (call.match.status === "pending" && partyNumber(call)) {
      return (call.direction !== "outbound" && call.caller.name) || digits(partyNumber(call));
    }
    return call.caller.name && call.direction !== "outbound" ? call.caller.name : t("unknown_caller");
  }

  /** A label and a value; CRM text is isolated by direction and cut with the whole on hover. */
  function fact(dl, key, value, opts) {
    if (value === null || value === undefined || value === "") return null;
    opts = opts || {};
    dl.appendChild(el("dt", { text: t(key) }));
    var dd = el("dd", { class: opts.className || "", title: String(value) });
    dd.appendChild(el("bdi", { dir: opts.ltr ? "ltr" : "auto", text: value }));
    dl.appendChild(dd);
    return dd;
  }

  function languageName(code) {
    var key = "lang_" + String(code).toLowerCase();
    var name = t(key);
    return name === key ? code : name;
  }

  function contactText(contact) {
    if (!contact) return "";
    var parts = [];
    if (contact.preferred_channel) parts.push(t("channel_" + contact.preferred_channel));
    if (contact.call_from || contact.call_until) {
      parts.push(t("call_hours") + " " + digits((contact.call_from || "00:00") + "–" + (contact.call_until || "24:00")));
    }
    return parts.join(" · ");
  }

  function renderCustomer(c, call, several) {
    var box = el("section", { class: "customer" });
    var head = el("h4", {});
    // The pop's title already names the best match; a second candidate needs its own name.
    if (several) head.appendChild(el("bdi", { text: c.name, title: c.name }));
    if (several && c.vip) head.appendChild(el("span", { class: "vip", text: t("vip") }));
    if (state.source.editable) {
      var edit = el("button", { type: "button", class: "edit-btn secondary", text: t("edit") });
      edit.addEventListener("click", function () { toggleEdit(box, c, call); });
      head.appendChild(edit);
    } else if (state.source.record_url) {
      head.appendChild(el("a", {
        class: "crm-link", target: "_blank", rel: "noopener",
        href: state.source.record_url.replace("{e164}", encodeURIComponent(call.caller.normalised || "")),
        text: t("open_in_crm")
      }));
    }
    if (head.childNodes.length) box.appendChild(head);
    var contact = c.contact || {};
    if (contact.do_not_call) box.appendChild(el("p", { class: "dnc", text: t("do_not_call") }));
    var dl = el("dl", { class: "facts" });
    fact(dl, "company", c.company || (c.kind === "company" ? c.name : ""));
    fact(dl, "address", c.address, { className: "cut" });
    fact(dl, "language", c.language ? languageName(c.language) : "");
    fact(dl, "contact", contactText(contact));
    var contract = c.contract || { state: "none" };
    var cText = t("contract_" + contract.state) + (contract.plan ? " · " + contract.plan : "") +
      (contract.ends_on ? " · " + t("until") + " " + fmtDate(contract.ends_on) : "");
    dl.appendChild(el("dt", { text: t("contract") }));
    dl.appendChild(el("dd", { class: "contract contract-" + contract.state }, [el("bdi", { text: cText })]));
    box.appendChild(dl);
    if (c.open_cases && c.open_cases.length) {
      box.appendChild(el("h5", { text: t("open_cases") }));
      var ul = el("ul", { class: "cases" });
      c.open_cases.forEach(function (k) {
        ul.appendChild(el("li", {}, [
          el("span", { class: "code", dir: "ltr", text: digits(k.tracking_code) }),
          el("bdi", { text: " " + (k.subject || "") + " " }),
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
          el("td", { text: k.outcome ? t("disp_" + k.outcome) : (k.disposition ? t("call_" + k.disposition) : "") }),
          el("td", { class: "note cut", title: k.note || "" }, [k.note ? el("bdi", { text: k.note }) : null])
        ]));
      });
      box.appendChild(table);
    }
    return box;
  }

  function toggleEdit(box, c, call) {
    var open = box.querySelector(".edit-form");
    if (open) { open.remove(); return; }
    var form = document.importNode($("customer-edit-template").content, true).firstElementChild;
    I18n.apply(form);
    form.name.value = c.name || ""; form.address.value = c.address || ""; form.email.value = c.email || "";
    var contact = c.contact || {};
    form.preferred_channel.value = contact.preferred_channel || "";
    form.call_from.value = contact.call_from || ""; form.call_until.value = contact.call_until || "";
    form.do_not_call.checked = !!contact.do_not_call;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var out = form.querySelector(".edit-result");
      api("PATCH", "/customers/" + c.id, {
        name: form.name.value, address: form.address.value || null, email: form.email.value || null,
        preferred_channel: form.preferred_channel.value || null,
        call_from: form.call_from.value || null, call_until: form.call_until.value || null,
        do_not_call: form.do_not_call.checked
      }).then(function (saved) {
        Object.assign(c, { name: saved.name, address: saved.address, email: saved.email,
          contact: { preferred_channel: saved.preferred_channel, call_from: saved.call_from,
                     call_until: saved.call_until, do_not_call: saved.do_not_call } });
        renderPops(true);
      }).catch(function (err) { out.textContent = err.message; out.className = "edit-result error"; });
    });
    box.appendChild(form);
    form.name.focus();
  }

  function renderPop(call) {
    var node = document.importNode($("pop-template").content, true).firstElementChild;
    node.dataset.callId = call.call_id;
    node.dataset.state = call.state;
    node.dataset.direction = call.direction || "";
    var best = call.match.customers[0];
    node.querySelector(".pop-name").textContent = callerTitle(call);
    node.querySelector(".pop-title").title = callerTitle(call);
    node.querySelector(".pop-head > .vip").hidden = !(best && best.vip);
    var dl = node.querySelector(".facts");
    var presented = partyNumber(call);
    fact(dl, call.direction === "outbound" ? "dialed" : "number", presented ? digits(presented) : "", { ltr: true });
    // The normalised form only when it says something the presented number does not.
    var normalised = call.caller.normalised;
    if (normalised && presented && normalised.replace(/\D/g, "") !== String(presented).replace(/\D/g, "")) {
      fact(dl, "normalised", digits(normalised), { ltr: true });
    }
    fact(dl, "queue", call.queue);
    fact(dl, "waited", call.wait_seconds !== null && call.wait_seconds !== undefined ? fmtSeconds(call.wait_seconds) : "");
    if (call.ivr) {
      fact(dl, "ivr_digits", digits(call.ivr.input), { ltr: true });
      var k = call.ivr.case;
      if (k) {
        var foreign = k.customer_id && (!best || best.id !== k.customer_id);
        if (foreign) showForeignCase(node, call, k);
        else fact(dl, "ivr_case", digits(k.tracking_code) + " " + (k.subject || ""));
      }
    }
    if (call.transfers && call.transfers.length) {
      fact(dl, "transfers", call.transfers.map(function (x) { return digits((x.from || "?") + " → " + x.to); }).join(", "), { ltr: true });
    }
    if (call.match.status === "unavailable") fact(dl, "contract", t("lookup_unavailable"));
    if (call.match.status === "pending") fact(dl, "contract", t("lookup_pending"));
    var customers = node.querySelector(".customers");
    var several = call.match.customers.length > 1;
    call.match.customers.forEach(function (c) { customers.appendChild(renderCustomer(c, call, several)); });
    if (call.match.status === "unknown" && state.source.editable) wireNewCustomer(node, call);
    wireControls(node, call);
    wireCallActions(node, call);
    I18n.apply(node);
    updateLive(node, call);
    if (call.case) showCase(node, call.case, call.caseLinked);
    return node;
  }

  function showForeignCase(node, call, k) {
    var p = node.querySelector(".foreign-case");
    p.hidden = false;
    p.textContent = "";
    p.appendChild(el("span", { text: t("foreign_case") + " " }));
    p.appendChild(el("span", { class: "code", dir: "ltr", text: digits(k.tracking_code) }));
    p.appendChild(el("bdi", { text: " " + (k.subject || "") + (k.customer_name ? " — " + k.customer_name : "") + " " }));
    var link = el("button", { type: "button", class: "secondary link-foreign", text: t("link_anyway") });
    link.addEventListener("click", function () {
      // The agent saw whose case it is and chose to link it: that is the confirmation.
      api("POST", "/calls/" + encodeURIComponent(call.call_id) + "/case",
          { tracking_code: k.tracking_code, confirm_other_customer: true })
        .then(function (r) { call.case = r.case; call.caseLinked = true; showCase(node, r.case, true); p.hidden = true; })
        .catch(function (err) { p.appendChild(el("span", { class: "error", text: " " + err.message })); });
    });
    p.appendChild(link);
  }

  /** What changes while a call lives: badge, controls, after-call-work timer. */
  function updateLive(node, call) {
    node.dataset.state = call.state;
    var acw = !(call.state in LIVE);
    node.classList.toggle("acw", acw);
    node.querySelector(".state-badge").textContent = acw ? t("acw") : t("state_" + call.state);
    var controls = node.querySelector(".controls");
    controls.hidden = acw || call.state === "ringing";
    var hold = node.querySelector(".hold-btn");
    hold.textContent = t(call.state === "held" ? "resume" : "hold");
    hold.setAttribute("aria-pressed", call.state === "held" ? "true" : "false");
    if (acw) node.querySelector(".transfer-form").hidden = true;
    var dismiss = node.querySelector(".dismiss-btn");
    dismiss.hidden = !acw || notesRequired(call);
    updateTimer(node, call);
  }

  function wrapupSeconds(call) {
    var w = state.wrapup;
    return call.queue && w.queues[call.queue] !== undefined ? w.queues[call.queue] : w.default_seconds;
  }
  function notesRequired(call) {
    var w = state.wrapup;
    return !!(w.notes_required_queues && call.queue && w.notes_required_queues.indexOf(call.queue) >= 0) ||
      !!w.notes_required;
  }

  function updateTimer(node, call) {
    var timer = node.querySelector(".acw-timer");
    if (node.dataset.state in LIVE || !call.acwStart) { timer.hidden = true; return; }
    var left = Math.ceil(wrapupSeconds(call) - (Date.now() - call.acwStart) / 1000);
    timer.hidden = false;
    timer.textContent = left > 0 ? fmtSeconds(left) + " " + t("acw_left") : t("available_again");
    timer.classList.toggle("over", left <= 0);
  }

  setInterval(function () {
    document.querySelectorAll(".pop.acw").forEach(function (node) {
      var call = state.pops.get(node.dataset.callId);
      if (call) updateTimer(node, call);
    });
  }, 1000);

  /** Live calls first (the newest on top), then after-call work, newest first. */
  function ordered() {
    return Array.from(state.pops.values()).sort(function (a, b) {
      var la = a.state in LIVE ? 0 : 1, lb = b.state in LIVE ? 0 : 1;
      return la - lb || b.seq - a.seq;
    });
  }

  function renderPops(force) {
    // Keyed update: a pop the agent is typing in keeps its node; only its live parts change.
    var list = $("pop-list");
    var existing = new Map();
    list.querySelectorAll(".pop").forEach(function (n) { existing.set(n.dataset.callId, n); });
    existing.forEach(function (n, id) { if (!state.pops.has(id)) n.remove(); });
    var calls = ordered();
    var prev = null;
    calls.forEach(function (call) {
      var old = existing.get(call.call_id);
      var node;
      if (old && !force && old.contains(document.activeElement)) {
        updateLive(old, call);
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

  function reasonText(key) {
    var name = t("reason_" + key);
    return name === "reason_" + key ? key : name;
  }

  function renderMembers() {
    var members = Array.from(state.members.values());
    var paused = members.some(function (m) { return m.paused; });
    $("pause-btn").dataset.i18n = paused ? "unpause" : "pause";
    $("pause-btn").textContent = t(paused ? "unpause" : "pause");
    $("pause-btn").setAttribute("aria-pressed", paused ? "true" : "false");
    var reasons = members.filter(function (m) { return m.paused; }).map(function (m) {
      return m.queue + (m.paused_reason ? " (" + reasonText(m.paused_reason) + ")" : "");
    });
    $("pause-state").textContent = paused ? t("paused") + ": " + reasons.join(", ") : "";
    renderQueues();
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

  // ---------------------------------------------------------------- call control

  function control(node, call, path, body) {
    var out = node.querySelector(".control-result");
    out.textContent = ""; out.className = "control-result";
    return api("POST", "/calls/" + encodeURIComponent(call.call_id) + path, body || {})
      .catch(function (err) { out.textContent = err.message; out.className = "control-result error"; throw err; });
  }

  function wireControls(node, call) {
    var form = node.querySelector(".transfer-form");
    node.querySelector(".hold-btn").addEventListener("click", function () {
      // The PBX reports no event for a hold made by muting: the answer is the new state.
      control(node, call, "/hold", { on: call.state !== "held" }).then(function (r) {
        call.state = r.held ? "held" : "talking";
        updateLive(node, call);
      }).catch(function () {});
    });
    node.querySelector(".hangup-btn").addEventListener("click", function () {
      control(node, call, "/hangup").catch(function () {});
    });
    var toggle = node.querySelector(".transfer-btn");
    toggle.addEventListener("click", function () {
      form.hidden = !form.hidden;
      toggle.setAttribute("aria-expanded", form.hidden ? "false" : "true");
      if (!form.hidden) { fillAgents(form.agent); form.agent.focus(); }
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var kind = e.submitter ? e.submitter.value : "blind";
      var to = form.agent.value || form.number.value.replace(/[\s-]/g, "");
      var out = node.querySelector(".control-result");
      if (!to) { out.textContent = t("transfer_needs_target"); out.className = "control-result error"; return; }
      control(node, call, "/transfer", { kind: kind, to: to }).then(function () {
        out.textContent = t("transfer_done");
        form.hidden = true;
      }).catch(function () {});
    });
  }

  function fillAgents(select) {
    api("GET", "/agents").then(function (r) {
      var me = session.user.extensions;
      select.textContent = "";
      select.appendChild(el("option", { value: "", text: t("choose_agent") }));
      r.agents.filter(function (a) { return me.indexOf(a.extension) < 0; }).forEach(function (a) {
        var label = digits(a.extension) + " · " + a.name + " — " + t("ag_" + a.state);
        select.appendChild(el("option", { value: a.extension, text: label }));
      });
    }).catch(function () { /* the number field still works */ });
  }

  // ---------------------------------------------------------------- customers from the pop

  function wireNewCustomer(node, call) {
    var box = node.querySelector(".new-customer");
    var out = box.querySelector(".customer-result");
    var number = partyNumber(call);
    if (!number) return;
    box.hidden = false;
    var create = box.querySelector(".create-form");
    create.number.value = number;
    create.addEventListener("submit", function (e) {
      e.preventDefault();
      api("POST", "/customers", { name: create.name.value, number: number }).then(function (c) {
        adoptCustomer(call, c);
        out.textContent = t("customer_created");
      }).catch(function (err) { out.textContent = err.message; out.className = "customer-result error"; });
    });
    var attach = box.querySelector(".attach-form");
    attach.addEventListener("submit", function (e) {
      e.preventDefault();
      var q = attach.q.value.trim();
      if (q.length < 2) return;
      var ul = attach.querySelector(".attach-results");
      api("GET", "/phonebook?q=" + encodeURIComponent(q)).then(function (r) {
        ul.textContent = "";
        if (!r.entries.length) ul.appendChild(el("li", { class: "muted", text: t("no_results") }));
        r.entries.forEach(function (entry) {
          var add = el("button", { type: "button", class: "secondary", text: t("add_number") });
          add.addEventListener("click", function () {
            api("POST", "/customers/" + entry.customer_id + "/numbers", { number: number }).then(function (c) {
              adoptCustomer(call, c);
              out.textContent = t("number_added");
            }).catch(function (err) { out.textContent = err.message; out.className = "customer-result error"; });
          });
          ul.appendChild(el("li", {}, [el("bdi", { class: "pb-name", text: entry.name }), add]));
        });
      }).catch(function (err) { out.textContent = err.message; });
    });
  }

  /** The customer just created or found becomes the pop's customer, for this call's wrap-up too. */
  function adoptCustomer(call, c) {
    call.adopted = true;
    call.match = { status: "matched", customers: [{
      id: c.id, name: c.name, kind: c.kind, vip: c.vip, language: c.language, address: c.address,
      email: c.email, contract: { state: "none" }, open_cases: [], recent_calls: [],
      contact: { preferred_channel: c.preferred_channel, call_from: c.call_from,
                 call_until: c.call_until, do_not_call: c.do_not_call }
    }] };
    renderPops(true);
  }

  // ---------------------------------------------------------------- cases and wrap-up

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
    var best = function () { return call.match.customers[0]; };
    node.querySelector(".case-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var subject = e.target.subject.value;
      confirming(function (extra) {
        return api("POST", "/cases", Object.assign({ subject: subject, call_id: call.call_id,
          customer_id: best() ? best().id : null, confirm_other_customer: !!call.adopted }, extra));
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
      var body = {
        note: e.target.note.value, disposition: e.target.disposition.value || null,
        case_id: call.case ? call.case.id : null
      };
      if (best()) body.customer_id = best().id;
      // A customer the agent created or attached on this pop is theirs to file with.
      if (call.adopted) body.confirm_other_customer = true;
      confirming(function (extra) {
        return api("POST", "/calls/" + encodeURIComponent(call.call_id) + "/wrapup", Object.assign({}, body, extra));
      }).then(function () {
        out.textContent = t("saved");
        if (!(call.state in LIVE)) finishWork(call);
      }).catch(function (err) { out.textContent = err.message; });
    });
    node.querySelector(".dismiss-btn").addEventListener("click", function () { finishWork(call); });
  }

  function finishWork(call) {
    state.pops.delete(call.call_id);
    if (document.activeElement) document.activeElement.blur();
    renderPops();
    var next = document.querySelector(".pop");
    if (next) next.focus();
  }

  // ---------------------------------------------------------------- keyboard

  /** Alt+H hold/resume, Alt+T transfer, Alt+S save wrap-up, Alt+D dismiss: on the top pop. */
  function onKey(e) {
    if (!e.altKey || e.ctrlKey || e.metaKey || !session.token) return;
    var node = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest(".pop") : null;
    node = node || document.querySelector(".pop");
    if (!node) return;
    var key = e.key.toLowerCase();
    var target = {
      h: ".hold-btn", t: ".transfer-btn", d: ".dismiss-btn", s: ".wrap-form button[type=submit]"
    }[key];
    if (!target) return;
    var button = node.querySelector(target);
    if (!button || button.hidden || button.closest("[hidden]")) return;
    e.preventDefault();
    button.click();
  }

  // ---------------------------------------------------------------- queues

  function renderQueues() {
    var ul = $("queue-list");
    if (!ul) return;
    ul.textContent = "";
    var names = new Set(state.queues);
    state.members.forEach(function (m, q) { names.add(q); });
    if (!names.size) { ul.appendChild(el("li", { class: "muted", text: t("no_queues") })); return; }
    Array.from(names).sort().forEach(function (q) {
      var member = state.members.get(q);
      var inQueue = !!member;
      var btn = el("button", { type: "button", class: inQueue ? "secondary" : "",
                               "data-queue": q, text: t(inQueue ? "queue_logout" : "queue_login") });
      btn.addEventListener("click", function () {
        btn.disabled = true;
        api("POST", "/queues/" + encodeURIComponent(q) + (inQueue ? "/logout" : "/login"), {})
          .then(function () {
            if (inQueue) state.members.delete(q);
            renderMembers();
          })
          .catch(function (err) { btn.title = err.message; btn.disabled = false; });
      });
      ul.appendChild(el("li", { "data-queue": q }, [
        el("bdi", { class: "queue-name", text: q }),
        el("span", { class: "muted", text: " " + t(inQueue ? "queue_in" : "queue_out") + " " }),
        btn
      ]));
    });
  }

  function loadQueues() {
    api("GET", "/queues").then(function (r) { state.queues = r.queues; renderQueues(); }).catch(function () {});
  }

  // ---------------------------------------------------------------- phonebook, history

  function searchPhonebook(e) {
    e.preventDefault();
    var q = $("pb-query").value.trim();
    var ul = $("pb-results");
    if (q.length < 2) return;
    api("GET", "/phonebook?q=" + encodeURIComponent(q)).then(function (r) {
      ul.textContent = "";
      $("pb-status").textContent = r.entries.length ? "" : t("no_results");
      r.entries.forEach(function (entry) {
        var li = el("li", {}, [el("bdi", { class: "pb-name", text: entry.name })]);
        if (entry.vip) li.appendChild(el("span", { class: "vip", text: t("vip") }));
        if (entry.do_not_call) li.appendChild(el("span", { class: "dnc", text: t("do_not_call") }));
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

  function clearCalling() {
    clearTimeout(state.calling);
    state.calling = null;
    $("pb-status").textContent = "";
  }

  function dial(number, btn) {
    btn.disabled = true;
    $("pb-status").textContent = t("calling") + " " + digits(number);
    api("POST", "/originate", { number: number })
      .then(function () {
        // The outbound pop clears it; if the PBX never connects, it clears on its own.
        clearTimeout(state.calling);
        state.calling = setTimeout(clearCalling, 30000);
      })
      .catch(function (err) { $("pb-status").textContent = err.message; })
      .then(function () { setTimeout(function () { btn.disabled = false; }, 3000); });
  }

  function historyQuery() {
    var f = $("history-form");
    var params = new URLSearchParams();
    var midnight = new Date(); midnight.setHours(0, 0, 0, 0);
    var from = f.from.value ? new Date(f.from.value + "T00:00:00") : midnight;
    params.set("from", String(Math.floor(from.getTime() / 1000)));
    if (f.to.value) {
      var to = new Date(f.to.value + "T00:00:00"); to.setDate(to.getDate() + 1);
      params.set("to", String(Math.floor(to.getTime() / 1000)));
    }
    if (f.q.value.trim()) params.set("q", f.q.value.trim());
    if (f.queue.value.trim()) params.set("queue", f.queue.value.trim());
    if (f.disposition.value) params.set("disposition", f.disposition.value);
    if (f.missed.checked) params.set("missed", "true");
    return params.toString();
  }

  function loadHistory(e) {
    if (e) e.preventDefault();
    api("GET", "/history?" + historyQuery()).then(function (r) {
      var body = $("today-body");
      body.textContent = "";
      $("history-status").textContent = r.calls.length ? "" : t("no_calls_found");
      r.calls.forEach(function (c) {
        var who = c.customer_name || (c.caller ? digits(c.caller) : "");
        body.appendChild(el("tr", { "data-call-id": c.call_id, class: "call-" + c.disposition }, [
          el("td", { text: fmtDate(c.started_at) === fmtDate(new Date()) ? fmtTime(c.started_at) : fmtDateTime(c.started_at) }),
          el("td", { class: "cut", title: who }, [el("bdi", { text: who })]),
          el("td", { text: fmtSeconds(c.talk_seconds) }),
          el("td", { text: c.outcome ? t("disp_" + c.outcome) : (c.disposition ? t("call_" + c.disposition) : "") }),
          el("td", {}, [c.has_recording ? playButton(c) : el("span", { class: "muted no-recording", text: "—", title: t("no_recording") })])
        ]));
      });
    }).catch(function (err) { $("history-status").textContent = err.message; });
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
        .catch(function (err) {
          btn.replaceWith(el("span", { class: "error recording-missing", text: err.message }));
        });
    });
    return btn;
  }

  // ---------------------------------------------------------------- session

  function whoText(user) {
    return user.name + (user.extensions.length ? " · " + digits(user.extensions.join(", ")) : "");
  }

  function showWorkspace() {
    var user = session.user;
    $("login").hidden = true;
    $("workspace").hidden = false;
    $("logout-btn").hidden = false;
    var agent = !!(user && user.extensions.length);
    $("pause-box").hidden = !agent;
    $("queue-box").hidden = !agent;
    $("wallboard-link").hidden = user.role === "agent";
    $("whoami").textContent = whoText(user);
    session.stopped = false;
    session.adoptUserLanguage();
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(function () {});
    }
    api("GET", "/dispositions").then(function (r) {
      state.dispositions = r.dispositions; fillDispositions(); renderPops(true);
    });
    api("GET", "/wrapup").then(function (r) { state.wrapup = r; renderPops(true); }).catch(function () {});
    api("GET", "/customers/source").then(function (r) { state.source = r; renderPops(true); }).catch(function () {});
    loadQueues();
    session.scheduleRenewal();
    session.connect();
  }

  function fillDispositions() {
    var select = $("history-form").disposition;
    var value = select.value;
    select.textContent = "";
    select.appendChild(el("option", { value: "", text: t("any") }));
    ["answered", "missed", "abandoned", "busy", "failed"].forEach(function (d) {
      select.appendChild(el("option", { value: "call:" + d, text: t("call_" + d) }));
    });
    state.dispositions.forEach(function (d) { select.appendChild(el("option", { value: d, text: t("disp_" + d) })); });
    select.value = value;
  }

  /** Callbacks and the next call-list entry; refreshed after calls and every half minute. */
  function loadWork() {
    if (!state.work) {
      state.work = new CtihubWork.AgentWork($("callbacks"), $("call-list"), {
        api: api, dispositions: function () { return state.dispositions; },
        label: function (code) { return t("disp_" + code); }
      });
      setInterval(function () { if (session.user) state.work.refresh(); }, 30000);
    }
    state.work.refresh();
  }

  function loadAlerts() {
    state.alerts = state.alerts || new CtihubAlerts.AlertList($("alert-list"), { api: api, canAck: false });
    state.alerts.load();
  }

  function logout() {
    session.end();
    state.pops.clear(); renderPops();
    $("workspace").hidden = true; $("login").hidden = false; $("logout-btn").hidden = true;
    $("pause-box").hidden = true; $("queue-box").hidden = true; $("wallboard-link").hidden = true;
    $("whoami").textContent = "";
    setLink("offline");
  }

  function loggedIn(data) {
    // Supervisors and admins land on the wallboard; the agent panel stays a link away.
    // A supervisor who also takes calls (roles: agent and supervisor) stays on the panel.
    var roles = data.user.roles || [data.user.role];
    if (roles.indexOf("agent") < 0) { location.assign("/supervisor"); return; }
    showWorkspace();
  }

  function togglePause() {
    var paused = Array.from(state.members.values()).some(function (m) { return m.paused; });
    api("POST", "/queue/pause", { paused: !paused, reason: paused ? null : $("pause-reason").value })
      .catch(function (err) { $("pause-state").textContent = err.message; });
  }

  function toggleQueues() {
    var list = $("queue-list");
    list.hidden = !list.hidden;
    $("queues-btn").setAttribute("aria-expanded", list.hidden ? "false" : "true");
    if (!list.hidden) loadQueues();
  }

  function rerender() {
    var user = session.user;
    if (user) $("whoami").textContent = whoText(user);
    fillDispositions();
    renderPops(true); renderMembers(); loadHistory();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Ctihub.startPage(session, { loggedIn: loggedIn, logout: logout, rerender: rerender });
    $("pb-form").addEventListener("submit", searchPhonebook);
    $("history-form").addEventListener("submit", loadHistory);
    $("pause-btn").addEventListener("click", togglePause);
    $("queues-btn").addEventListener("click", toggleQueues);
    document.addEventListener("keydown", onKey);
    fillDispositions();
    if (session.isLive()) showWorkspace();
  });
})();
