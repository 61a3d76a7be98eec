/*
 * Outbound work: callbacks and call lists.
 * Agent panel: the agent's callbacks, dialled with one click, and the next call-list entry
 * (preview dialing, then the outcome). Wallboard: open callbacks with their age, and each
 * list's progress. Exposes one global, CtihubWork.
 */
(function (global) {
  "use strict";
  var t = I18n.t;
  var el = Ctihub.el, digits = Ctihub.digits, pad = Ctihub.pad;

  I18n.extend({
    en: {
      cb_title: "Callbacks", cb_none: "No one to call back.", cb_call: "Call back",
      cb_not_now: "Not now: the customer's hours are", cb_attempts: "attempts",
      cb_abandoned: "abandoned", cb_missed: "missed", cb_dialing: "Dialling…",
      cb_age: "waiting", cb_anyone: "any agent of the queue", cb_number: "Number",
      cb_assigned: "For", cb_of: "of",
      cb_open: "Open callbacks",
      cl_title: "Call list", cl_none: "Nothing to call on your lists.", cl_call: "Call",
      cl_next: "Next", cl_outcome: "Outcome", cl_save: "Save outcome", cl_saved: "Saved.",
      cl_not_reached: "Not reached (try later)", cl_lists: "Call lists", cl_name: "List",
      cl_total: "Total", cl_done: "Done", cl_pending: "To call", cl_attempts: "Attempts",
      cl_results: "Results", cl_note: "Note", cl_new: "Load a call list",
      cl_source: "From", cl_src_contracts_expiring: "Contracts ending within (days)",
      cl_src_open_cases: "Open cases older than (days)", cl_src_csv: "CSV file (ref or phone column)",
      cl_days: "Days", cl_agents: "Agents (usernames, comma separated)", cl_queue: "or a queue",
      cl_file: "CSV file", cl_load: "Load", cl_loaded: "Loaded: {n} to call ({dnc} do-not-call left out)"
    },
    fa: {
      cb_title: "تماس‌های برگشتی", cb_none: "کسی برای تماس برگشتی نیست.", cb_call: "تماس",
      cb_not_now: "اکنون نه؛ ساعت‌های تماس مشتری:", cb_attempts: "تلاش",
      cb_abandoned: "قطع در صف", cb_missed: "بی‌پاسخ", cb_dialing: "در حال شماره‌گیری…",
      cb_age: "در انتظار", cb_anyone: "هر کارشناس صف", cb_number: "شماره",
      cb_assigned: "برای", cb_of: "از",
      cb_open: "تماس‌های برگشتی باز",
      cl_title: "فهرست تماس", cl_none: "در فهرست‌های شما موردی برای تماس نیست.", cl_call: "تماس",
      cl_next: "بعدی", cl_outcome: "نتیجه", cl_save: "ثبت نتیجه", cl_saved: "ثبت شد.",
      cl_not_reached: "پاسخ نداد (بعداً)", cl_lists: "فهرست‌های تماس", cl_name: "فهرست",
      cl_total: "کل", cl_done: "انجام‌شده", cl_pending: "مانده", cl_attempts: "تلاش‌ها",
      cl_results: "نتیجه‌ها", cl_note: "یادداشت", cl_new: "بارگذاری فهرست تماس",
      cl_source: "از", cl_src_contracts_expiring: "قراردادهایی که تا (روز) تمام می‌شوند",
      cl_src_open_cases: "پرونده‌های باز قدیمی‌تر از (روز)", cl_src_csv: "فایل CSV (ستون ref یا phone)",
      cl_days: "روز", cl_agents: "کارشناسان (نام کاربری، با ویرگول)", cl_queue: "یا یک صف",
      cl_file: "فایل CSV", cl_load: "بارگذاری", cl_loaded: "بارگذاری شد: {n} مورد ({dnc} مورد «تماس نگیرید» کنار گذاشته شد)"
    }
  });

  function age(seconds) {
    var s = Math.max(0, Math.floor(seconds || 0));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return digits(h ? h + ":" + pad(m) + ":" + pad(s % 60) : m + ":" + pad(s % 60));
  }

  /** "2 of 5": a slash would read as a decimal point in Persian (۲/۵ is two and a half). */
  function tries(c) {
    return digits(String(c.attempts)) + " " + t("cb_of") + " " + digits(String(c.max_attempts));
  }

  /** A phone number: its own direction (left to right, + first) in both languages. */
  function phone(number) { return el("bdi", { dir: "ltr", class: "wl-number", text: digits(number) }); }

  function heading(titleKey, count) {
    return el("h2", {}, [el("span", { text: t(titleKey) }),
      count === null ? null : el("span", { class: "wl-count", text: digits(String(count)) })]);
  }

  // ---------------------------------------------------------------- agent panel

  /** The agent's callbacks and call list. options: api, dispositions() -> codes, label(code). */
  function AgentWork(callbacksBox, listBox, options) {
    this.cbBox = callbacksBox; this.listBox = listBox;
    this.api = options.api; this.dispositions = options.dispositions; this.label = options.label;
    this.callbacks = []; this.entry = null; this.message = {};
    var self = this;
    I18n.onChange(function () { self.render(); });
  }

  AgentWork.prototype.refresh = function () {
    var self = this;
    return Promise.all([
      this.api("GET", "/callbacks").then(function (r) { self.callbacks = r.callbacks; }),
      this.api("GET", "/calllists/next").then(function (r) { self.entry = r.entry; })
    ]).catch(function () { /* the link state says why; the next refresh retries */ })
      .then(function () { self.render(); });
  };

  AgentWork.prototype.dial = function (path, key, button) {
    var self = this;
    button.disabled = true;
    this.message[key] = t("cb_dialing");
    this.render();
    return this.api("POST", path).then(function () {
      delete self.message[key];  // the phone rings; the list shows what follows
    }).catch(function (err) {
      self.message[key] = err.message;
    }).then(function () { return self.refresh(); });
  };

  AgentWork.prototype.saveOutcome = function (form) {
    var self = this, entry = this.entry;
    var body = { outcome: form.elements.outcome.value, note: form.elements.note.value };
    this.api("POST", "/calllists/entries/" + entry.id + "/outcome", body).then(function () {
      self.message.list = t("cl_saved"); return self.refresh();
    }).catch(function (err) { self.message.list = err.message; self.render(); });
  };

  AgentWork.prototype.render = function () {
    this.renderCallbacks(); this.renderList();
  };

  AgentWork.prototype.renderCallbacks = function () {
    var self = this, box = this.cbBox;
    box.textContent = "";
    box.appendChild(heading("cb_title", this.callbacks.length));
    if (!this.callbacks.length) {
      box.appendChild(el("p", { class: "muted", text: t("cb_none") }));
      return;
    }
    var ul = el("ul", {});
    this.callbacks.forEach(function (c) {
      var button = el("button", { type: "button", class: "cb-dial", text: t("cb_call") });
      if (!c.callable_now) {
        button.disabled = true;
        button.title = t("cb_not_now") + " " + digits(c.hours || "");
      }
      button.addEventListener("click", function () {
        self.dial("/callbacks/" + c.id + "/dial", "cb" + c.id, button);
      });
      var who = el("span", { class: "wl-who" }, [
        c.customer_name ? el("bdi", { dir: "auto", text: c.customer_name }) : phone(c.number),
        el("small", {}, [
          c.customer_name ? phone(c.number) : null,
          document.createTextNode(" " + t("cb_" + c.reason) + (c.queue ? " · " + c.queue : "") +
            " · " + t("cb_age") + " " + age(c.age_seconds) + " · " +
            tries(c) + " " + t("cb_attempts"))
        ]),
        c.callable_now ? null : el("small", { class: "not-now", text: t("cb_not_now") + " " + digits(c.hours || "") }),
        self.message["cb" + c.id] ? el("small", { role: "status", text: self.message["cb" + c.id] }) : null
      ]);
      ul.appendChild(el("li", { "data-callback": String(c.id), class: c.callable_now ? "" : "not-now" },
        [who, button]));
    });
    box.appendChild(ul);
  };

  AgentWork.prototype.renderList = function () {
    var self = this, box = this.listBox, e = this.entry;
    box.textContent = "";
    box.appendChild(heading("cl_title", null));
    if (!e) {
      box.appendChild(el("p", { class: "muted", text: t("cl_none") }));
      if (this.message.list) box.appendChild(el("p", { role: "status", text: this.message.list }));
      return;
    }
    var call = el("button", { type: "button", class: "cl-dial", text: t("cl_call") });
    call.addEventListener("click", function () {
      self.dial("/calllists/entries/" + e.id + "/dial", "list", call);
    });
    var outcome = el("select", { name: "outcome", "aria-label": t("cl_outcome") });
    (this.dispositions() || []).concat(["not_reached"]).forEach(function (code) {
      outcome.appendChild(el("option", { value: code,
        text: code === "not_reached" ? t("cl_not_reached") : self.label(code) }));
    });
    var form = el("form", { class: "cl-outcome" }, [
      el("label", {}, [el("span", { text: t("cl_outcome") + " " }), outcome]),
      el("label", {}, [el("span", { text: t("cl_note") + " " }),
        el("input", { name: "note", maxlength: "10000" })]),
      el("button", { type: "submit", text: t("cl_save") })
    ]);
    form.hidden = !e.dialing;
    // Refreshes redraw the list: what the agent chose and typed survives them.
    var draft = this.draft && this.draft.id === e.id ? this.draft : { id: e.id };
    if (draft.outcome) outcome.value = draft.outcome;
    if (draft.note) form.elements.note.value = draft.note;
    this.draft = draft;
    form.addEventListener("input", function () {
      draft.outcome = outcome.value; draft.note = form.elements.note.value;
    });
    form.addEventListener("change", function () { draft.outcome = outcome.value; });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); self.saveOutcome(form); });
    var ul = el("ul", {}, [el("li", { "data-entry": String(e.id) }, [
      el("span", { class: "wl-who" }, [
        el("bdi", { dir: "auto", text: e.name }),
        el("small", {}, [phone(e.number), document.createTextNode(" · "),
          el("bdi", { dir: "auto", text: e.list_name })]),
        e.reason ? el("small", {}, [el("bdi", { dir: "auto", text: e.reason })]) : null
      ]),
      call
    ])]);
    box.appendChild(ul);
    box.appendChild(form);
    if (this.message.list) box.appendChild(el("p", { role: "status", text: this.message.list }));
  };

  // ---------------------------------------------------------------- wallboard

  /** Open callbacks with their age and every call list's progress, for supervisors. */
  function SupervisorWork(box, options) {
    this.box = box; this.api = options.api; this.callbacks = []; this.lists = [];
    var self = this;
    I18n.onChange(function () { self.render(); });
  }

  SupervisorWork.prototype.refresh = function () {
    var self = this;
    return Promise.all([
      this.api("GET", "/callbacks").then(function (r) { self.callbacks = r.callbacks; }),
      this.api("GET", "/calllists").then(function (r) { self.lists = r.lists; })
    ]).catch(function () { /* shown by the link state */ }).then(function () { self.render(); });
  };

  function table(headers, rows) {
    return el("table", { class: "wl-table" }, [
      el("thead", {}, [el("tr", {}, headers.map(function (h) {
        return el("th", { class: h[1] || "", text: t(h[0]) });
      }))]),
      el("tbody", {}, rows)
    ]);
  }

  SupervisorWork.prototype.render = function () {
    var box = this.box;
    box.textContent = "";
    box.hidden = false;
    // Nothing to follow: only the "load a list" line; the wall screen keeps the room.
    if (this.callbacks.length) box.appendChild(heading("cb_open", this.callbacks.length));
    if (this.callbacks.length) {
      box.appendChild(table(
        [["cb_number"], ["queue"], ["cb_assigned"], ["cb_age", "num"], ["cb_attempts", "num"]],
        this.callbacks.map(function (c) {
          return el("tr", { "data-callback": String(c.id) }, [
            el("td", {}, [c.customer_name ? el("bdi", { dir: "auto", text: c.customer_name + " " }) : null,
              phone(c.number)]),
            el("td", { text: c.queue || "" }),
            el("td", {}, [el("bdi", { dir: "auto", text: c.assigned_name || t("cb_anyone") })]),
            el("td", { class: "num age", text: age(c.age_seconds) }),
            el("td", { class: "num", text: tries(c) })
          ]);
        })));
    }
    if (this.lists.length) this.renderLists();
    box.appendChild(this.loadForm());
  };

  /** A supervisor loads a list: a CRM filter with its days, or a CSV file; agents or a queue. */
  SupervisorWork.prototype.loadForm = function () {
    // Built once per language: the periodic refresh must not wipe what is being typed.
    if (this.details && this.formLang === I18n.language()) {
      this.details.querySelector(".cl-load-result").textContent = this.loadMessage || "";
      return this.details;
    }
    this.formLang = I18n.language();
    var self = this;
    var source = el("select", { name: "source" }, ["contracts_expiring", "open_cases", "csv"].map(
      function (s) { return el("option", { value: s, text: t("cl_src_" + s) }); }));
    var form = el("form", { class: "cl-load" }, [
      el("label", {}, [el("span", { text: t("cl_name") }), el("input", { name: "name", required: "", maxlength: "200" })]),
      el("label", {}, [el("span", { text: t("cl_source") }), source]),
      el("label", {}, [el("span", { text: t("cl_days") }), el("input", { name: "days", type: "number", min: "0", max: "3650", value: "30" })]),
      el("label", {}, [el("span", { text: t("cl_file") }), el("input", { name: "file", type: "file", accept: ".csv,text/csv" })]),
      el("label", {}, [el("span", { text: t("cl_agents") }), el("input", { name: "agents", dir: "ltr" })]),
      el("label", {}, [el("span", { text: t("cl_queue") }), el("input", { name: "queue", dir: "ltr", maxlength: "64" })]),
      el("button", { type: "submit", text: t("cl_load") }),
      el("p", { class: "cl-load-result", role: "status", text: this.loadMessage || "" })
    ]);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); self.load(form); });
    this.details = el("details", { class: "cl-new" }, [el("summary", { text: t("cl_new") }), form]);
    return this.details;
  };

  SupervisorWork.prototype.load = function (form) {
    var self = this, f = form.elements;
    var agents = f.agents.value.split(/[,،\s]+/).filter(Boolean);
    var body = { name: f.name.value, source: f.source.value, days: parseInt(f.days.value || "0", 10),
                 agents: agents, queue: f.queue.value.trim() || null };
    var file = f.file.files && f.file.files[0];
    var read = body.source === "csv" && file ? file.text() : Promise.resolve("");
    read.then(function (text) {
      if (body.source === "csv") body.csv = text;
      return self.api("POST", "/calllists", body);
    }).then(function (r) {
      self.loadMessage = t("cl_loaded").replace("{n}", digits(String(r.entries)))
        .replace("{dnc}", digits(String(r.do_not_call)));
      return self.refresh();
    }).catch(function (err) { self.loadMessage = err.message; self.render(); });
  };

  SupervisorWork.prototype.renderLists = function () {
    var box = this.box;
    box.appendChild(heading("cl_lists", this.lists.length));
    box.appendChild(table(
      [["cl_name"], ["cl_total", "num"], ["cl_done", "num"], ["cl_pending", "num"],
       ["cl_attempts", "num"], ["cl_results"]],
      this.lists.map(function (l) {
        var results = Object.keys(l.outcomes).sort().map(function (k) {
          return (k === "not_reached" ? t("cl_not_reached") : t("disp_" + k)) + " " + digits(String(l.outcomes[k]));
        }).join(" · ");
        return el("tr", { "data-list": String(l.id) }, [
          el("td", {}, [el("bdi", { dir: "auto", text: l.name })]),
          el("td", { class: "num", text: digits(String(l.total)) }),
          el("td", { class: "num done", text: digits(String(l.statuses.done)) }),
          el("td", { class: "num", text: digits(String(l.statuses.pending + l.statuses.dialing)) }),
          el("td", { class: "num", text: digits(String(l.attempts)) }),
          el("td", { text: results })
        ]);
      })));
  };

  global.CtihubWork = { AgentWork: AgentWork, SupervisorWork: SupervisorWork };
})(window);
