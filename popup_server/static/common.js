/*
 * What the agent panel and the wallboard do the same way: show numbers and dates in the
 * page's language, build elements, and keep a login session (bearer token, REST calls,
 * token renewal, the live websocket with its reconnects, the language button).
 * Loaded before the page's own script; exposes one global, Ctihub.
 */
(function (global) {
  "use strict";
  var t = I18n.t;
  var $ = function (id) { return document.getElementById(id); };

  // ---------------------------------------------------------------- formatting
  // Dates and digits through the browser's own Intl (ICU): the Persian (Jalali) calendar and
  // Persian digits in Persian, ISO-like days and Latin digits in English. One module for
  // both pages.

  var formats = {};
  function format(lang, key, options) {
    var id = lang + ":" + key;
    if (!formats[id]) {
      var locale = lang === "fa" ? "fa-IR-u-ca-persian-nu-arabext" : "en-CA-u-ca-gregory-nu-latn";
      formats[id] = new Intl.DateTimeFormat(locale, options);
    }
    return formats[id];
  }
  var persianDigits = null;
  /** Latin digits in ``text`` written in the page's language (Persian digits in Persian). */
  function digits(text) {
    if (I18n.language() !== "fa") return String(text);
    if (!persianDigits) {
      var nf = new Intl.NumberFormat("fa-IR-u-nu-arabext", { useGrouping: false });
      persianDigits = [];
      for (var i = 0; i < 10; i++) persianDigits.push(nf.format(i));
    }
    return String(text).replace(/[0-9]/g, function (d) { return persianDigits[+d]; });
  }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function toDate(value) {
    if (value === null || value === undefined || value === "") return null;
    if (value instanceof Date) return value;
    // A bare day ("2027-03-20") is that day where the agent is, not midnight UTC.
    if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) value += "T12:00:00";
    var d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    return isNaN(d.getTime()) ? null : d;
  }
  /** A day as the page's language writes it: 1405/09/07 (Jalali) in Persian, 2026-11-28 otherwise. */
  function dateText(value) {
    var d = toDate(value);
    if (!d) return "";
    var parts = format(I18n.language(), "day", { year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(d);
    var get = function (type) {
      var part = parts.find(function (p) { return p.type === type; });
      return part ? part.value : "";
    };
    var sep = I18n.language() === "fa" ? "/" : "-";
    return get("year") + sep + get("month") + sep + get("day");
  }
  /** Hours and minutes, 24-hour clock. */
  function timeText(value) {
    var d = toDate(value);
    if (!d) return "";
    return format(I18n.language(), "time", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .format(d);
  }
  function dateTimeText(value) {
    var d = toDate(value);
    return d ? dateText(d) + " " + timeText(d) : "";
  }
  /** A duration: "42 s", "3:05 min". */
  function secondsText(s) {
    if (s === null || s === undefined || s === "") return "";
    s = Math.max(0, Math.round(+s));
    if (s < 60) return digits(s) + " " + t("seconds");
    return digits(Math.floor(s / 60) + ":" + pad(s % 60)) + " " + t("minutes");
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  // ---------------------------------------------------------------- session

  /**
   * One page's login session. options: socketPath ("/ws/agent"), onMessage(message),
   * logout() (the page's own, called on a 401 or when the socket refuses the token).
   */
  function Session(options) {
    var self = this;
    this.token = sessionStorage.getItem("ctihub.token");
    this.expiresAt = +sessionStorage.getItem("ctihub.expires") || 0;
    this.user = JSON.parse(sessionStorage.getItem("ctihub.user") || "null");
    this.ws = null; this.retry = 0; this.stopped = false;
    this.renewTimer = null; this.reconnectTimer = null;
    this.options = options;
    // Bound once: handed to listeners and timers as they are.
    this.saveSession = function (data) { self.save(data); };
    this.connect = function () { self.open(); };
  }

  /** Whether the stored token is still good for a returning visitor. */
  Session.prototype.isLive = function () {
    return !!(this.token && this.expiresAt * 1000 > Date.now() && this.user);
  };

  Session.prototype.api = function (method, path, body) {
    var self = this;
    var headers = { "Accept": "application/json" };
    if (this.token) headers["Authorization"] = "Bearer " + this.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch("/api/v1" + path, {
      method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.status === 401 && path !== "/login") self.options.logout();
        if (!r.ok) {
          var e = new Error(data.error || r.statusText);
          e.status = r.status; e.field = data.field; e.confirm = data.confirm;
          throw e;
        }
        return data;
      });
    });
  };

  Session.prototype.save = function (data) {
    this.token = data.token; this.expiresAt = data.expires_at; this.user = data.user;
    sessionStorage.setItem("ctihub.token", data.token);
    sessionStorage.setItem("ctihub.expires", String(data.expires_at));
    sessionStorage.setItem("ctihub.user", JSON.stringify(data.user));
    // An open socket lives no longer than its token: hand it the renewed one.
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "auth", token: data.token }));
    }
    this.scheduleRenewal();
  };

  Session.prototype.scheduleRenewal = function () {
    var self = this;
    clearTimeout(this.renewTimer);
    var ms = Math.max(5000, (this.expiresAt * 1000 - Date.now()) / 2);
    this.renewTimer = setTimeout(function () {
      self.api("POST", "/token").then(self.saveSession).catch(function () { /* 401 logs out */ });
    }, ms);
  };

  Session.prototype.open = function () {
    var self = this;
    if (!this.token || this.stopped) return;
    setLink(this.retry ? "reconnecting" : "connecting");
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + this.options.socketPath);
    this.ws = ws;
    ws.onopen = function () { ws.send(JSON.stringify({ type: "auth", token: self.token })); };
    ws.onmessage = function (e) {
      var message = JSON.parse(e.data);
      // The hub's PBX link is shown the same way on every page.
      if (message.type === "pbx_link") setPbxLink(message.state);
      else if (message.type === "hello") setPbxLink(null);
      self.options.onMessage(message);
    };
    ws.onclose = function (e) {
      if (self.ws !== ws) return;
      self.ws = null;
      setPbxLink(null);  // unknown until the hub tells the next socket
      if (e.code === 4001 || e.code === 4003) { self.options.logout(); return; }
      if (self.stopped) { setLink("offline"); return; }
      self.retry += 1;
      setLink("reconnecting");
      var delay = Math.min(10000, 500 * Math.pow(2, Math.min(self.retry, 5)));
      self.reconnectTimer = setTimeout(self.connect, delay);
    };
  };

  /** Stop renewing and reconnecting, close the socket, forget the token. */
  Session.prototype.end = function () {
    this.stopped = true;
    clearTimeout(this.renewTimer); clearTimeout(this.reconnectTimer);
    if (this.ws) { var ws = this.ws; this.ws = null; ws.close(); }
    this.token = null; this.user = null;
    sessionStorage.removeItem("ctihub.token"); sessionStorage.removeItem("ctihub.user");
  };

  /** The login form's submit handler; onLoggedIn(data) runs once the session is saved. */
  Session.prototype.loginHandler = function (onLoggedIn) {
    var self = this;
    return function (e) {
      e.preventDefault();
      $("login-error").textContent = "";
      self.api("POST", "/login", { username: $("username").value, password: $("password").value })
        .then(function (data) {
          self.save(data); $("password").value = "";
          onLoggedIn(data);
        })
        .catch(function (err) {
          $("login-error").textContent = err.status === 429 ? t("throttled") : t("wrong_login");
        });
    };
  };

  /** The user's own language, unless this tab already chose one. */
  Session.prototype.adoptUserLanguage = function () {
    if (!sessionStorage.getItem("ctihub.lang") && this.user.language) {
      I18n.setLanguage(this.user.language); updateLangButton();
    }
  };

  // ---------------------------------------------------------------- link state, language

  function setLink(kind) {
    $("link-state").className = "link-state " + kind;
    $("link-text").dataset.i18n = kind;
    $("link-text").textContent = t(kind);
    document.body.dataset.link = kind;
  }

  /**
   * The hub's link to the PBX ("up", "down", "auth_failed"; null: unknown, hidden). While it
   * is not up, phones may ring without a pop: the banner says so in plain words.
   */
  function setPbxLink(state) {
    var box = $("pbx-link");
    if (!box) return;
    box.hidden = !state;
    if (!state) { delete document.body.dataset.pbx; return; }
    var key = state === "up" ? "pbx_up" : state === "auth_failed" ? "pbx_auth_failed" : "pbx_down";
    box.className = "pbx-link " + (state === "up" ? "up" : "down");
    $("pbx-link-text").dataset.i18n = key;
    $("pbx-link-text").textContent = t(key);
    document.body.dataset.pbx = state;
  }

  function updateLangButton() {
    var fa = I18n.language() === "fa";
    $("lang-btn").textContent = fa ? "English" : "فارسی";
    $("lang-btn").lang = fa ? "en" : "fa";
  }

  /** The language button's click handler; rerender() redraws what the page built itself. */
  function languageSwitcher(rerender) {
    return function () {
      var next = I18n.language() === "fa" ? "en" : "fa";
      sessionStorage.setItem("ctihub.lang", next);
      I18n.setLanguage(next);
      updateLangButton();
      rerender();
      setLink(document.body.dataset.link || "offline");
    };
  }

  /**
   * Wire the header and login form every page has, once the DOM is there. handlers:
   * loggedIn(data) after a login, logout(), rerender() after a language switch.
   */
  I18n.extend({
    en: { setup_needed: "Nobody can log in yet: create the first admin on the hub's server with" },
    fa: { setup_needed: "هنوز کاربری تعریف نشده است؛ نخستین مدیر را روی سرور سامانه با این فرمان بسازید:" }
  });

  /** A fresh install has nobody to log in: the login card says which command to run. */
  function showSetupNeeded() {
    fetch("/api/v1/setup").then(function (r) { return r.json(); }).then(function (data) {
      if (!data.needs_first_admin || $("setup-needed")) return;
      $("login").appendChild(el("p", { id: "setup-needed", class: "setup-needed" }, [
        el("span", { "data-i18n": "setup_needed", text: t("setup_needed") }), el("br"),
        el("code", { dir: "ltr", text: data.command })
      ]));
    }).catch(function () { /* an old hub without /setup: nothing to say */ });
  }

  function startPage(session, handlers) {
    showSetupNeeded();
    I18n.setLanguage(sessionStorage.getItem("ctihub.lang") || "en");
    updateLangButton();
    $("login-form").addEventListener("submit", session.loginHandler(handlers.loggedIn));
    $("logout-btn").addEventListener("click", handlers.logout);
    $("lang-btn").addEventListener("click", languageSwitcher(handlers.rerender));
    setLink("offline");
  }

  global.Ctihub = {
    $: $, digits: digits, pad: pad, dateText: dateText, timeText: timeText,
    dateTimeText: dateTimeText, secondsText: secondsText, toDate: toDate, el: el,
    Session: Session, setLink: setLink, setPbxLink: setPbxLink, startPage: startPage
  };
})(window);
