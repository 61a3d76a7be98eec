/*
 * The admin page: people, extensions and devices, queues, pause reasons and dispositions,
 * API tokens, the audit log and the PBX import, over /api/v1/admin (admins only).
 * Every field the hub refuses is named in the answer; the page marks that field.
 */
(function () {
  "use strict";
  var $ = Ctihub.$, el = Ctihub.el, digits = Ctihub.digits, t = I18n.t;

  I18n.extend({
    en: {
      ad_title: "Administration", ad_wallboard: "Wallboard", ad_people: "People",
      ad_devices: "Extensions and devices", ad_queues: "Queues",
      ad_labels: "Pause reasons and dispositions", ad_tokens: "API tokens", ad_audit: "Audit log",
      ad_pbx: "PBX import", ad_name: "Name", ad_roles: "Roles", ad_extensions: "Extensions",
      ad_crm_id: "CRM user id", ad_state: "State", ad_new_person: "New person",
      ad_role_agent: "Agent", ad_role_supervisor: "Supervisor", ad_role_admin: "Admin",
      ad_create: "Create", ad_extension: "Extension", ad_interface: "Device", ad_person: "Person",
      ad_label: "Label", ad_map: "Map a device", ad_map_btn: "Map", ad_technology: "Technology",
      ad_queue: "Queue", ad_display_fa: "Persian name", ad_display_en: "English name",
      ad_team: "Team", ad_sla_target: "SLA target %", ad_sla_threshold: "Within (s)",
      ad_supervisors: "Supervisors", ad_queue_edit: "Add or change a queue", ad_save: "Save",
      ad_pause_reasons: "Pause reasons", ad_dispositions: "Dispositions", ad_code: "Code",
      ad_label_fa: "Persian", ad_label_en: "English", ad_label_edit: "Add or change an entry",
      ad_list: "List", ad_active: "Active", ad_inactive: "Inactive", ad_disabled: "Disabled",
      ad_disable: "Disable", ad_enable: "Enable", ad_reset_password: "Reset password",
      ad_unmap: "Unmap", ad_unmapped: "not mapped", ad_token_once: "Copy it now; it is shown only once:",
      ad_prefix: "Starts with", ad_scopes: "Scopes", ad_last_used: "Last used", ad_never: "never",
      ad_revoke: "Revoke", ad_revoked: "Revoked", ad_live: "Live", ad_new_token: "New token",
      ad_scope_calls: "Read calls", ad_scope_cases: "Write cases", ad_scope_lookups: "Lookups",
      ad_acts_as: "Acts as", ad_issue: "Issue", ad_actor: "Who", ad_action: "Action",
      ad_export_csv: "Export CSV", ad_when: "When", ad_target: "Target", ad_before: "Before",
      ad_after: "After", ad_pbx_help: "Reads the endpoints (PJSIP, SIP, IAX2) and queue members the PBX has over AMI, and shows what would be added or changed. Nothing changes until you apply.",
      ad_preview: "Preview", ad_apply: "Apply", ad_would_add: "Would add", ad_added: "Added",
      ad_would_change: "Would change", ad_changed: "Changed", ad_nothing: "Nothing to import.",
      ad_saved: "Saved.", ad_admins_only: "This page is for admins.",
      ad_new_password: "New password for", ad_confirm_disable: "Disable this person? Their open panels close at once."
    },
    fa: {
      ad_title: "مدیریت", ad_wallboard: "تابلوی نظارت", ad_people: "کاربران",
      ad_devices: "داخلی‌ها و دستگاه‌ها", ad_queues: "صف‌ها",
      ad_labels: "دلایل توقف و نتیجه‌ها", ad_tokens: "توکن‌های API", ad_audit: "گزارش تغییرات",
      ad_pbx: "دریافت از مرکز تلفن", ad_name: "نام", ad_roles: "نقش‌ها", ad_extensions: "داخلی‌ها",
      ad_crm_id: "شناسه در CRM", ad_state: "وضعیت", ad_new_person: "کاربر جدید",
      ad_role_agent: "اپراتور", ad_role_supervisor: "سرپرست", ad_role_admin: "مدیر",
      ad_create: "ایجاد", ad_extension: "داخلی", ad_interface: "دستگاه", ad_person: "کاربر",
      ad_label: "برچسب", ad_map: "اختصاص دستگاه", ad_map_btn: "اختصاص", ad_technology: "فناوری",
      ad_queue: "صف", ad_display_fa: "نام فارسی", ad_display_en: "نام انگلیسی",
      ad_team: "تیم", ad_sla_target: "هدف سطح خدمت ٪", ad_sla_threshold: "در کمتر از (ثانیه)",
      ad_supervisors: "سرپرستان", ad_queue_edit: "افزودن یا ویرایش صف", ad_save: "ذخیره",
      ad_pause_reasons: "دلایل توقف", ad_dispositions: "نتیجه‌های تماس", ad_code: "کد",
      ad_label_fa: "فارسی", ad_label_en: "انگلیسی", ad_label_edit: "افزودن یا ویرایش",
      ad_list: "فهرست", ad_active: "فعال", ad_inactive: "غیرفعال", ad_disabled: "غیرفعال",
      ad_disable: "غیرفعال کردن", ad_enable: "فعال کردن", ad_reset_password: "تغییر گذرواژه",
      ad_unmap: "برداشتن", ad_unmapped: "اختصاص نیافته", ad_token_once: "همین حالا کپی کنید؛ فقط یک بار نمایش داده می‌شود:",
      ad_prefix: "آغاز", ad_scopes: "دسترسی‌ها", ad_last_used: "آخرین استفاده", ad_never: "هرگز",
      ad_revoke: "ابطال", ad_revoked: "باطل شده", ad_live: "فعال", ad_new_token: "توکن جدید",
      ad_scope_calls: "خواندن تماس‌ها", ad_scope_cases: "ثبت پرونده", ad_scope_lookups: "جستجو",
      ad_acts_as: "به نام", ad_issue: "صدور", ad_actor: "چه کسی", ad_action: "کار",
      ad_export_csv: "خروجی CSV", ad_when: "زمان", ad_target: "روی", ad_before: "پیش از",
      ad_after: "پس از", ad_pbx_help: "داخلی‌ها (PJSIP، SIP، IAX2) و اعضای صف‌ها را از مرکز تلفن (AMI) می‌خواند و نشان می‌دهد چه چیزی افزوده یا تغییر می‌کند. تا «اعمال» را نزنید چیزی تغییر نمی‌کند.",
      ad_preview: "پیش‌نمایش", ad_apply: "اعمال", ad_would_add: "افزوده می‌شود", ad_added: "افزوده شد",
      ad_would_change: "تغییر می‌کند", ad_changed: "تغییر کرد", ad_nothing: "چیزی برای دریافت نیست.",
      ad_saved: "ذخیره شد.", ad_admins_only: "این صفحه برای مدیران است.",
      ad_new_password: "گذرواژه جدید برای", ad_confirm_disable: "این کاربر غیرفعال شود؟ پنل‌های باز او همان لحظه بسته می‌شوند."
    }
  });

  var session = new Ctihub.Session({ socketPath: null, onMessage: function () {}, logout: logout });
  var state = { tab: "people", data: {} };

  function api(method, path, body) { return session.api(method, "/admin" + path, body); }
  function cell(text, cls) { return el("td", { class: cls || "", text: text == null ? "" : String(text) }); }
  function ltr(text) { return el("td", {}, [el("bdi", { dir: "ltr", text: text || "" })]); }
  function auto(text) { return el("td", {}, [el("bdi", { dir: "auto", text: text || "" })]); }
  function button(key, onClick, cls) {
    var b = el("button", { type: "button", class: cls || "small", "data-i18n": key, text: t(key) });
    b.addEventListener("click", onClick);
    return b;
  }
  function when(iso) {
    if (!iso) return t("ad_never");
    var d = new Date(iso);
    return digits(Ctihub.dateText(d) + " " + Ctihub.pad(d.getHours()) + ":" + Ctihub.pad(d.getMinutes()));
  }
  function list(text) { return (text || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean); }

  function notice(text, bad) {
    var box = $("notice");
    box.hidden = !text; box.textContent = text || ""; box.className = "notice" + (bad ? " bad" : "");
  }
  /** Show the hub's refusal and mark the field it names. */
  function refused(form) {
    return function (err) {
      notice(err.message, true);
      if (form && err.field) {
        var input = form.querySelector('[name="' + err.field + '"]') ||
          form.querySelector('[name="' + err.field + 's"]');  // "extension" of "extensions"
        if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
      }
    };
  }
  function clearMarks(form) {
    form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
  }
  function checked(form, name) {
    return Array.prototype.slice.call(form.querySelectorAll('[name="' + name + '"]:checked'))
      .map(function (i) { return i.value; });
  }

  // ---------------------------------------------------------------- tabs

  var loaders = {
    people: function () { return api("GET", "/people").then(function (d) { state.data.people = d.people; }); },
    devices: function () { return api("GET", "/devices").then(function (d) { state.data.devices = d.devices; }); },
    queues: function () { return api("GET", "/queues").then(function (d) { state.data.queues = d.queues; }); },
    labels: function () {
      return Promise.all([api("GET", "/pause-reasons"), api("GET", "/dispositions")]).then(function (r) {
        state.data.pause_reasons = r[0].pause_reasons; state.data.dispositions = r[1].dispositions;
      });
    },
    tokens: function () { return api("GET", "/tokens").then(function (d) { state.data.tokens = d.tokens; }); },
    audit: function () {
      var f = $("audit-form");
      var q = "?limit=200&actor=" + encodeURIComponent(f.actor.value) + "&action=" + encodeURIComponent(f.action.value);
      return api("GET", "/audit" + q).then(function (d) { state.data.audit = d.entries; });
    },
    pbx: function () { return Promise.resolve(); }
  };

  function show(tab) {
    state.tab = tab;
    document.querySelectorAll(".tabs [data-tab]").forEach(function (b) {
      b.setAttribute("aria-selected", String(b.dataset.tab === tab));
    });
    document.querySelectorAll(".tab").forEach(function (s) { s.hidden = s.id !== "tab-" + tab; });
    return loaders[tab]().then(render).catch(refused(null));
  }

  // ---------------------------------------------------------------- rendering

  function render() {
    var d = state.data;
    if (d.people) fill("people-body", d.people.map(personRow));
    if (d.devices) fill("devices-body", d.devices.map(deviceRow));
    if (d.queues) fill("queues-body", d.queues.map(queueRow));
    if (d.pause_reasons) fill("pause_reasons-body", d.pause_reasons.map(labelRow));
    if (d.dispositions) fill("dispositions-body", d.dispositions.map(labelRow));
    if (d.tokens) fill("tokens-body", d.tokens.map(tokenRow));
    if (d.audit) fill("audit-body", d.audit.map(auditRow));
    if (d.pbx) renderImport(d.pbx);
  }
  function fill(id, rows) { var body = $(id); body.textContent = ""; rows.forEach(function (r) { body.appendChild(r); }); }

  function personRow(p) {
    var actions = el("td", { class: "actions" }, [
      button(p.active ? "ad_disable" : "ad_enable", function () {
        if (p.active && !confirm(t("ad_confirm_disable"))) return;
        api("PATCH", "/people/" + encodeURIComponent(p.username), { active: !p.active })
          .then(function () { notice(t("ad_saved")); return show("people"); }).catch(refused(null));
      }),
      button("ad_reset_password", function () {
        var password = prompt(t("ad_new_password") + " " + p.username);
        if (!password) return;
        api("POST", "/people/" + encodeURIComponent(p.username) + "/password", { password: password })
          .then(function () { notice(t("ad_saved")); }).catch(refused(null));
      })
    ]);
    return el("tr", { "data-username": p.username, class: p.active ? "" : "disabled" }, [
      ltr(p.username), auto(p.name),
      cell(p.roles.map(function (r) { return t("ad_role_" + r); }).join(I18n.language() === "fa" ? "، " : ", ")),
      ltr(p.devices.join(", ")),  // device names stay as the PBX writes them
      ltr(p.crm_user_id), cell(t(p.active ? "ad_active" : "ad_disabled")), actions
    ]);
  }

  function deviceRow(dev) {
    return el("tr", { "data-interface": dev.interface }, [
      el("td", { class: "num" }, [el("bdi", { dir: "ltr", text: digits(dev.extension) })]),
      ltr(dev.interface), dev.username ? ltr(dev.username) : cell(t("ad_unmapped"), "muted"), auto(dev.label),
      el("td", { class: "actions" }, [dev.username ? button("ad_unmap", function () {
        api("DELETE", "/devices/" + encodeURIComponent(dev.interface))
          .then(function () { notice(t("ad_saved")); return show("devices"); }).catch(refused(null));
      }) : null])
    ]);
  }

  function queueRow(q) {
    return el("tr", { "data-queue": q.name }, [
      ltr(q.name), el("td", {}, [el("bdi", { dir: "rtl", text: q.display_fa || "" })]),
      ltr(q.display_en), auto(q.team), cell(digits(q.sla_target_percent), "num"),
      cell(digits(q.sla_threshold_seconds), "num"), ltr(q.supervisors.join(", "))
    ]);
  }

  function labelRow(l) {
    return el("tr", { class: l.active ? "" : "disabled" }, [
      ltr(l.code), el("td", {}, [el("bdi", { dir: "rtl", text: l.label_fa })]), ltr(l.label_en),
      cell(t(l.active ? "ad_active" : "ad_inactive"))
    ]);
  }

  function tokenRow(k) {
    return el("tr", { class: k.revoked_at ? "disabled" : "" }, [
      auto(k.name), ltr(k.prefix + "…"), ltr(k.scopes.join(", ")), ltr(k.username),
      cell(when(k.last_used_at)), cell(t(k.revoked_at ? "ad_revoked" : "ad_live")),
      el("td", { class: "actions" }, [k.revoked_at ? null : button("ad_revoke", function () {
        api("DELETE", "/tokens/" + k.id).then(function () { return show("tokens"); }).catch(refused(null));
      }, "small danger")])
    ]);
  }

  function stateText(s) { return s ? JSON.stringify(s) : ""; }
  function auditRow(e) {
    return el("tr", {}, [
      cell(when(e.at)), ltr(e.actor), ltr(e.action), ltr(e.target),
      el("td", { class: "state" }, [el("code", { dir: "ltr", text: stateText(e.before) })]),
      el("td", { class: "state" }, [el("code", { dir: "ltr", text: stateText(e.after) })])
    ]);
  }

  function renderImport(result) {
    var box = $("pbx-result"); box.textContent = "";
    var applied = result.applied;
    var sections = [
      [applied ? "ad_added" : "ad_would_add", result.add || []],
      [applied ? "ad_changed" : "ad_would_change", result.change || []]
    ];
    var any = false;
    sections.forEach(function (s) {
      if (!s[1].length) return;
      any = true;
      box.appendChild(el("h3", { "data-i18n": s[0], text: t(s[0]) }));
      box.appendChild(el("ul", { class: "import-list" }, s[1].map(function (item) {
        return el("li", {}, [el("bdi", { dir: "ltr", text: item.kind + " " + item.name + (item.detail ? " — " + item.detail : "") })]);
      })));
    });
    if (!any) box.appendChild(el("p", { class: "muted", "data-i18n": "ad_nothing", text: t("ad_nothing") }));
    $("pbx-apply").disabled = applied || !any;
  }

  // ---------------------------------------------------------------- forms

  function wire() {
    document.querySelectorAll(".tabs [data-tab]").forEach(function (b) {
      b.addEventListener("click", function () { notice(""); show(b.dataset.tab); });
    });
    $("person-form").addEventListener("submit", function (e) {
      e.preventDefault(); var f = e.target; clearMarks(f);
      api("POST", "/people", {
        username: f.username.value.trim(), name: f.name.value.trim(), password: f.password.value,
        roles: checked(f, "roles"), extensions: list(f.extensions.value),
        crm_user_id: f.crm_user_id.value.trim() || null
      }).then(function () { f.reset(); notice(t("ad_saved")); return show("people"); }).catch(refused(f));
    });
    $("device-form").addEventListener("submit", function (e) {
      e.preventDefault(); var f = e.target; clearMarks(f);
      api("POST", "/devices", {
        device: f.device.value.trim(), technology: f.technology.value, username: f.username.value.trim(),
        label: f.label.value.trim() || null
      }).then(function () { f.reset(); notice(t("ad_saved")); return show("devices"); }).catch(refused(f));
    });
    $("queue-form").addEventListener("submit", function (e) {
      e.preventDefault(); var f = e.target; clearMarks(f);
      api("PUT", "/queues/" + encodeURIComponent(f.name.value.trim()), {
        display_fa: f.display_fa.value.trim() || null, display_en: f.display_en.value.trim() || null,
        team: f.team.value.trim() || null, sla_target_percent: +f.sla_target_percent.value,
        sla_threshold_seconds: +f.sla_threshold_seconds.value, supervisors: list(f.supervisors.value)
      }).then(function () { notice(t("ad_saved")); return show("queues"); }).catch(refused(f));
    });
    $("label-form").addEventListener("submit", function (e) {
      e.preventDefault(); var f = e.target; clearMarks(f);
      var body = { active: f.active.checked };
      if (f.label_fa.value.trim()) body.label_fa = f.label_fa.value.trim();
      if (f.label_en.value.trim()) body.label_en = f.label_en.value.trim();
      api("PUT", "/" + f.kind.value + "/" + encodeURIComponent(f.code.value.trim()), body)
        .then(function () { notice(t("ad_saved")); return show("labels"); }).catch(refused(f));
    });
    $("token-form").addEventListener("submit", function (e) {
      e.preventDefault(); var f = e.target; clearMarks(f);
      var body = { name: f.name.value.trim(), scopes: checked(f, "scopes") };
      if (f.username.value.trim()) body.username = f.username.value.trim();
      api("POST", "/tokens", body).then(function (created) {
        f.reset(); $("new-token").hidden = false; $("new-token-value").textContent = created.token;
        return show("tokens");
      }).catch(refused(f));
    });
    $("audit-form").addEventListener("submit", function (e) { e.preventDefault(); show("audit"); });
    $("audit-csv").addEventListener("click", function (e) {
      e.preventDefault();
      var f = $("audit-form");
      var q = "?actor=" + encodeURIComponent(f.actor.value) + "&action=" + encodeURIComponent(f.action.value);
      fetch("/api/v1/admin/audit.csv" + q, { headers: { Authorization: "Bearer " + session.token } })
        .then(function (r) { if (!r.ok) throw new Error(r.statusText); return r.blob(); })
        .then(function (blob) {
          var a = el("a", { href: URL.createObjectURL(blob), download: "ctihub-audit.csv" });
          document.body.appendChild(a); a.click(); a.remove();
        }).catch(refused(null));
    });
    $("pbx-preview").addEventListener("click", function () { runImport(false); });
    $("pbx-apply").addEventListener("click", function () { runImport(true); });
  }

  function runImport(apply) {
    $("pbx-apply").disabled = true;
    api("POST", "/pbx-import", { apply: apply }).then(function (result) {
      state.data.pbx = result; render();
    }).catch(refused(null));
  }

  // ---------------------------------------------------------------- session

  function showAdmin() {
    var user = session.user;
    if (!user.roles || user.roles.indexOf("admin") < 0) {
      $("login-error").textContent = t("ad_admins_only");
      session.end();
      return;
    }
    $("login").hidden = true; $("admin").hidden = false; $("logout-btn").hidden = false;
    $("whoami").textContent = user.name;
    session.adoptUserLanguage();
    session.save({ token: session.token, expires_at: session.expiresAt, user: user });
    show(state.tab);
  }

  function logout() {
    session.end(); state.data = {};
    $("admin").hidden = true; $("login").hidden = false; $("logout-btn").hidden = true;
    $("whoami").textContent = "";
  }

  document.addEventListener("DOMContentLoaded", function () {
    Ctihub.startPage(session, { loggedIn: showAdmin, logout: logout, rerender: render });
    wire();
    if (session.isLive()) showAdmin();
  });
})();
