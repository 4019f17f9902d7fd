// takecare's service worker: the page's own files, kept so that the page
// opens (and says that the node cannot be reached) when the daemon is not
// running, and so that the page can be installed as an app. Nothing from
// the API (/v1/...) is ever kept: names, places and alert text stay in
// the node. Each file is fetched from the node first, and the kept copy is
// used only when the node does not answer.
'use strict';

var SHELL = 'takecare-shell-1';
var FILES = ['/', 'app.js', 'style.css', 'i18n.json', 'icon.svg', 'icon-192.png', 'icon-512.png', 'manifest.webmanifest'];

self.addEventListener('install', function (ev) {
  ev.waitUntil(caches.open(SHELL).then(function (c) { return c.addAll(FILES); }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (ev) {
  ev.waitUntil(caches.keys().then(function (ks) {
    return Promise.all(ks.filter(function (k) { return k !== SHELL; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener('fetch', function (ev) {
  var url = new URL(ev.request.url);
  if (ev.request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.indexOf('/v1/') === 0) { return; }
  var key = ev.request.mode === 'navigate' ? '/' : ev.request;
  ev.respondWith(fetch(ev.request).then(function (res) {
    if (res.ok) {
      var copy = res.clone();
      caches.open(SHELL).then(function (c) { c.put(key, copy); });
    }
    return res;
  }, function () {
    return caches.match(key, { ignoreSearch: true }).then(function (r) { return r || Response.error(); });
  }));
});
