// takecare web UI. Plain JavaScript, no libraries, no build step.
//
// Rules this file keeps (node/api/web_test.go checks some of them):
// - Every API call carries the token in the Authorization header; there
//   are no cookies.
// - The token lives in sessionStorage only. Nothing else is stored in the
//   browser: names, places and alert text stay in memory.
// - Text that comes from the network goes into the page as text
//   (textContent), never as HTML.
// - Every word shown comes from i18n.json through t().
'use strict';

(function () {
  // Kinds a member can send; the same list as alert.UserKinds.
  var KINDS = ['danger', 'threat', 'violence', 'detention', 'disappearance', 'checkpoint', 'surveillance', 'medical', 'info', 'allclear'];
  var SEVERITIES = ['info', 'warning', 'urgent', 'critical'];
  var ACKS = ['seen', 'responding', 'unable'];
  var ALERT_TTLS = ['1h', '3h', '6h', '12h', '24h', '72h', '168h', '720h'];
  var INVITE_TTLS = ['1h', '2h', '6h', '24h', '72h', '168h', '720h'];
  var DUE_IN = ['15m', '30m', '45m', '1h', '1h30m', '2h', '3h', '4h', '6h', '8h', '12h', '24h'];
  var GRACES = ['0s', '5m', '10m', '15m', '30m', '1h'];
  var MAX_ENTRIES = 500;
  var TOKEN_KEY = 'takecare.token';

  var strings = null; // all translations, from i18n.json
  var lang = 'en';
  var token = '';
  var signedIn = false; // the node accepted this page (token or session)
  var me = '';        // this node's member id
  var view = 'feed';
  var groups = [];
  var status = null;
  var checkins = [];
  var entries = {};   // id -> entry
  var cards = {};     // id -> element
  var currentGroup = null;
  var lastPanic = null;
  var feedAbort = null;
  var bootTime = Date.now();
  var streams = 0;    // feed streams that went live since the page loaded
  var timers = [];

  // ---- small helpers ----

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function clear(e) { while (e.firstChild) { e.removeChild(e.firstChild); } }

  function button(cls, text, onclick) {
    var b = el('button', cls, text);
    b.type = 'button';
    b.addEventListener('click', onclick);
    return b;
  }

  // t returns the translation of key, with {name} replaced from vars.
  function t(key, vars) {
    // A key with the suffix _one, where there is one, is for a count of 1.
    if (vars && vars.n === 1 && strings && strings.en[key + '_one']) { key += '_one'; }
    var s = (strings && strings[lang] && strings[lang][key]) || (strings && strings.en[key]) || key;
    if (vars) {
      // An error among the values is worded now, in the current language.
      s = s.replace(/\{(\w+)\}/g, function (m, k) {
        var v = vars[k];
        if (v === undefined) { return m; }
        if (v instanceof ApiError) { return errText(v); }
        if (v instanceof At) { return whenAt(v.iso); }
        if (v instanceof Dur) { return durWords(v.ms); }
        if (v instanceof Tr) { return has(v.key) ? t(v.key) : v.key.slice(v.key.indexOf('.') + 1); }
        return String(v);
      });
    }
    return s;
  }

  function has(key) { return !!(strings && strings.en[key]); }

  function locale() { return lang === 'es' ? 'es-MX' : 'en-GB'; }

  function clock(d) {
    // 24-hour times, as the command line and the guides write them.
    return d.toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', hour12: false });
  }

  function sameDay(a, b) { return a.toDateString() === b.toDateString(); }

  function dateOf(d) {
    var o = { day: 'numeric', month: 'short' };
    if (d.getFullYear() !== new Date().getFullYear()) { o.year = 'numeric'; }
    return d.toLocaleDateString(locale(), o);
  }

  // when is a time on its own, as a card's corner shows it: "06:00" today,
  // "1 Dec 06:00" on another day.
  function when(iso) {
    var d = new Date(iso);
    if (sameDay(d, new Date())) { return clock(d); }
    return dateOf(d) + ' ' + clock(d);
  }

  // whenAt is a time inside a sentence: "at 06:00", "tomorrow at 06:00",
  // "on 1 Dec at 06:00" ("a las 06:00", "mañana a las 06:00", "el 1 dic.
  // a las 06:00"; Spanish says "a la 01:00" for one o'clock).
  function whenAt(iso, withZone) {
    var d = new Date(iso), now = new Date();
    var day = new Date(now.getTime());
    var key = 'time.on_date';
    if (sameDay(d, now)) { key = 'time.today'; }
    day.setDate(now.getDate() + 1);
    if (sameDay(d, day)) { key = 'time.tomorrow'; }
    day.setDate(now.getDate() - 1);
    if (sameDay(d, day)) { key = 'time.yesterday'; }
    if (d.getHours() === 1 && has(key + '_h1')) { key += '_h1'; }
    return t(key, { time: clock(d) + (withZone ? zoneOf(d) : ''), date: dateOf(d) });
  }

  // zoneOf is " CST": the zone of a time that a reader elsewhere may read.
  function zoneOf(d) {
    try {
      var parts = new Intl.DateTimeFormat(locale(), { timeZoneName: 'short' }).formatToParts(d);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === 'timeZoneName') { return ' ' + parts[i].value; }
      }
    } catch (e) { /* no zone names here */ }
    return '';
  }

  // At and Dur are a time and a duration given to t() as values: they are
  // worded when the text is shown, so that a message shown again in the
  // other language reads right.
  function At(iso) { this.iso = iso instanceof Date ? iso.toISOString() : iso; }
  function Tr(key) { this.key = key; } // a word of the catalogue, such as a kind
  function Dur(ms) { this.ms = ms; }

  // durWords writes a number of milliseconds in words: "45 minutes",
  // "1 hour and 30 minutes", "3 days", "1 week"; minutes are left out
  // from a day on.
  function durWords(ms) {
    var m = Math.max(0, Math.round(ms / 60000));
    if (m < 1) { return t('time.under_minute'); }
    if (m % 10080 === 0) { return t('time.weeks', { n: m / 10080 }); }
    var d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), mm = m % 60;
    var parts = [];
    if (d) { parts.push(t('time.days', { n: d })); }
    if (h) { parts.push(t('time.hours', { n: h })); }
    if (mm && !d) { parts.push(t('time.minutes', { n: mm })); }
    return parts.length === 1 ? parts[0] : t('time.and', { a: parts[0], b: parts[1] });
  }

  // bytesWords is a byte count for people: "512 B", "3.2 MB".
  function bytesWords(n) {
    var units = ['B', 'kB', 'MB', 'GB'], i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? String(n) : n.toLocaleString(locale(), { maximumFractionDigits: 1 })) + ' ' + units[i];
  }

  // durMs parses the Go duration strings this file uses ("1h30m", "45m").
  function durMs(s) {
    var ms = 0, re = /(\d+)(h|m|s)/g, m;
    while ((m = re.exec(s))) { ms += Number(m[1]) * { h: 3600000, m: 60000, s: 1000 }[m[2]]; }
    return ms;
  }

  function durLabel(s) {
    var ms = durMs(s);
    return ms === 0 ? t('time.none') : durWords(ms);
  }

  function option(value, label) {
    var o = el('option', null, label);
    o.value = value;
    return o;
  }

  // fillSelect sets the options of a select, leaving it alone (open, or
  // being chosen from) when they have not changed.
  function fillSelect(sel, items, keep) {
    var sig = JSON.stringify(items);
    if (sel.tcSig === sig) { return; }
    sel.tcSig = sig;
    var old = sel.value;
    clear(sel);
    items.forEach(function (it) { sel.appendChild(option(it[0], it[1])); });
    if (keep && old) {
      for (var i = 0; i < sel.options.length; i++) {
        if (sel.options[i].value === old) { sel.value = old; }
      }
    }
  }

  // say shows the message key (with vars) in e, and shows it again in the
  // other language when the language changes.
  var said = [];
  function say(e, key, vars, cls) {
    e.tcMsg = key ? { key: key, vars: vars } : null;
    e.textContent = key ? t(key, vars) : '';
    if (cls !== undefined) { e.className = cls; }
    if (said.indexOf(e) < 0) { said.push(e); }
  }

  function resay() {
    said.forEach(function (e) { if (e.tcMsg) { e.textContent = t(e.tcMsg.key, e.tcMsg.vars); } });
  }

  function formStatus(form, key, vars, isError) {
    say(form.querySelector('.status'), key, vars, 'status' + (isError ? ' error' : (key && key !== 'common.sending' ? ' ok' : '')));
  }

  // notice shows a banner. from names what raised it (a refresh such as
  // 'groups'), so that the banner goes away by itself when that refresh
  // next succeeds: a condition that cleared is no longer shown.
  var noticeFrom = '';
  function notice(key, vars, from) {
    say($('notice-text'), key, vars);
    $('notice').hidden = !key;
    noticeFrom = key ? from || '' : '';
  }

  function noticeError(e, from) {
    if (e.status === 401) { return; }
    notice('common.error', { error: e }, from || (e.status === 0 ? 'network' : ''));
  }

  // cleared says that what from names works again.
  function cleared(from) {
    if (noticeFrom && (noticeFrom === from || noticeFrom === 'network')) { notice(''); }
  }

  // ---- the API ----

  // ApiError is an error of an API call: the HTTP status (0: the node did
  // not answer), the stable code and parameters the node sent (see
  // node/api/errors.go), and its English line.
  function ApiError(status, code, params, message) {
    this.status = status;
    this.code = code || '';
    this.params = params || {};
    this.message = message || '';
  }
  ApiError.prototype.toString = function () { return errText(this); };

  // headers go with every API call: the token when this tab has one, and
  // X-Takecare, without which the node does not accept the session cookie
  // (another site's page cannot send it).
  function headers(json) {
    var h = { 'X-Takecare': '1' };
    if (token) { h.Authorization = 'Bearer ' + token; }
    if (json) { h['Content-Type'] = 'application/json'; }
    return h;
  }

  // api calls the daemon and returns the decoded JSON answer (or a Blob
  // when asBlob). Errors become an ApiError with one line to show.
  function api(method, path, body, asBlob) {
    var opts = { method: method, headers: headers(body !== undefined), cache: 'no-store', credentials: 'same-origin', referrerPolicy: 'no-referrer' };
    if (body !== undefined) { opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (res) {
      if (res.status === 401) {
        signOut('login.refused');
        throw new ApiError(401, 'unauthorized');
      }
      if (!res.ok) {
        return res.json().then(function (b) { return b || {}; }, function () { return {}; }).then(function (b) {
          throw new ApiError(res.status, b.code, b.params, b.error);
        });
      }
      cleared('network');
      return asBlob ? res.blob() : res.json();
    }, function () {
      throw new ApiError(0, 'network');
    });
  }

  // errText words an error in the page's language from its code and
  // parameters. A code this page does not know yet (a newer node) falls
  // back to the HTTP status, never to the node's English line.
  function errText(e) {
    if (!(e instanceof ApiError)) { return t('error.unexpected'); }
    var p = e.params, key = 'error.' + e.code;
    if ((e.code === 'checkin_refused' || e.code === 'out_of_range' || e.code === 'ambiguous') && has(key + '.' + (p.reason || p.what))) {
      key += '.' + (p.reason || p.what);
    }
    if (!e.code || !has(key)) { return t('error.status', { status: e.status }); }
    var vars = {};
    Object.keys(p).forEach(function (k) { vars[k] = p[k]; });
    ['due', 'now'].forEach(function (k) { if (p[k]) { vars[k] = whenAt(p[k]); } });
    ['max', 'min'].forEach(function (k) {
      if (p[k] && (e.code === 'checkin_refused' || p.what === 'ttl' || p.what === 'invite_ttl')) { vars[k] = durWords(Number(p[k]) * 1000); }
    });
    return t(key, vars);
  }

  // ---- sign in ----

  function readToken() {
    var m = /(?:^#|&)token=([0-9a-fA-F]+)/.exec(location.hash);
    if (m) {
      token = m[1];
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode: keep it in memory */ }
      // Take the token out of the address bar and of this history entry.
      history.replaceState(null, '', location.pathname + location.search);
      return;
    }
    try { token = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { token = ''; }
  }

  function stopAll() {
    if (feedAbort) { feedAbort.abort(); }
    feedAbort = null;
    timers.forEach(clearInterval);
    timers = [];
  }

  function signOut(why) {
    token = '';
    signedIn = false;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing to remove */ }
    stopAll();
    loginError(why ? { key: why } : null);
    setConn('');
    show('login');
    api('GET', '/v1/session').then(loginForms, function () { /* said by the next try */ });
  }

  function loginError(m) {
    say($('login-error'), m ? m.key : '', m ? m.vars : undefined);
    $('login-error').hidden = !m;
  }

  // loginForms shows the PIN-or-passphrase form when the node accepts one.
  function loginForms(s) {
    $('pair-form').hidden = !(s && (s.pin || s.passphrase));
  }

  // enter opens the page: with a token from the address it first trades
  // it for a session cookie, so that the page opens again after the
  // browser is closed; without one it opens if the cookie is still good,
  // and otherwise asks for a PIN, the passphrase or the address.
  function enter() {
    if (token) {
      api('POST', '/v1/session', {}).then(start, function (e) { if (e.status !== 401) { start(); } });
      return;
    }
    api('GET', '/v1/session').then(function (s) {
      if (s.paired) { start(); return; }
      loginForms(s);
      loginError(null);
      show('login');
    }, function (e) {
      // The node is not running: this page came from the browser's copy.
      show('login');
      loginError({ key: 'common.error', vars: { error: e } });
      setTimeout(function () { if (view === 'login') { enter(); } }, 5000);
    });
  }

  function onLogin(ev) {
    ev.preventDefault();
    var v = $('login-token').value.trim();
    var m = /token=([0-9a-fA-F]+)/.exec(v) || /^([0-9a-fA-F]{32,})$/.exec(v);
    if (!m) {
      loginError({ key: 'login.bad' });
      return;
    }
    $('login-token').value = '';
    token = m[1];
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* memory only */ }
    enter();
  }

  function onPair(ev) {
    ev.preventDefault();
    var f = ev.target;
    var secret = f.secret.value;
    if (!secret) { return; }
    var b = f.querySelector('button[type=submit]');
    b.disabled = true;
    api('POST', '/v1/pair', { secret: secret }).then(function () {
      f.secret.value = '';
      loginError(null);
      start();
    }, function (e) {
      loginError({ key: 'common.error', vars: { error: e } });
    }).then(function () { b.disabled = false; });
  }

  // ---- this device: PIN and signing out ----

  function onPIN(ev) {
    ev.preventDefault();
    var f = ev.target;
    var pin = f.pin.value.trim();
    if (!/^[0-9]{4,12}$/.test(pin)) { formStatus(f, 'error.bad_pin', null, true); return; }
    api('POST', '/v1/pin', { pin: pin }).then(function () {
      f.pin.value = '';
      formStatus(f, 'device.pin_set');
    }, function (e) { formStatus(f, 'common.error', { error: e }, true); });
  }

  function onSignOut() {
    api('POST', '/v1/session/end', {}).then(function () { signOut('device.signed_out'); }, function (e) { noticeError(e); });
  }

  // ---- views ----

  function show(name) {
    view = name;
    var views = document.querySelectorAll('.view');
    for (var i = 0; i < views.length; i++) { views[i].hidden = views[i].id !== 'view-' + name; }
    $('nav').hidden = name === 'login';
    var navs = document.querySelectorAll('#nav button');
    for (var j = 0; j < navs.length; j++) {
      var on = navs[j].getAttribute('data-view') === name || (name === 'group' && navs[j].getAttribute('data-view') === 'groups');
      navs[j].setAttribute('aria-current', on ? 'page' : 'false');
    }
    if (name === 'checkins') { loadCheckIns(); }
    if (name === 'groups') { loadGroups(); }
    if (name === 'group') { loadGroup(); }
    window.scrollTo(0, 0);
  }

  var connState = '', connRetry = 0;
  function setConn(state, retryMs) {
    connState = state;
    connRetry = retryMs || 0;
    var c = $('conn');
    c.className = 'conn ' + state;
    if (state === 'live') { c.textContent = t('conn.live'); }
    else if (state === 'retry') { c.textContent = t('conn.retry', { s: Math.round(retryMs / 1000) }); }
    else if (state === 'connecting') { c.textContent = t('conn.connecting'); }
    else { c.textContent = ''; }
  }

  // ---- language ----

  function applyLang() {
    document.documentElement.lang = lang;
    var nodes = document.querySelectorAll('[data-i18n]');
    for (var i = 0; i < nodes.length; i++) { nodes[i].textContent = t(nodes[i].getAttribute('data-i18n')); }
    var other = lang === 'es' ? 'en' : 'es';
    $('lang').textContent = t('lang.switch');
    $('lang').lang = other;
    document.title = 'takecare';
    fillStatic();
    renderGroups();
    renderAllCards();
    renderCheckIns();
    previewCheckIn();
    resay();
    if (view === 'group') { loadGroup(); }
    if (status) { renderStatus(); }
    setConn(connState, connRetry);
  }

  function pickLang() {
    try {
      var saved = sessionStorage.getItem('takecare.lang');
      if (saved === 'en' || saved === 'es') { return saved; }
    } catch (e) { /* ignore */ }
    var prefs = navigator.languages || [navigator.language || 'en'];
    for (var i = 0; i < prefs.length; i++) {
      var p = String(prefs[i]).toLowerCase();
      if (p.indexOf('es') === 0) { return 'es'; }
      if (p.indexOf('en') === 0) { return 'en'; }
    }
    return 'en';
  }

  // fillStatic fills the selects whose options do not depend on data.
  function fillStatic() {
    fillSelect($('alert-kind'), KINDS.map(function (k) { return [k, t('kind.' + k)]; }), true);
    fillSelect($('alert-ttl'), ALERT_TTLS.map(function (d) { return [d, durLabel(d)]; }), true);
    if (!$('alert-ttl').dataset.set) { $('alert-ttl').value = '24h'; $('alert-ttl').dataset.set = '1'; }
    var fs = $('alert-severity');
    var chosen = fs.querySelector('input:checked');
    var old = chosen ? chosen.value : '';
    var labels = fs.querySelectorAll('label');
    for (var i = 0; i < labels.length; i++) { fs.removeChild(labels[i]); }
    SEVERITIES.forEach(function (s) {
      var l = el('label', 'chip sev-' + s);
      var r = el('input');
      r.type = 'radio';
      r.name = 'severity';
      r.value = s;
      r.checked = s === old;
      l.appendChild(r);
      l.appendChild(el('span', null, t('severity.' + s)));
      fs.appendChild(l);
    });
    var due = DUE_IN.map(function (d) { return [d, t('checkin.in', { d: durLabel(d) })]; });
    due.push(['at', t('checkin.at_time')]);
    fillSelect($('checkin-due'), due, true);
    if (!$('checkin-due').dataset.set) { $('checkin-due').value = '1h'; $('checkin-due').dataset.set = '1'; }
    fillSelect($('checkin-grace'), GRACES.map(function (d) { return [d, durLabel(d)]; }), true);
    if (!$('checkin-grace').dataset.set) { $('checkin-grace').value = '5m'; $('checkin-grace').dataset.set = '1'; }
    fillSelect($('invite-ttl'), INVITE_TTLS.map(function (d) { return [d, durLabel(d)]; }), true);
    if (!$('invite-ttl').dataset.set) { $('invite-ttl').value = '24h'; $('invite-ttl').dataset.set = '1'; }
    fillSelect($('report-by'), REPORT_BY.map(function (b) { return [b[0], t(b[1])]; }), true);
  }

  // ---- groups and status ----

  function loadGroups() {
    return api('GET', '/v1/status').then(function (st) {
      status = st;
      me = st.member_id;
      groups = st.groups || [];
      renderGroups();
      renderStatus();
      cleared('groups');
    }, function (e) { noticeError(e, 'groups'); });
  }

  function groupName(g) { return g.name; }

  function renderStatus() {
    if (!status) { return; }
    // A wrong clock: alerts still arrive, but the person should know.
    var ck = status.clock, warn = $('clock-warning');
    warn.hidden = !(ck && ck.off);
    warn.textContent = warn.hidden ? '' : t(ck.offset_seconds < 0 ? 'clock.behind' : 'clock.ahead', { d: new Dur(Math.abs(ck.offset_seconds) * 1000) });
    $('status-line').textContent = t('status.line', { name: status.name, id: status.member_id.slice(0, 12), n: status.peers, peers: status.peers, messages: status.messages });
    // Relays: those this node holds a slot on, and what it relays for
    // others (counts only).
    var lines = [];
    if (status.relay_slots > 0) { lines.push(t('status.relay_slots', { n: status.relay_slots })); }
    var r = status.relay;
    if (r) { lines.push(t('status.relaying', { slots: r.reservations, circuits: r.circuits, bytes: bytesWords(r.bytes), refused: r.refused })); }
    $('relay-line').textContent = lines.join(' ');
    $('relay-line').hidden = lines.length === 0;
    renderWarnings();
  }

  // renderWarnings shows what the node says the person should know now
  // (its disk is full, ...), one line each, in the reader's language, for
  // as long as the node says it.
  function renderWarnings() {
    var box = $('warnings');
    var ws = (status && status.warnings) || [];
    clear(box);
    ws.forEach(function (w) {
      var vars = {};
      Object.keys(w.params || {}).forEach(function (k) { vars[k] = w.params[k]; });
      if (vars.since) { vars.since = new At(vars.since); }
      if (vars.why) { vars.why = t('warning.why.' + vars.why); }
      box.appendChild(el('p', null, has('warning.' + w.code) ? t('warning.' + w.code, vars) : w.text));
    });
    box.hidden = ws.length === 0;
  }

  function renderGroups() {
    var active = groups.filter(function (g) { return g.role !== 'removed'; });
    var items = active.map(function (g) { return [g.id, groupName(g)]; });
    fillSelect($('alert-group'), items, true);
    fillSelect($('checkin-group'), items, true);
    var feedItems = [['', t('feed.all')]].concat(groups.map(function (g) { return [g.id, groupName(g)]; }));
    fillSelect($('feed-group'), feedItems, true);
    var esc = [['', t('checkin.escalate_none')]].concat(items);
    fillSelect($('checkin-escalate'), esc, true);

    // One panic control. With several groups it sends to all of them
    // unless one is chosen. The button itself is made once, so that a
    // refresh never cuts a press short.
    var to = [['all', t('panic.to_all', { n: active.length })]].concat(items);
    fillSelect($('panic-to'), to, true);
    $('panic-to-box').hidden = active.length < 2;
    panicLabel();
    $('panic-box').hidden = active.length === 0;
    // The first screen: with no group, say what to do instead of showing
    // an empty feed.
    var none = status !== null && groups.length === 0;
    $('welcome').hidden = !none;
    $('feed-head').hidden = none;
    $('feed-list').hidden = none;
    if (none) { $('feed-empty').hidden = true; } else { $('feed-empty').hidden = $('feed-list').childNodes.length > 0; }
    renderAlarms();

    // Group cards, likewise made again only when something changed.
    var list = $('group-list');
    var gsig = lang + JSON.stringify(groups);
    if (list.tcSig === gsig) { filterFeed(); return; }
    list.tcSig = gsig;
    clear(list);
    groups.forEach(function (g) {
      var card = el('article', 'card group');
      card.appendChild(el('h2', null, g.name));
      var role = g.role === 'admin' ? t('role.admin') : g.role === 'removed' ? t('role.removed') : t('role.member');
      card.appendChild(el('p', null, role + ' · ' + t('groups.members', { n: g.members })));
      var reach = el('p', g.reachable > 0 ? 'ok' : 'warn', g.members <= 1 ? t('groups.alone') :
        g.reachable > 0 ? t('groups.reachable', { n: g.reachable }) : t('groups.unreachable'));
      card.appendChild(reach);
      var row = el('div', 'row');
      row.appendChild(button('secondary', t('groups.open'), function () { currentGroup = g.id; show('group'); }));
      card.appendChild(row);
      list.appendChild(card);
    });
    $('groups-empty').hidden = groups.length > 0;
    filterFeed();
  }

  // ---- panic ----

  // panicTargets are the groups a panic goes to now.
  function panicTargets() {
    var active = groups.filter(function (g) { return g.role !== 'removed'; });
    var v = $('panic-to').value;
    if (active.length < 2 || !v || v === 'all') { return active; }
    return active.filter(function (g) { return g.id === v; });
  }

  function panicLabel() {
    var ts = panicTargets();
    var active = groups.filter(function (g) { return g.role !== 'removed'; });
    $('panic-label').textContent = ts.length === 1 && active.length === 1 ? t('panic.button', { group: ts[0].name }) :
      ts.length > 1 ? t('panic.button_all') : t('panic.button', { group: ts.length ? ts[0].name : '' });
  }

  function names(gs) { return gs.map(function (g) { return g.name; }).join(', '); }

  // wirePanic makes the panic button send after a press held for one
  // second; a tap or a shorter press sends nothing.
  function wirePanic() {
    var b = $('panic');
    var timer = null;
    var sentThisPress = false;
    function begin(ev) {
      if (timer || b.disabled) { return; }
      if (ev && ev.type === 'keydown') {
        if (ev.key !== 'Enter' && ev.key !== ' ') { return; }
        if (ev.repeat) { ev.preventDefault(); return; }
      }
      if (ev) { ev.preventDefault(); }
      unlockSound();
      sentThisPress = false;
      b.classList.add('holding');
      say($('panic-status'), 'panic.holding', null, 'status');
      timer = setTimeout(function () {
        timer = null;
        sentThisPress = true;
        b.classList.remove('holding');
        sendPanic(panicTargets());
      }, 1000);
    }
    function end() {
      if (!timer) { return; }
      clearTimeout(timer);
      timer = null;
      b.classList.remove('holding');
      if (!sentThisPress) { say($('panic-status'), 'panic.too_short', null, 'status error'); }
    }
    if (window.PointerEvent) {
      b.addEventListener('pointerdown', begin);
      b.addEventListener('pointerup', end);
      b.addEventListener('pointerleave', end);
      b.addEventListener('pointercancel', end);
    } else {
      // Older phone browsers (iOS before 13) have touch and mouse events only.
      b.addEventListener('touchstart', begin);
      b.addEventListener('touchend', end);
      b.addEventListener('touchcancel', end);
      b.addEventListener('mousedown', begin);
      b.addEventListener('mouseup', end);
      b.addEventListener('mouseleave', end);
    }
    b.addEventListener('keydown', begin);
    b.addEventListener('keyup', end);
    b.addEventListener('blur', end);
    b.addEventListener('contextmenu', function (ev) { ev.preventDefault(); });
    // A click (a tap, or Enter released at once) is answered by the
    // press handlers above; it never sends by itself.
    $('panic-to').addEventListener('change', panicLabel);
  }

  // sendPanic sends a panic to each group of gs, and says which it reached.
  function sendPanic(gs) {
    var b = $('panic');
    if (!gs.length) { return; }
    b.disabled = true;
    $('panic-undo').hidden = true;
    var st = $('panic-status');
    say(st, 'panic.sending', { group: names(gs) }, 'status');
    var text = $('panic-text').value.trim();
    var sent = [], failed = [], firstErr = null, queued = [], nobody = [];
    Promise.all(gs.map(function (g) {
      return api('POST', '/v1/groups/' + encodeURIComponent(g.id) + '/panic', { text: text }).then(function (r) {
        sent.push(g);
        if (r && r.delivery && r.delivery.queued) { queued.push(g); }
        if (r && r.delivery && r.delivery.tracked && r.delivery.members === 0) { nobody.push(g); }
      }, function (e) {
        failed.push(g);
        firstErr = firstErr || e;
      });
    })).then(function () {
      if (failed.length) {
        say(st, 'panic.failed_some', { groups: names(failed), error: firstErr, sent: names(sent) || '—' }, 'status error');
      } else if (nobody.length) {
        // Honest: nobody can ever read it there.
        say(st, 'panic.nobody', { group: names(nobody) }, 'status error');
      } else if (queued.length) {
        // Honest: nobody has it yet.
        say(st, 'panic.queued', { group: names(queued) }, 'status error');
        $('panic-text').value = '';
      } else {
        say(st, 'panic.sent', { group: names(sent), at: new At(new Date()) }, 'status ok');
        $('panic-text').value = '';
      }
      if (sent.length) {
        lastPanic = sent;
        $('panic-undo').hidden = false;
        if (navigator.vibrate) { navigator.vibrate(200); }
      }
      b.disabled = false;
    });
  }

  // undoPanic tells the groups that got the last panic that all is well,
  // after a confirmation: the button sits away from the panic button, and
  // the sheet asks again, so that a second nervous tap cannot take a real
  // panic back.
  function undoPanic() {
    var gs = lastPanic;
    if (!gs) { return; }
    var body = el('p', null, t('panic.mistake_explain', { group: names(gs) }));
    sheet(t('panic.mistake_title'), body, t('panic.mistake_ok'), 'primary', function () {
      return Promise.all(gs.map(function (g) {
        return api('POST', '/v1/groups/' + encodeURIComponent(g.id) + '/alerts', {
          kind: 'allclear', severity: 'info', mistake: true
        });
      })).then(function () {
        $('panic-undo').hidden = true;
        lastPanic = null;
        say($('panic-status'), 'panic.undone', { group: names(gs) }, 'status ok');
      });
    });
  }

  // ---- the feed ----

  // follow reads GET /v1/feed?follow=1, a stream of JSON Lines, and
  // reconnects with a growing delay when it breaks.
  var backoff = 1000;
  function follow() {
    if (!signedIn) { return; }
    var ctl = window.AbortController ? new AbortController() : null;
    feedAbort = ctl;
    setConn('connecting');
    var streaming = window.ReadableStream && window.TextDecoder && 'body' in Response.prototype;
    fetch('/v1/feed' + (streaming ? '?follow=1' : ''), { headers: headers(false), cache: 'no-store', credentials: 'same-origin', signal: ctl ? ctl.signal : undefined })
      .then(function (res) {
        if (res.status === 401) { signOut('login.refused'); return 'stop'; }
        if (!res.ok) { throw new Error('status ' + res.status); }
        setConn('live');
        streams++;
        backoff = 1000;
        if (!streaming) {
          return res.text().then(function (txt) { txt.split('\n').forEach(line); return 'poll'; });
        }
        var reader = res.body.getReader();
        var dec = new TextDecoder();
        var buf = '';
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) { return 'ended'; }
            buf += dec.decode(r.value, { stream: true });
            var i;
            while ((i = buf.indexOf('\n')) >= 0) {
              line(buf.slice(0, i));
              buf = buf.slice(i + 1);
            }
            return pump();
          });
        }
        return pump();
      })
      .then(function (how) { return how; }, function () { return 'error'; })
      .then(function (how) {
        if (how === 'stop' || feedAbort !== ctl || !signedIn) { return; }
        if (how === 'poll') {
          setTimeout(follow, 5000);
          return;
        }
        // The daemon stopped or the connection broke: try again later,
        // and refresh the rest when it is back.
        var wait = backoff;
        backoff = Math.min(backoff * 2, 30000);
        setConn('retry', wait);
        setTimeout(function () {
          if (feedAbort === ctl && signedIn) { follow(); loadGroups(); loadCheckIns(); }
        }, wait);
      });
  }

  function line(s) {
    s = s.trim();
    if (!s) { return; }
    var e;
    try { e = JSON.parse(s); } catch (err) { return; }
    if (!e || !e.id) { return; }
    upsert(e);
  }

  function upsert(e) {
    var isNew = !entries[e.id];
    entries[e.id] = e;
    var card = renderCard(e);
    var old = cards[e.id];
    cards[e.id] = card;
    var list = $('feed-list');
    if (old && old.parentNode) {
      list.replaceChild(card, old);
    } else {
      // Newest first: find the first card older than this one.
      var t0 = Date.parse(e.created);
      var next = list.firstChild;
      while (next && Date.parse(entries[next.getAttribute('data-id')].created) > t0) { next = next.nextSibling; }
      list.insertBefore(card, next);
      trim();
    }
    filterCard(card, e);
    $('feed-empty').hidden = list.childNodes.length > 0;
    if (isNew && /^(checkin|arrived|overdue|duress)$/.test(e.kind)) { loadCheckInsSoon(); }
    // News raises the alarm: on the first stream, what was created since
    // the page opened (not the backlog the person opens the page to read);
    // after a break, everything new, which includes what was missed. An
    // overdue alarm raises it even when this node raised it (every node
    // watching the check-in does, and the first copy is the one kept).
    if (isNew && (!e.mine || e.kind === 'overdue') && alarming(e) && (streams > 1 || Date.parse(e.created) > bootTime - 10000)) { alarm(e); }
  }

  // ---- alarms: sound, vibration, system notification ----

  function alarming(e) {
    if (e.expires && Date.parse(e.expires) < Date.now()) { return false; }
    return e.severity === 'critical' || e.severity === 'urgent' || /^(panic|overdue|duress)$/.test(e.kind);
  }

  function alarm(e) {
    var who = e.kind === 'overdue' && e.subject ? (e.subject_label || e.subject) : (e.author_label || e.author);
    notice('alarms.arrived', { kind: new Tr('kind.' + e.kind), name: who, group: e.group });
    beep(e.severity === 'critical' ? 3 : 2);
    if (navigator.vibrate) { navigator.vibrate([400, 150, 400, 150, 400]); }
    if (document.hidden) { document.title = '(!) takecare'; }
    if (window.Notification && Notification.permission === 'granted') {
      try {
        // Names only: the text of the alert stays off the lock screen.
        var n = new window.Notification(kindLabel(e.kind) + ' · ' + e.group, { body: who, tag: e.id, requireInteraction: true });
        n.onclick = function () { window.focus(); show('feed'); n.close(); };
      } catch (err) { /* some phone browsers only notify from a service worker */ }
    }
  }

  // Browsers play sound only after the person has touched the page once.
  var audio = null;
  function unlockSound() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) { return; }
    if (!audio) { try { audio = new AC(); } catch (err) { return; } }
    if (audio.state === 'suspended') { audio.resume(); }
  }

  // beep plays n short high tones.
  function beep(n) {
    if (!audio || audio.state !== 'running') { return false; }
    var t0 = audio.currentTime;
    for (var i = 0; i < n; i++) {
      var o = audio.createOscillator(), g = audio.createGain();
      o.type = 'square';
      o.frequency.value = 1760;
      g.gain.setValueAtTime(0.2, t0 + i * 0.35);
      g.gain.setValueAtTime(0, t0 + i * 0.35 + 0.2);
      o.connect(g);
      g.connect(audio.destination);
      o.start(t0 + i * 0.35);
      o.stop(t0 + i * 0.35 + 0.25);
    }
    return true;
  }

  // renderAlarms says what this browser lets the page do when an alarm
  // arrives, and offers to turn notifications on. The browser is asked
  // only when the person presses that button, never on its own.
  function renderAlarms() {
    var box = $('alarms-box');
    var perm = window.Notification ? Notification.permission : 'unsupported';
    // Once notifications are on there is nothing to say or ask.
    box.hidden = !status || groups.length === 0 || perm === 'granted';
    var lines = [];
    lines.push(t({ 'default': 'alarms.notify_default', granted: 'alarms.notify_granted', denied: 'alarms.notify_denied' }[perm] || 'alarms.notify_unsupported'));
    if (!navigator.vibrate) { lines.push(t('alarms.vibrate_no')); }
    if (!audio || audio.state !== 'running') { lines.push(t('alarms.sound_later')); }
    $('alarms-state').textContent = lines.join(' ');
    $('alarms-on').hidden = perm !== 'default';
    box.classList.toggle('blocked', perm === 'denied' || perm === 'unsupported');
  }

  function askNotifications() {
    unlockSound();
    if (!window.Notification) { renderAlarms(); return; }
    var p = Notification.requestPermission(function () { renderAlarms(); });
    if (p && p.then) { p.then(renderAlarms, renderAlarms); }
  }

  function trim() {
    var list = $('feed-list');
    while (list.childNodes.length > MAX_ENTRIES) {
      var last = list.lastChild;
      var id = last.getAttribute('data-id');
      delete entries[id];
      delete cards[id];
      list.removeChild(last);
    }
  }

  function filterCard(card, e) {
    var g = $('feed-group').value;
    card.hidden = !!g && e.group_id !== g;
  }

  function filterFeed() {
    Object.keys(cards).forEach(function (id) { filterCard(cards[id], entries[id]); });
  }

  function renderAllCards() {
    Object.keys(entries).forEach(function (id) {
      var c = renderCard(entries[id]);
      if (cards[id] && cards[id].parentNode) { cards[id].parentNode.replaceChild(c, cards[id]); }
      cards[id] = c;
      filterCard(c, entries[id]);
    });
  }

  function kindLabel(k) {
    var s = t('kind.' + k);
    return s === 'kind.' + k ? k : s;
  }

  function route(from, to) {
    return from ? t('checkin.route', { from: from, to: to }) : t('checkin.route_to', { to: to });
  }

  // ackable says whether this node's member can answer an entry.
  function ackable(e) {
    if (e.kind === 'arrived') { return false; }
    if (e.kind === 'overdue') { return e.subject_id !== me; }
    return !e.mine;
  }

  function renderCard(e) {
    var c = el('article', 'card entry sev-' + e.severity + ' kind-' + e.kind);
    c.setAttribute('data-id', e.id);
    if (e.expires && Date.parse(e.expires) < Date.now()) { c.classList.add('expired'); }
    var head = el('div', 'head');
    head.appendChild(el('span', 'kind', kindLabel(e.kind)));
    if (e.kind !== 'checkin' && e.kind !== 'arrived') { head.appendChild(el('span', 'sev', t('severity.' + e.severity))); }
    head.appendChild(el('span', 'grp', e.group));
    var time = el('time', null, when(e.created));
    time.setAttribute('datetime', e.created);
    head.appendChild(time);
    c.appendChild(head);

    // The label carries the short member id when another member's name can
    // be taken for this one; the badges say admin and verified.
    var who = (e.author_label || e.author) + (e.mine ? ' ' + t('common.you_paren') : '');
    if (e.kind === 'overdue' && e.subject) {
      c.appendChild(el('p', 'who', t('feed.overdue', { name: e.subject_label || e.subject })));
    } else {
      var whoP = el('p', 'who', who);
      if (e.author_admin) { whoP.appendChild(el('span', 'badge', t('role.admin'))); }
      if (e.author_verified) { whoP.appendChild(el('span', 'badge ok', t('members.verified'))); }
      c.appendChild(whoP);
    }
    var where = '';
    if (e.to) {
      where = route(e.from, e.to);
      if (e.due) { where += ' · ' + t('checkin.due_at', { at: whenAt(e.due) }); }
    } else {
      where = [e.region, e.place].filter(Boolean).join(' · ');
    }
    if (where) { c.appendChild(el('p', 'where', where)); }
    if (e.notice) {
      noticeLines(e.notice).forEach(function (s) { c.appendChild(el('p', 'text', s)); });
    } else {
      if (e.text) { c.appendChild(el('p', 'text', e.text)); }
      if (e.kind === 'duress') { c.appendChild(el('p', 'warn', t('feed.duress', { name: e.author_label || e.author }))); }
      if (e.kind === 'overdue' && e.level > 1) { c.appendChild(el('p', 'warn', t('feed.escalated'))); }
    }
    if (e.via) {
      c.appendChild(el('p', 'hint via', t('feed.via_sms', { name: e.author, bridge: e.via.bridge })));
    }
    if (e.author_clock) {
      c.appendChild(el('p', 'hint author-clock', t(e.author_clock < 0 ? 'clock.author_behind' : 'clock.author_ahead', { d: new Dur(Math.abs(e.author_clock) * 1000) })));
    }
    var d = e.delivery;
    if (d && d.tracked) {
      // What became of one's own message: honest about who has it.
      var line = d.handed_to.length
        ? t('delivery.handed', { n: d.handed_to.length, members: d.members, names: d.handed_to.map(function (h) { return h.name; }).join(', ') })
        : t(d.members === 0 ? 'delivery.nobody' : 'delivery.queued');
      if (!d.stored) { line += ' ' + t('delivery.unsaved'); }
      c.appendChild(el('p', 'delivery' + (d.handed_to.length ? '' : ' warn'), line));
    }

    var mine = '';
    if (e.acks && e.acks.length) {
      var acks = el('ul', 'acks');
      e.acks.forEach(function (a) {
        if (a.author_id === me) { mine = a.status; }
        acks.appendChild(el('li', 'ack-' + a.status, t('ack.line', { name: a.author_label || a.author, status: t('ack.' + a.status), time: when(a.time) })));
      });
      c.appendChild(acks);
    }
    if (ackable(e)) {
      var row = el('div', 'row acks-buttons');
      ACKS.forEach(function (s) {
        var b = button('secondary ack-' + s, t('ack.button.' + s), function () { sendAck(e, s, row); });
        b.setAttribute('aria-pressed', mine === s ? 'true' : 'false');
        row.appendChild(b);
      });
      c.appendChild(row);
    }
    return c;
  }

  // noticeLines words what a message the program wrote says (an overdue
  // alarm, a warning), from its fields, in the reader's language and time
  // zone.
  function noticeLines(n) {
    var at = function (iso) { return iso ? whenAt(iso, true) : '?'; };
    if (n.what === 'overdue') {
      var out = [];
      if (n.group) { out.push(t('notice.other_group', { group: n.group })); }
      if (n.level > 1) { out.push(t('feed.escalated')); }
      out.push(t(n.from ? 'notice.overdue_from' : 'notice.overdue', { name: n.who, from: n.from, to: n.to, due: at(n.due), since: at(n.since) }));
      if (n.note) { out.push(t('notice.note', { note: n.note })); }
      return out;
    }
    if (n.what === 'duress') { return [t('notice.duress', { name: n.who, since: at(n.since) })]; }
    if (n.what === 'mistake') { return [t('notice.mistake', { name: n.who })]; }
    return [t('notice.unknown')];
  }

  function sendAck(e, s, row) {
    var bs = row.querySelectorAll('button');
    for (var i = 0; i < bs.length; i++) { bs[i].disabled = true; }
    api('POST', '/v1/messages/' + encodeURIComponent(e.id) + '/acks', { status: s }).then(function (r) {
      if (r && r.entry && r.entry.id) { upsert(r.entry); }
    }, function (err) {
      for (var i = 0; i < bs.length; i++) { bs[i].disabled = false; }
      notice('ack.failed', { error: err });
    });
  }

  // ---- sending an alert ----

  function onAlert(ev) {
    ev.preventDefault();
    var f = ev.target;
    var sev = f.querySelector('input[name=severity]:checked');
    if (!f.group.value) { formStatus(f, 'error.no_group', null, true); return; }
    if (!sev) { formStatus(f, 'alert.need_severity', null, true); return; }
    var body = {
      kind: f.kind.value, severity: sev.value, region: f.region.value.trim(), place: f.place.value.trim(),
      text: f.text.value.trim(), ttl: f.ttl.value
    };
    var b = f.querySelector('button[type=submit]');
    b.disabled = true;
    formStatus(f, 'common.sending');
    var gname = f.group.options[f.group.selectedIndex].text;
    api('POST', '/v1/groups/' + encodeURIComponent(f.group.value) + '/alerts', body).then(function (r) {
      if (r && r.delivery && r.delivery.tracked && r.delivery.members === 0) {
        formStatus(f, 'alert.nobody', { group: gname }, true);
      } else if (r && r.delivery && r.delivery.queued) {
        formStatus(f, 'alert.queued', { group: gname }, true);
      } else {
        formStatus(f, 'alert.sent', { group: gname, at: new At(new Date()) });
      }
      f.place.value = '';
      f.text.value = '';
      sev.checked = false;
    }, function (e) {
      formStatus(f, 'alert.failed', { error: e }, true);
    }).then(function () { b.disabled = false; });
  }

  // ---- check-ins ----

  // loadCheckInsSoon asks for the check-ins once for a burst of feed
  // entries (the backlog on every connection carries many).
  var checkInsSoon = null;
  function loadCheckInsSoon() {
    if (checkInsSoon) { return; }
    checkInsSoon = setTimeout(function () { checkInsSoon = null; loadCheckIns(); }, 200);
  }

  function loadCheckIns() {
    if (!signedIn) { return; }
    api('GET', '/v1/checkins').then(function (cs) {
      checkins = cs || [];
      renderCheckIns();
      cleared('checkins');
    }, function (e) { noticeError(e, 'checkins'); });
  }

  // renderCheckIns lists the open check-ins. The cards are made again only
  // when the check-ins change; otherwise only the time left is updated,
  // so that a refresh never swallows a tap.
  function renderCheckIns() {
    var list = $('checkin-list');
    var sig = lang + JSON.stringify(checkins);
    if (list.tcSig === sig) { tickCheckIns(); return; }
    list.tcSig = sig;
    clear(list);
    checkins.forEach(function (c) {
      var card = el('article', 'card checkin state-' + c.state);
      var head = el('div', 'head');
      head.appendChild(el('span', 'kind', c.mine ? t('checkin.yours') : (c.author_label || c.author)));
      head.appendChild(el('span', 'grp', c.group));
      card.appendChild(head);
      card.appendChild(el('p', 'where', route(c.from, c.to)));
      var left = el('p');
      left.tcCheckin = c;
      timeLeft(left);
      card.appendChild(left);
      if (c.text) { card.appendChild(el('p', 'text', c.text)); }
      if (c.mine) {
        card.appendChild(button('done', t('checkin.done'), function () { confirmDone(c); }));
      }
      list.appendChild(card);
    });
    $('checkin-empty').hidden = checkins.length > 0;
  }

  function tickCheckIns() {
    var ps = $('checkin-list').querySelectorAll('p');
    for (var i = 0; i < ps.length; i++) { if (ps[i].tcCheckin) { timeLeft(ps[i]); } }
  }

  // timeLeft says how long is left before a check-in is due, or how late
  // it is.
  function timeLeft(p) {
    var c = p.tcCheckin, now = Date.now();
    var due = Date.parse(c.due), deadline = Date.parse(c.deadline);
    if (c.state === 'overdue' || c.state === 'escalated' || now >= deadline) {
      p.className = 'warn';
      p.textContent = t('checkin.overdue', { at: whenAt(c.deadline) });
    } else if (now >= due) {
      p.className = 'warn';
      p.textContent = t('checkin.late', { late: durWords(now - due), at: whenAt(c.deadline) });
    } else {
      p.className = 'left';
      p.textContent = t('checkin.left', { at: whenAt(c.due), left: durWords(due - now) });
    }
  }

  // confirmDone asks to confirm an arrival. The sheet has one optional
  // code field. Left empty, the arrival is normal; with anything typed in
  // it, the others are told that this person was forced to report
  // arriving. Either way this screen shows the same thing afterwards, so
  // that whoever is watching cannot tell. docs/GUIDE.md, "The web UI",
  // explains it to users; the screen does not.
  function confirmDone(c) {
    var body = el('div');
    body.appendChild(el('p', null, route(c.from, c.to)));
    var label = el('label', null, t('checkin.code'));
    label.setAttribute('for', 'done-code');
    var code = el('input', 'code-field');
    code.id = 'done-code';
    code.type = 'text';
    code.autocomplete = 'off';
    code.setAttribute('autocomplete', 'off');
    code.setAttribute('autocapitalize', 'off');
    code.setAttribute('spellcheck', 'false');
    code.maxLength = 64;
    body.appendChild(label);
    body.appendChild(code);
    sheet(t('checkin.done_title'), body, t('checkin.done_ok'), 'done', function () {
      var forced = code.value.trim() !== '';
      code.value = '';
      return api('POST', '/v1/checkins/' + encodeURIComponent(c.id) + '/done', { duress: forced }).then(function () {
        notice('checkin.marked', { route: route(c.from, c.to) });
        loadCheckIns();
      });
    });
  }

  function dueTime(f) {
    var now = new Date();
    if (f.due.value !== 'at') { return new Date(now.getTime() + durMs(f.due.value)); }
    var m = /^(\d{1,2}):(\d{2})/.exec(f.at.value);
    if (!m) { return null; }
    var d = new Date(now.getFullYear(), now.getMonth(), now.getDate(), Number(m[1]), Number(m[2]), 0, 0);
    if (d.getTime() <= now.getTime()) { d.setDate(d.getDate() + 1); }
    return d;
  }

  function previewCheckIn() {
    var f = $('checkin-form');
    $('checkin-at-box').hidden = f.due.value !== 'at';
    var d = dueTime(f);
    if (!d) { $('checkin-preview').textContent = ''; return; }
    var alarm = new Date(d.getTime() + durMs(f.grace.value));
    $('checkin-preview').textContent = t('checkin.preview', { due: whenAt(d.toISOString()), alarm: whenAt(alarm.toISOString()) });
  }

  function onCheckIn(ev) {
    ev.preventDefault();
    var f = ev.target;
    if (!f.group.value) { formStatus(f, 'error.no_group', null, true); return; }
    if (!f.to.value.trim()) { formStatus(f, 'checkin.need_to', null, true); return; }
    var due = dueTime(f);
    if (!due) { formStatus(f, 'checkin.need_time', null, true); return; }
    var body = { from: f.from.value.trim(), to: f.to.value.trim(), due: due.toISOString(), grace: f.grace.value, text: f.text.value.trim() };
    if (f.escalate.value && f.escalate.value !== f.group.value) { body.escalate_to = f.escalate.value; }
    var b = f.querySelector('button[type=submit]');
    b.disabled = true;
    formStatus(f, 'common.sending');
    api('POST', '/v1/groups/' + encodeURIComponent(f.group.value) + '/checkins', body).then(function () {
      formStatus(f, 'checkin.started', { route: route(body.from, body.to), at: new At(body.due) });
      f.from.value = '';
      f.to.value = '';
      f.text.value = '';
      loadCheckIns();
    }, function (e) {
      formStatus(f, 'checkin.failed', { error: e }, true);
    }).then(function () { b.disabled = false; });
  }

  // ---- joining and creating groups ----

  function onJoin(ev) {
    ev.preventDefault();
    var f = ev.target;
    var code = f.code.value.replace(/\s+/g, '').toUpperCase();
    if (!code) { return; }
    var b = f.querySelector('button[type=submit]');
    b.disabled = true;
    formStatus(f, 'groups.joining');
    api('POST', '/v1/join', { code: code }).then(function (g) {
      f.code.value = '';
      formStatus(f, g.already ? 'groups.already' : 'groups.joined', { group: g.name, n: g.members });
      loadGroups();
    }, function (e) {
      formStatus(f, 'groups.join_failed', { error: e }, true);
    }).then(function () { b.disabled = false; });
  }

  function onCreate(ev) {
    ev.preventDefault();
    var f = ev.target;
    var name = f.groupname.value.trim();
    if (!name) { return; }
    var b = f.querySelector('button[type=submit]');
    b.disabled = true;
    api('POST', '/v1/groups', { name: name }).then(function (g) {
      f.groupname.value = '';
      formStatus(f, 'groups.created', { group: g.name });
      loadGroups();
    }, function (e) {
      formStatus(f, 'groups.create_failed', { error: e }, true);
    }).then(function () { b.disabled = false; });
  }

  // ---- one group: members and invites ----

  function findGroup(id) {
    for (var i = 0; i < groups.length; i++) { if (groups[i].id === id) { return groups[i]; } }
    return null;
  }

  function gpath(rest) { return '/v1/groups/' + encodeURIComponent(currentGroup) + rest; }

  function loadGroup() {
    var g = findGroup(currentGroup);
    if (!g) { show('groups'); return; }
    $('group-title').textContent = g.name;
    $('group-line').textContent = t('groups.members', { n: g.members }) + ' · ' +
      (g.members <= 1 ? t('groups.alone') : g.reachable > 0 ? t('groups.reachable', { n: g.reachable }) : t('groups.unreachable'));
    var admin = g.role === 'admin';
    $('invites-box').hidden = !admin;
    $('invites-admins-only').hidden = admin;
    $('report-box').hidden = !admin;
    if (!admin || reportFor !== currentGroup) { hideReport(); }
    reportFor = currentGroup;
    api('GET', gpath('/members')).then(function (ms) { renderMembers(ms || [], admin); cleared('group'); }, function (e) { noticeError(e, 'group'); });
    if (admin) {
      api('GET', gpath('/invites')).then(renderInvites, function (e) { noticeError(e, 'group'); });
    }
  }

  function seenText(m) {
    if (m.you) { return t('members.you'); }
    if (!m.last_seen) { return t('members.never'); }
    var ago = Date.now() - Date.parse(m.last_seen);
    if (ago < 60000) { return t('members.seen_now'); }
    return t('members.seen_ago', { ago: durWords(ago) });
  }

  // pathText says how this node reaches a member's node now: "Through
  // Vol's relay for 5 minutes · last sync 2 minutes ago".
  function pathText(m) {
    var since = m.path_since ? new Dur(Date.now() - Date.parse(m.path_since)) : null;
    var s = t('path.' + m.path + (since ? '_for' : ''), { via: m.via, d: since });
    var sync = m.last_sync ? t('path.last_sync', { ago: durWords(Date.now() - Date.parse(m.last_sync)) }) : t('path.no_sync');
    return s + ' · ' + sync;
  }

  function renderMembers(ms, admin) {
    var list = $('member-list');
    clear(list);
    ms.forEach(function (m) {
      var card = el('article', 'card member');
      var head = el('div', 'head');
      head.appendChild(el('span', 'kind', m.label || m.name));
      if (m.role === 'admin') { head.appendChild(el('span', 'badge', t('role.admin'))); }
      if (m.verified) { head.appendChild(el('span', 'badge ok', t('members.verified'))); }
      card.appendChild(head);
      card.appendChild(el('p', 'where', seenText(m)));
      if (m.path) { card.appendChild(el('p', 'where path' + (m.path === 'unreachable' ? ' warn' : ''), pathText(m))); }
      var idp = el('p', 'mono small', m.id.slice(0, 12));
      card.appendChild(idp);
      if (!m.you) {
        var row = el('div', 'row');
        row.appendChild(button('secondary', t('members.safety'), function () { showSafety(m); }));
        if (admin) {
          var to = m.role === 'admin' ? 'member' : 'admin';
          row.appendChild(button('secondary', t(to === 'admin' ? 'members.promote' : 'members.demote'), function () { setRole(m, to); }));
          row.appendChild(button('danger', t('members.remove'), function () { confirmRemove(m); }));
        }
        card.appendChild(row);
      }
      list.appendChild(card);
    });
  }

  function setRole(m, role) {
    api('POST', gpath('/members/' + encodeURIComponent(m.id) + '/role'), { role: role }).then(function (r) {
      notice(role === 'admin' ? 'members.promoted' : 'members.demoted', { name: r.name });
      loadGroups().then(loadGroup);
    }, function (e) { noticeError(e); });
  }

  function confirmRemove(m) {
    var g = findGroup(currentGroup);
    var body = el('p', null, t('members.remove_explain', { name: m.name, group: g ? g.name : '' }));
    sheet(t('members.remove_title', { name: m.name }), body, t('members.remove_ok'), 'danger', function () {
      return api('POST', gpath('/members/' + encodeURIComponent(m.id) + '/remove'), {}).then(function (r) {
        notice('members.removed', { name: r.name });
        loadGroups().then(loadGroup);
      });
    });
  }

  function showSafety(m) {
    api('GET', '/v1/verify/' + encodeURIComponent(m.id)).then(function (v) {
      var body = el('div');
      body.appendChild(el('p', null, t('members.safety_explain', { name: v.name })));
      body.appendChild(el('p', 'code mono', v.safety_number));
      if (v.verified) { body.appendChild(el('p', 'ok', t('members.already_verified'))); }
      sheet(t('members.safety_title', { name: v.name }), body, v.verified ? '' : t('members.verify_ok'), 'primary', function () {
        return api('POST', '/v1/verify/' + encodeURIComponent(m.id), {}).then(function () {
          notice('members.verified_now', { name: v.name });
          loadGroup();
        });
      });
    }, function (e) { noticeError(e); });
  }

  function inviteState(inv) {
    if (inv.revoked) { return t('invites.revoked'); }
    if (inv.used >= inv.uses) { return t('invites.used_up'); }
    if (!inv.open) { return t('invites.expired'); }
    return t('invites.open');
  }

  function renderInvites(invs) {
    var list = $('invite-list');
    clear(list);
    (invs || []).forEach(function (inv) {
      var card = el('article', 'card invite' + (inv.open ? '' : ' closed'));
      var head = el('div', 'head');
      head.appendChild(el('span', 'kind mono', inv.id.slice(0, 8)));
      head.appendChild(el('span', 'badge', inviteState(inv)));
      card.appendChild(head);
      card.appendChild(el('p', null, t('invites.line', { by: inv.by, used: inv.used, uses: inv.uses, at: whenAt(inv.expires) })));
      if (inv.open) {
        card.appendChild(button('danger', t('invites.revoke'), function () { confirmRevoke(inv); }));
      }
      list.appendChild(card);
    });
  }

  function confirmRevoke(inv) {
    sheet(t('invites.revoke_title'), el('p', null, t('invites.revoke_explain', { id: inv.id.slice(0, 8) })), t('invites.revoke_ok'), 'danger', function () {
      return api('POST', gpath('/invites/' + encodeURIComponent(inv.id) + '/revoke'), {}).then(function () {
        notice('invites.revoked_now', { id: inv.id.slice(0, 8) });
        loadGroup();
      });
    });
  }

  var qrURL = '';
  function onInvite(ev) {
    ev.preventDefault();
    var f = ev.target;
    var uses = parseInt(f.uses.value, 10);
    if (!(uses >= 1 && uses <= 1000)) { formStatus(f, 'invites.bad_uses', null, true); return; }
    var b = f.querySelector('button[type=submit]');
    b.disabled = true;
    formStatus(f, 'common.sending');
    api('POST', gpath('/invites'), { uses: uses, ttl: f.ttl.value }).then(function (inv) {
      formStatus(f, 'invites.made', { n: inv.uses, at: new At(inv.expires) });
      hideInvite();
      $('invite-code').textContent = inv.code;
      $('invite-result').hidden = false;
      loadGroup();
      return api('POST', '/v1/qr', { text: inv.code }, true).then(function (blob) {
        qrURL = URL.createObjectURL(blob);
        $('invite-qr').src = qrURL;
        $('invite-qr').alt = t('invites.qr_alt');
        $('invite-qr').hidden = false;
      });
    }).then(null, function (e) {
      formStatus(f, 'invites.failed', { error: e }, true);
    }).then(function () { b.disabled = false; });
  }

  // ---- public counts (admins) ----

  var REPORT_BY = [['month,kind', 'report.by_month_kind'], ['month', 'report.by_month'], ['kind', 'report.by_kind'],
    ['month,region', 'report.by_month_region'], ['kind,region', 'report.by_kind_region']];
  var REPORT_COLS = { month: 'report.col.month', kind: 'report.col.kind', region: 'report.col.region', count: 'report.col.count' };
  var reportURLs = [];
  var reportFor = null; // the group whose counts are shown

  function hideReport() {
    reportURLs.forEach(function (u) { URL.revokeObjectURL(u); });
    reportURLs = [];
    $('report-result').hidden = true;
  }

  function reportQuery(f, format) {
    var q = 'by=' + encodeURIComponent(f.by.value) + '&format=' + format;
    if (f.since.value) { q += '&since=' + encodeURIComponent(new Date(f.since.value + 'T00:00:00').toISOString().replace(/\.\d+Z$/, 'Z')); }
    return gpath('/report?' + q);
  }

  function onReport(ev) {
    ev.preventDefault();
    var f = ev.target;
    if (f.since.value && !/^\d{4}-\d{2}-\d{2}$/.test(f.since.value)) { formStatus(f, 'report.bad_since', null, true); return; }
    var b = f.querySelector('button[type=submit]');
    b.disabled = true;
    formStatus(f, 'report.counting');
    hideReport();
    api('GET', reportQuery(f, 'json')).then(function (r) {
      renderReport(r);
      formStatus(f, r.cells.length ? 'report.done' : 'report.none', { n: r.cells.length });
      return Promise.all([api('GET', reportQuery(f, 'csv'), undefined, true), api('GET', reportQuery(f, 'svg'), undefined, true)]);
    }).then(function (blobs) {
      var csv = URL.createObjectURL(blobs[0]), svg = URL.createObjectURL(blobs[1]);
      reportURLs.push(csv, svg);
      $('report-csv').href = csv;
      $('report-svg').href = svg;
      $('report-chart').src = svg;
      $('report-chart').alt = t('report.chart_alt');
      $('report-result').hidden = false;
    }).then(null, function (e) {
      formStatus(f, 'report.failed', { error: e }, true);
    }).then(function () { b.disabled = false; });
  }

  function renderReport(r) {
    var tbl = $('report-table');
    clear(tbl);
    var head = el('tr');
    r.by.concat(['count']).forEach(function (c) {
      var th = el('th', null, t(REPORT_COLS[c]));
      th.scope = 'col';
      head.appendChild(th);
    });
    var thead = el('thead');
    thead.appendChild(head);
    tbl.appendChild(thead);
    var body = el('tbody');
    r.cells.forEach(function (c) {
      var tr = el('tr');
      r.by.forEach(function (d) { tr.appendChild(el('td', null, d === 'kind' ? kindLabel(c.kind) : c[d])); });
      tr.appendChild(el('td', 'num', c.suppressed ? t('report.hidden', { n: r.threshold }) : String(c.count)));
      body.appendChild(tr);
    });
    tbl.appendChild(body);
  }

  function hideInvite() {
    $('invite-result').hidden = true;
    $('invite-code').textContent = '';
    $('invite-qr').hidden = true;
    $('invite-qr').removeAttribute('src');
    if (qrURL) { URL.revokeObjectURL(qrURL); qrURL = ''; }
  }

  function copyInvite() {
    var code = $('invite-code').textContent;
    var done = function () { notice('invites.copied'); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(code).then(done, selectCode);
    } else {
      selectCode();
    }
  }

  function selectCode() {
    var r = document.createRange();
    r.selectNodeContents($('invite-code'));
    var s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
    notice('invites.select');
  }

  // ---- the sheet (confirmations) ----

  var sheetAction = null;
  function sheet(title, body, okText, okClass, action) {
    $('sheet-title').textContent = title;
    var b = $('sheet-body');
    clear(b);
    b.appendChild(body);
    $('sheet-error').hidden = true;
    var ok = $('sheet-ok');
    ok.textContent = okText;
    ok.className = okClass || 'primary';
    ok.hidden = !okText;
    ok.disabled = false;
    sheetAction = action;
    $('sheet').hidden = false;
    // Focus stays off any field: a keyboard popping up would make one
    // sheet look different from another.
    $('sheet-cancel').focus();
  }

  function closeSheet() {
    $('sheet').hidden = true;
    clear($('sheet-body'));
    sheetAction = null;
  }

  function onSheetOK() {
    if (!sheetAction) { closeSheet(); return; }
    var ok = $('sheet-ok');
    ok.disabled = true;
    var p;
    try { p = sheetAction(); } catch (e) { p = Promise.reject(e); }
    Promise.resolve(p).then(closeSheet, function (e) {
      ok.disabled = false;
      say($('sheet-error'), 'common.error', { error: e });
      $('sheet-error').hidden = false;
    });
  }

  // ---- start ----

  function start() {
    signedIn = true;
    stopAll();
    $('login-error').hidden = true;
    show('feed');
    loadGroups();
    loadCheckIns();
    follow();
    timers.push(setInterval(function () { if (!document.hidden) { loadGroups(); } }, 15000));
    timers.push(setInterval(function () {
      if (document.hidden) { return; }
      if (view === 'checkins') { loadCheckIns(); } else { renderCheckIns(); }
      if (view === 'checkins') { previewCheckIn(); }
    }, 15000));
  }

  function wire() {
    $('lang').addEventListener('click', function () {
      lang = lang === 'es' ? 'en' : 'es';
      try { sessionStorage.setItem('takecare.lang', lang); } catch (e) { /* memory only */ }
      applyLang();
    });
    $('notice-close').addEventListener('click', function () { notice(''); });
    $('login-form').addEventListener('submit', onLogin);
    $('pair-form').addEventListener('submit', onPair);
    $('pin-form').addEventListener('submit', onPIN);
    $('sign-out').addEventListener('click', onSignOut);
    // The page's own files are kept by a service worker, so that it opens
    // (and can be installed as an app) when the node is not running.
    if ('serviceWorker' in navigator) { navigator.serviceWorker.register('sw.js').then(null, function () { /* not offered here */ }); }
    $('alert-form').addEventListener('submit', onAlert);
    $('checkin-form').addEventListener('submit', onCheckIn);
    $('checkin-form').addEventListener('change', previewCheckIn);
    $('join-form').addEventListener('submit', onJoin);
    $('create-form').addEventListener('submit', onCreate);
    $('invite-form').addEventListener('submit', onInvite);
    $('report-form').addEventListener('submit', onReport);
    $('invite-copy').addEventListener('click', copyInvite);
    $('invite-hide').addEventListener('click', hideInvite);
    $('group-back').addEventListener('click', function () { hideInvite(); show('groups'); });
    $('feed-group').addEventListener('change', filterFeed);
    $('panic-undo').addEventListener('click', undoPanic);
    $('alarms-on').addEventListener('click', askNotifications);
    $('alarms-test').addEventListener('click', function () { unlockSound(); setTimeout(function () { beep(2); renderAlarms(); }, 50); });
    $('welcome-join-form').addEventListener('submit', onJoin);
    $('welcome-create-form').addEventListener('submit', onCreate);
    // Any touch or key lets the page play the alarm sound later.
    document.addEventListener('pointerdown', function () { unlockSound(); setTimeout(renderAlarms, 50); }, { once: true });
    document.addEventListener('keydown', function () { unlockSound(); setTimeout(renderAlarms, 50); }, { once: true });
    wirePanic();
    $('sheet-ok').addEventListener('click', onSheetOK);
    $('sheet-cancel').addEventListener('click', closeSheet);
    document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape' && !$('sheet').hidden) { closeSheet(); } });
    // The address with the token pasted into a tab that is already open.
    window.addEventListener('hashchange', function () {
      if (location.hash.indexOf('token=') < 0) { return; }
      readToken();
      if (token && strings) { enter(); }
    });
    document.addEventListener('visibilitychange', function () { if (!document.hidden) { document.title = 'takecare'; } });
    var navs = document.querySelectorAll('#nav button');
    for (var i = 0; i < navs.length; i++) {
      navs[i].addEventListener('click', function (ev) {
        if (view === 'group') { hideInvite(); }
        show(ev.currentTarget.getAttribute('data-view'));
      });
    }
  }

  function boot() {
    readToken();
    wire();
    fetch('i18n.json', { cache: 'no-store', credentials: 'omit' }).then(function (r) { return r.json(); }).then(function (s) {
      strings = s;
      lang = pickLang();
      applyLang();
      enter();
    }, function () {
      $('notice-text').textContent = 'takecare: i18n.json';
      $('notice').hidden = false;
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', boot);
  } else {
    boot();
  }
})();
