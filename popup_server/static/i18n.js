/* Panel strings in English and Persian. Keys are used by data-i18n attributes and panel.js. */
(function (global) {
  "use strict";
  var STRINGS = {
    en: {
      title: "Agent panel", offline: "offline", connecting: "connecting…", connected: "connected",
      reconnecting: "reconnecting…", pbx_up: "PBX: connected",
      pbx_down: "PBX link down — calls may ring without a pop",
      pbx_auth_failed: "PBX refused the hub's login — calls may ring without a pop",
      login: "Log in", logout: "Log out", username: "Username",
      password: "Password", live_calls: "Live calls", no_calls: "No call right now.",
      phonebook: "Phonebook", search: "Search", search_placeholder: "Name or number",
      today_calls: "Today's calls", time: "Time", caller: "Caller", duration: "Duration",
      recording: "Recording", play_recording: "Play the recording",
      recording_unavailable: "The recording is not available",
      disposition: "Disposition", new_case: "New case", open_case: "Open case",
      link_case: "Link case by code", link: "Link", notes: "Notes", save_wrapup: "Save",
      pause: "Pause", unpause: "Resume work", pause_reason: "Pause reason", paused: "paused",
      reason_break: "Break", reason_lunch: "Lunch", reason_training: "Training",
      reason_meeting: "Meeting", state_ringing: "Ringing", state_talking: "Talking",
      state_held: "On hold", state_transferred: "Transferred", state_ended: "Ended",
      number: "Number", normalised: "Normalised", queue: "Queue", waited: "Waited",
      ivr_digits: "IVR digits", ivr_case: "Case named", unknown_caller: "Unknown caller",
      internal_caller: "Internal call", lookup_unavailable: "CRM unavailable",
      lookup_pending: "Looking up in the CRM…",
      company: "Company", address: "Address", language: "Language", contract: "Contract",
      contract_active: "active", contract_expiring: "expiring", contract_expired: "expired",
      contract_none: "none", until: "until", open_cases: "Open cases", due: "due",
      last_calls: "Last calls", agent: "Agent", call: "Call", no_results: "No match.",
      tracking_code_is: "Tracking code to read to the caller:", linked: "Linked case",
      saved: "Saved.", seconds: "s", minutes: "min", transfers: "Transfers",
      wrong_login: "Wrong username or password.", throttled: "Too many attempts; wait a while.",
      new_pop: "Incoming call", calling: "Calling…", disp_none: "—",
      disp_resolved: "Resolved", disp_callback: "Call back", disp_escalated: "Escalated",
      disp_information: "Information", disp_sale: "Sale", disp_complaint: "Complaint",
      disp_wrong_number: "Wrong number", withdrawn: "Answered elsewhere",
      call_answered: "answered", call_abandoned: "abandoned", call_missed: "missed",
      call_busy: "busy", call_failed: "failed", call_ivr: "IVR only",
      // Supervisor wallboard
      wb_title: "Wallboard", wb_queues: "Queues", wb_agents: "Agents", wb_open: "Wallboard",
      wb_agent_panel: "Agent panel", wb_waiting: "Waiting", wb_longest: "Longest wait",
      wb_offered: "Offered", wb_answered: "Answered", wb_abandoned: "Abandoned",
      wb_abandon_rate: "Abandon rate", wb_sla: "Service level", wb_threshold: "Threshold",
      wb_asa: "ASA", wb_aht: "AHT", wb_callers: "Waiting callers", wb_customer: "Customer",
      wb_no_callers: "Nobody is waiting.", wb_actions: "Actions", wb_wall_mode: "Wall screen",
      wb_desk_mode: "Desk view", wb_pause: "Pause", wb_unpause: "Resume", wb_logout: "Log out",
      wb_listen: "Listen", wb_whisper: "Whisper", wb_barge: "Barge", wb_sent: "Sent to the PBX:",
      wb_extension: "Ext.", wb_name: "Name", wb_state: "State",
      wb_for: "For", wb_answered_today: "Answered today", wb_talk_time: "Talk time",
      wb_current_caller: "Caller", wb_in_queues: "Queues", wb_no_queues: "No queue yet.",
      wb_no_agents: "No agent yet.", wb_alert_wait: "longest wait", wb_alert_sla: "service level",
      wb_over: "over", wb_under: "under", wb_no_alerts: "All queues on target.",
      wb_today: "Today", wb_supervisors_only: "The wallboard is for supervisors.",
      ag_idle: "Idle", ag_ringing: "Ringing", ag_talking: "Talking", ag_held: "On hold",
      ag_paused: "Paused", ag_offline: "Offline",
      // The agent's day: call control, queues, after-call work, customers, history
      vip: "VIP", queues: "Queues", queue_login: "Log in", queue_logout: "Log out",
      queue_in: "logged in", queue_out: "logged out", no_queues: "No queue known yet.",
      call_controls: "Call controls", hold: "Hold", resume: "Resume", transfer: "Transfer",
      hang_up: "Hang up", transfer_to_agent: "To an agent", transfer_to_number: "or a number",
      blind_transfer: "Blind transfer", attended_transfer: "Attended transfer",
      choose_agent: "— choose —", transfer_done: "Transfer sent.", transfer_needs_target: "Choose an agent or type a number.",
      acw: "After-call work", acw_left: "left", available_again: "Available again",
      dismiss: "Dismiss", save: "Save", name: "Name", email: "Email", create: "Create",
      create_customer: "New customer from this caller", attach_number: "Or add this number to a customer",
      add_number: "Add number", number_added: "Number added.", customer_created: "Customer created.",
      edit: "Edit", open_in_crm: "Open in the CRM", preferred_channel: "Preferred channel",
      channel_none: "No preference", channel_phone: "Phone", channel_sms: "SMS", channel_email: "Email",
      channel_whatsapp: "WhatsApp", call_from: "Call from", call_until: "Call until",
      call_hours: "Hours to call", do_not_call: "Do not call", contact: "Contact",
      foreign_case: "The code keyed in the IVR names a case of another customer:",
      link_anyway: "Link to this call", outcome: "Outcome", note: "Note",
      history: "Call history", history_query: "Number or name", date_from: "From", date_to: "To",
      missed_only: "Missed only", any: "Any", no_recording: "No recording",
      no_calls_found: "No call found.", outbound: "Outbound call", dialed: "Dialled",
      lang_fa: "Persian", lang_en: "English", lang_ar: "Arabic", lang_tr: "Turkish",
      reason_wrapup: "Wrap-up", internal_call: "Internal call", ag_in_use: "Talking",
      ag_busy: "Busy", ag_unavailable: "Unavailable", ag_unknown: "Unknown",
      rp_title: "Reports", rp_kind: "Report", rp_queues: "Per queue", rp_teams: "Per team", rc_team: "Team", rp_agents: "Per agent",
      rp_calls: "Per day / interval", rp_from: "From", rp_to: "To", rp_interval: "Interval",
      rp_show: "Show", rp_csv: "Download CSV", rp_standard: "Definitions",
      rp_standard_text: "Cisco Unified CCE: service level = calls answered within the queue's threshold ÷ (offered − abandoned within the threshold); callers who hang up within the short-abandon time are counted apart, not offered; ASA = answer wait ÷ answered; AHT = (talk + hold + wrap-up) ÷ handled.",
      rp_chart_sl: "Service level through the day", rp_chart_volume: "Offered and abandoned per interval",
      rp_chart_aht: "Handle time per agent", rp_calls_axis: "calls", rp_seconds_axis: "seconds",
      rp_no_rows: "No calls in this range.", rp_open: "Reports",
      rc_queue: "Queue", rc_agent: "Agent", rc_day: "Day", rc_interval: "Interval", rc_calls: "Calls",
      rc_offered: "Offered", rc_answered: "Answered", rc_abandoned: "Abandoned",
      rc_short_abandoned: "Short abandons", rc_answered_in_threshold: "Answered in threshold",
      rc_abandoned_in_threshold: "Abandoned in threshold", rc_service_level_pct: "Service level",
      rc_abandon_pct: "Abandon rate", rc_asa_s: "ASA (s)", rc_aht_s: "AHT (s)", rc_avg_talk_s: "Avg talk (s)",
      rc_time_to_abandon_s: "Time to abandon (s)", rc_longest_wait_s: "Longest wait (s)",
      rc_handled: "Handled", rc_transfers: "Transfers", rc_outbound: "Outbound",
      rc_outbound_answered: "Outbound answered", rc_cases_opened: "Cases opened",
      rc_cases_closed: "Cases closed", rc_cases_overdue: "Cases overdue",
      rc_first_contact_resolution_pct: "First-contact resolution", rc_calls_per_case: "Calls per case"
    },
    fa: {
      title: "پنل اپراتور", offline: "قطع", connecting: "در حال اتصال…", connected: "متصل",
      reconnecting: "اتصال دوباره…", pbx_up: "مرکز تلفن: متصل",
      pbx_down: "ارتباط با مرکز تلفن قطع است — ممکن است تماس‌ها بدون نمایش اطلاعات زنگ بخورند",
      pbx_auth_failed: "مرکز تلفن ورود سامانه را نپذیرفت — ممکن است تماس‌ها بدون نمایش اطلاعات زنگ بخورند",
      login: "ورود", logout: "خروج", username: "نام کاربری",
      password: "گذرواژه", live_calls: "تماس‌های جاری", no_calls: "اکنون تماسی نیست.",
      phonebook: "دفترچه تلفن", search: "جستجو", search_placeholder: "نام یا شماره",
      today_calls: "تماس‌های امروز", time: "ساعت", caller: "تماس‌گیرنده", duration: "مدت",
      recording: "ضبط مکالمه", play_recording: "پخش ضبط مکالمه",
      recording_unavailable: "ضبط این مکالمه در دسترس نیست",
      disposition: "نتیجه", new_case: "پرونده جدید", open_case: "ثبت پرونده",
      link_case: "پیوند پرونده با کد رهگیری", link: "پیوند", notes: "یادداشت",
      save_wrapup: "ذخیره", pause: "توقف", unpause: "ادامه کار", pause_reason: "دلیل توقف",
      paused: "متوقف", reason_break: "استراحت", reason_lunch: "ناهار", reason_training: "آموزش",
      reason_meeting: "جلسه", state_ringing: "در حال زنگ", state_talking: "در حال مکالمه",
      state_held: "در انتظار", state_transferred: "منتقل شد", state_ended: "پایان یافت",
      number: "شماره", normalised: "شماره استاندارد", queue: "صف", waited: "انتظار",
      ivr_digits: "ارقام وارد شده", ivr_case: "پرونده مربوط", unknown_caller: "تماس‌گیرنده ناشناس",
      internal_caller: "تماس داخلی", lookup_unavailable: "CRM در دسترس نیست",
      lookup_pending: "در حال جستجو در CRM…",
      company: "شرکت", address: "نشانی", language: "زبان", contract: "قرارداد پشتیبانی",
      contract_active: "فعال", contract_expiring: "رو به پایان", contract_expired: "منقضی",
      contract_none: "ندارد", until: "تا", open_cases: "پرونده‌های باز", due: "موعد",
      last_calls: "آخرین تماس‌ها", agent: "اپراتور", call: "تماس", no_results: "موردی یافت نشد.",
      tracking_code_is: "کد رهگیری را برای تماس‌گیرنده بخوانید:", linked: "پرونده پیوند شد",
      saved: "ذخیره شد.", seconds: "ثانیه", minutes: "دقیقه", transfers: "انتقال‌ها",
      wrong_login: "نام کاربری یا گذرواژه نادرست است.", throttled: "تلاش بیش از حد؛ کمی صبر کنید.",
      new_pop: "تماس ورودی", calling: "در حال برقراری…", disp_none: "—",
      disp_resolved: "حل شد", disp_callback: "تماس مجدد", disp_escalated: "ارجاع شد",
      disp_information: "اطلاع‌رسانی", disp_sale: "فروش", disp_complaint: "شکایت",
      disp_wrong_number: "شماره اشتباه", withdrawn: "توسط همکار پاسخ داده شد",
      call_answered: "پاسخ داده شد", call_abandoned: "رها شد", call_missed: "بی‌پاسخ",
      call_busy: "مشغول", call_failed: "ناموفق", call_ivr: "فقط IVR",
      wb_title: "تابلوی نظارت", wb_queues: "صف‌ها", wb_agents: "اپراتورها", wb_open: "تابلوی نظارت",
      wb_agent_panel: "پنل اپراتور", wb_waiting: "در انتظار", wb_longest: "بیشترین انتظار",
      wb_offered: "ورودی", wb_answered: "پاسخ داده", wb_abandoned: "رها شده",
      wb_abandon_rate: "نرخ رها شدن", wb_sla: "سطح خدمت", wb_threshold: "آستانه",
      wb_asa: "سرعت پاسخ", wb_aht: "زمان رسیدگی", wb_callers: "تماس‌گیرندگان در انتظار",
      wb_customer: "مشتری", wb_no_callers: "کسی در انتظار نیست.", wb_actions: "اقدام",
      wb_wall_mode: "نمایش دیواری", wb_desk_mode: "نمایش میز", wb_pause: "توقف", wb_unpause: "ادامهٔ کار",
      wb_logout: "خروج از صف", wb_listen: "شنود", wb_whisper: "نجوا", wb_barge: "ورود به مکالمه",
      wb_sent: "به مرکز تلفن فرستاده شد:", wb_extension: "داخلی", wb_name: "نام", wb_state: "وضعیت",
      wb_for: "مدت", wb_answered_today: "پاسخ امروز", wb_talk_time: "زمان مکالمه",
      wb_current_caller: "تماس‌گیرنده", wb_in_queues: "صف‌ها", wb_no_queues: "هنوز صفی نیست.",
      wb_no_agents: "هنوز اپراتوری نیست.", wb_alert_wait: "بیشترین انتظار", wb_alert_sla: "سطح خدمت",
      wb_over: "بیش از", wb_under: "کمتر از", wb_no_alerts: "همه صف‌ها در حد هدف‌اند.",
      wb_today: "امروز", wb_supervisors_only: "تابلوی نظارت برای سرپرستان است.",
      ag_idle: "آزاد", ag_ringing: "در حال زنگ", ag_talking: "در حال مکالمه", ag_held: "در انتظار",
      ag_paused: "متوقف", ag_offline: "خارج از دسترس",
      vip: "ویژه", queues: "صف‌ها", queue_login: "ورود به صف", queue_logout: "خروج از صف",
      queue_in: "در صف", queue_out: "خارج از صف", no_queues: "هنوز صفی شناخته نشده است.",
      call_controls: "کنترل تماس", hold: "نگه‌داشتن", resume: "ادامه مکالمه", transfer: "انتقال",
      hang_up: "قطع تماس", transfer_to_agent: "به اپراتور", transfer_to_number: "یا به شماره",
      blind_transfer: "انتقال مستقیم", attended_transfer: "انتقال با هماهنگی",
      choose_agent: "— انتخاب کنید —", transfer_done: "انتقال انجام شد.", transfer_needs_target: "یک اپراتور انتخاب کنید یا شماره‌ای وارد کنید.",
      acw: "کار پس از تماس", acw_left: "مانده", available_again: "دوباره آماده",
      dismiss: "بستن", save: "ذخیره", name: "نام", email: "ایمیل", create: "ثبت",
      create_customer: "ثبت مشتری جدید از این تماس‌گیرنده", attach_number: "یا افزودن این شماره به یک مشتری",
      add_number: "افزودن شماره", number_added: "شماره افزوده شد.", customer_created: "مشتری ثبت شد.",
      edit: "ویرایش", open_in_crm: "نمایش در CRM", preferred_channel: "راه ارتباطی دلخواه",
      channel_none: "بدون ترجیح", channel_phone: "تلفن", channel_sms: "پیامک", channel_email: "ایمیل",
      channel_whatsapp: "واتس‌اپ", call_from: "تماس از ساعت", call_until: "تا ساعت",
      call_hours: "ساعت تماس", do_not_call: "تماس نگیرید", contact: "ارتباط",
      foreign_case: "کدی که در منوی صوتی وارد شد پرونده مشتری دیگری است:",
      link_anyway: "پیوند به این تماس", outcome: "نتیجه", note: "یادداشت",
      history: "سابقه تماس‌ها", history_query: "شماره یا نام", date_from: "از", date_to: "تا",
      missed_only: "فقط بی‌پاسخ", any: "همه", no_recording: "ضبط ندارد",
      no_calls_found: "تماسی یافت نشد.", outbound: "تماس خروجی", dialed: "شماره گرفته‌شده",
      lang_fa: "فارسی", lang_en: "انگلیسی", lang_ar: "عربی", lang_tr: "ترکی",
      reason_wrapup: "کار پس از تماس", internal_call: "تماس داخلی", ag_in_use: "در حال مکالمه",
      ag_busy: "مشغول", ag_unavailable: "در دسترس نیست", ag_unknown: "نامشخص",
      rp_title: "گزارش‌ها", rp_kind: "گزارش", rp_queues: "به تفکیک صف", rp_teams: "به تفکیک تیم", rc_team: "تیم", rp_agents: "به تفکیک اپراتور",
      rp_calls: "روزانه / بازه‌ای", rp_from: "از", rp_to: "تا", rp_interval: "بازه",
      rp_show: "نمایش", rp_csv: "دریافت CSV", rp_standard: "تعریف‌ها",
      rp_standard_text: "بر پایهٔ Cisco Unified CCE: سطح خدمت = تماس‌های پاسخ‌داده در آستانهٔ صف ÷ (ورودی − رهاشده در آستانه)؛ تماس‌گیرندگانی که در زمان رهاشدن کوتاه قطع می‌کنند جدا شمرده می‌شوند و ورودی نیستند؛ میانگین سرعت پاسخ = انتظار تا پاسخ ÷ پاسخ‌داده؛ میانگین زمان رسیدگی = (مکالمه + انتظار روی خط + جمع‌بندی) ÷ رسیدگی‌شده.",
      rp_chart_sl: "سطح خدمت در طول روز", rp_chart_volume: "ورودی و رهاشده در هر بازه",
      rp_chart_aht: "زمان رسیدگی هر اپراتور", rp_calls_axis: "تماس", rp_seconds_axis: "ثانیه",
      rp_no_rows: "در این بازه تماسی نیست.", rp_open: "گزارش‌ها",
      rc_queue: "صف", rc_agent: "اپراتور", rc_day: "روز", rc_interval: "بازه", rc_calls: "تماس‌ها",
      rc_offered: "ورودی", rc_answered: "پاسخ داده", rc_abandoned: "رها شده",
      rc_short_abandoned: "رهاشدهٔ کوتاه", rc_answered_in_threshold: "پاسخ در آستانه",
      rc_abandoned_in_threshold: "رهاشده در آستانه", rc_service_level_pct: "سطح خدمت",
      rc_abandon_pct: "نرخ رها شدن", rc_asa_s: "سرعت پاسخ (ثانیه)", rc_aht_s: "زمان رسیدگی (ثانیه)",
      rc_avg_talk_s: "میانگین مکالمه (ثانیه)", rc_time_to_abandon_s: "زمان تا رها شدن (ثانیه)",
      rc_longest_wait_s: "بیشترین انتظار (ثانیه)", rc_handled: "رسیدگی‌شده", rc_transfers: "انتقال‌ها",
      rc_outbound: "خروجی", rc_outbound_answered: "خروجی پاسخ‌داده", rc_cases_opened: "پرونده‌های باز شده",
      rc_cases_closed: "پرونده‌های بسته شده", rc_cases_overdue: "پرونده‌های دیرکرد",
      rc_first_contact_resolution_pct: "حل در تماس اول", rc_calls_per_case: "تماس به ازای پرونده"
    }
  };

  var current = "en";

  function t(key) {
    var table = STRINGS[current] || STRINGS.en;
    return table[key] !== undefined ? table[key] : (STRINGS.en[key] !== undefined ? STRINGS.en[key] : key);
  }

  /** Switch language: strings, lang and dir of the page (Persian is right-to-left). */
  function setLanguage(lang) {
    current = STRINGS[lang] ? lang : "en";
    document.documentElement.lang = current;
    document.documentElement.dir = current === "fa" ? "rtl" : "ltr";
    apply(document);
  }

  function apply(root) {
    root.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-label]").forEach(function (el) {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    });
    root.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
  }

  var listeners = [];

  /** Add a page part's own strings ({en: {...}, fa: {...}}), kept beside the part. */
  function extend(tables) {
    Object.keys(tables).forEach(function (lang) {
      STRINGS[lang] = STRINGS[lang] || {};
      Object.keys(tables[lang]).forEach(function (k) { STRINGS[lang][k] = tables[lang][k]; });
    });
  }

  /** Call fn after every language switch (parts that draw themselves redraw). */
  function onChange(fn) { listeners.push(fn); }

  global.I18n = {
    t: t, setLanguage: function (lang) {
      setLanguage(lang);
      listeners.forEach(function (fn) { fn(current); });
    },
    apply: apply, extend: extend, onChange: onChange,
    language: function () { return current; }
  };
})(window);
