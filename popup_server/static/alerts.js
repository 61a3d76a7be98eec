/*
 * Management-by-exception alerts on the wallboard and the agent panel.
 * Starts from GET /api/v1/alerts, then follows the socket: `alert` / `alert_acknowledged`
 * messages on an agent's panel, `alert_raised` / `alert_acknowledged` events on the
 * wallboard. Supervisors acknowledge from here (POST /api/v1/alerts/{id}/ack).
 * Exposes one global, CtihubAlerts.
 */
(function (global) {
  "use strict";
  var t = I18n.t;
  var el = Ctihub.el, digits = Ctihub.digits, pad = Ctihub.pad;

  I18n.extend({
    en: {
      al_title: "Alerts", al_none: "No open alert.", al_ack: "Acknowledge", al_ago: "ago",
      al_case_overdue: "Case {subject} is past its due time: open {value} h (due within {threshold} h)",
      al_case_no_first_reply: "Case {subject} has had no reply for {value} h (target {threshold} h)",
      al_caller_waiting: "{queue}: caller {subject} has waited {value} (limit {threshold})",
      al_service_level_low: "{queue}: service level {value} under {threshold}",
      al_ring_no_answer: "Agent {agent} let {value} calls ring unanswered",
      al_callback_overdue: "{queue}: caller {subject} abandoned and was not called back for {value} min (limit {threshold} min)"
    },
    fa: {
      al_title: "هشدارها", al_none: "هشدار بازی نیست.", al_ack: "دیدم", al_ago: "پیش",
      al_case_overdue: "پرونده {subject} از موعد گذشته است: {value} ساعت باز (موعد {threshold} ساعت)",
      al_case_no_first_reply: "پرونده {subject} پس از {value} ساعت هنوز پاسخی نگرفته (هدف {threshold} ساعت)",
      al_caller_waiting: "{queue}: تماس‌گیرنده {subject} {value} منتظر مانده (حد {threshold})",
      al_service_level_low: "{queue}: سطح خدمت {value}، کمتر از {threshold}",
      al_ring_no_answer: "کارشناس {agent} به {value} تماس پاسخ نداد",
      al_callback_overdue: "{queue}: تماس‌گیرنده {subject} قطع کرد و {value} دقیقه است که با او تماس گرفته نشده (حد {threshold} دقیقه)"
    }
  });

  var PHONE_RULES = { caller_waiting: true, callback_overdue: true };

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds || 0));
    return digits(Math.floor(s / 60) + ":" + pad(s % 60));
  }

  function number(value) {
    if (value === null || value === undefined) return "—";
    var text = String(Math.round(value * 10) / 10);
    return I18n.language() === "fa" ? digits(text.replace(".", "٫")) : text;
  }

  function percent(value) {
    return number(value) + (I18n.language() === "fa" ? "٪" : "%");
  }

  /** The alert's fields as shown: durations as clocks, percents with their sign. */
  function shown(a, key) {
    var v = a[key];
    if (key === "value" || key === "threshold") {
      if (a.rule === "caller_waiting") return clock(v);
      if (a.rule === "service_level_low") return percent(v);
      return number(v);
    }
    if (v === null || v === undefined) return "—";
    return digits(String(v));
  }

  /** The alert's sentence, CRM/caller data in <bdi> so it keeps its own direction. */
  function sentence(a) {
    var template = t("al_" + a.rule);
    var nodes = [];
    template.split(/(\{\w+\})/).forEach(function (part) {
      var m = /^\{(\w+)\}$/.exec(part);
      if (!m) { if (part) nodes.push(document.createTextNode(part)); return; }
      var attrs = { class: "al-" + m[1], text: shown(a, m[1]) };
      // Phone numbers read left to right in Persian too (the + first).
      if (m[1] === "subject" && PHONE_RULES[a.rule]) attrs.dir = "ltr";
      nodes.push(el("bdi", attrs));
    });
    return nodes;
  }

  /**
   * One list of open alerts in `container`. options: api (Session.api bound), canAck
   * (supervisor), now() (server time in epoch seconds).
   */
  function AlertList(container, options) {
    this.box = container;
    this.api = options.api;
    this.canAck = options.canAck;
    this.now = options.now || function () { return Date.now() / 1000; };
    this.items = {};
    var self = this;
    I18n.onChange(function () { self.render(); });
  }

  AlertList.prototype.load = function () {
    var self = this;
    return this.api("GET", "/alerts").then(function (r) {
      self.items = {};
      r.alerts.forEach(function (a) { self.items[a.alert_id] = a; });
      self.render();
    }).catch(function () { /* shown by the link state; the next reconnect reloads */ });
  };

  /** Handle a socket message; true when it was about alerts. */
  AlertList.prototype.onMessage = function (m) {
    var e = m.type === "event" ? m.event : null;
    if (m.type === "alert" || (e && e.type === "alert_raised")) {
      var a = m.type === "alert" ? m.alert : e;
      this.items[a.alert_id] = a;
    } else if (m.type === "alert_acknowledged" || (e && e.type === "alert_acknowledged")) {
      delete this.items[(e || m).alert_id];
    } else {
      return false;
    }
    this.render();
    return true;
  };

  AlertList.prototype.acknowledge = function (id, button) {
    var self = this;
    button.disabled = true;
    this.api("POST", "/alerts/" + id + "/ack").then(function () {
      delete self.items[id]; self.render();
    }).catch(function (err) { button.disabled = false; button.title = err.message; });
  };

  AlertList.prototype.render = function () {
    var self = this;
    var list = Object.keys(this.items).map(function (k) { return self.items[k]; })
      .sort(function (a, b) { return b.at - a.at || b.alert_id - a.alert_id; });
    this.box.textContent = "";
    this.box.className = "card alert-list " + (list.length ? "has-alerts" : "no-alerts");
    // On the wallboard and the panel alike, an empty list takes no room.
    this.box.hidden = !list.length;
    this.box.appendChild(el("h2", {}, [
      el("span", { text: t("al_title") }),
      el("span", { class: "al-count", text: digits(String(list.length)) })
    ]));
    if (!list.length) {
      this.box.appendChild(el("p", { class: "muted", text: t("al_none") }));
      return;
    }
    var ul = el("ul", {});
    list.forEach(function (a) {
      var age = el("span", { class: "al-age muted", text: clock(self.now() - a.at) + " " + t("al_ago") });
      var button = null;
      if (self.canAck) {
        button = el("button", { type: "button", class: "al-ack", text: t("al_ack") });
        button.addEventListener("click", function () { self.acknowledge(a.alert_id, button); });
      }
      ul.appendChild(el("li", { "data-alert": String(a.alert_id), "data-rule": a.rule }, [
        el("span", { class: "al-text" }, sentence(a)), age, button
      ]));
    });
    this.box.appendChild(ul);
  };

  global.CtihubAlerts = { AlertList: AlertList, sentence: sentence };
})(window);
