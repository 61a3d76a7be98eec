/*
 * jalali.js — Gregorian to Jalali (Solar Hijri) date conversion for the ctihub panel.
 * Version 1.0.0 (pinned with ctihub). Copyright ctihub contributors.
 * License: AGPL-3.0-or-later, like the rest of ctihub.
 * Arithmetic after the "jdf" day-count method (2820-year-free, 33-year cycle
 * reckoning, exact for 1800-2200 CE); written here from the published formula,
 * no third-party code. Checked against the Python jdatetime package in the
 * browser tests.
 */
(function (global) {
  "use strict";
  var CUMULATIVE = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
  var PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹";

  /** [jy, jm, jd] for a Gregorian year, month (1-12) and day. */
  function toJalali(gy, gm, gd) {
    var gy2 = gm > 2 ? gy + 1 : gy;
    var days = 355666 + 365 * gy + Math.floor((gy2 + 3) / 4) - Math.floor((gy2 + 99) / 100) +
      Math.floor((gy2 + 399) / 400) + gd + CUMULATIVE[gm - 1];
    var jy = -1595 + 33 * Math.floor(days / 12053);
    days %= 12053;
    jy += 4 * Math.floor(days / 1461);
    days %= 1461;
    if (days > 365) {
      jy += Math.floor((days - 1) / 365);
      days = (days - 1) % 365;
    }
    var jm, jd;
    if (days < 186) {
      jm = 1 + Math.floor(days / 31);
      jd = 1 + (days % 31);
    } else {
      jm = 7 + Math.floor((days - 186) / 30);
      jd = 1 + ((days - 186) % 30);
    }
    return [jy, jm, jd];
  }

  /** Western digits in a string replaced by Persian ones. */
  function persianDigits(text) {
    return String(text).replace(/[0-9]/g, function (d) { return PERSIAN_DIGITS[+d]; });
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  /** "1405/09/07" (Persian digits) for a JS Date, in the browser's time zone. */
  function formatDate(date) {
    var j = toJalali(date.getFullYear(), date.getMonth() + 1, date.getDate());
    return persianDigits(j[0] + "/" + pad(j[1]) + "/" + pad(j[2]));
  }

  global.Jalali = { toJalali: toJalali, formatDate: formatDate, persianDigits: persianDigits };
})(window);
