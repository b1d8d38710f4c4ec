// Live server status on the home and admin pages. Elements marked `.live-server` carry data-user,
// data-server and data-phase; their buttons say in data-show which phases they belong to. While any
// server is starting or stopping, this polls the REST API (with the session cookie and its CSRF token,
// without which the hub treats a script's request as anonymous) and flips what is shown; a starting server on the home page also follows its progress stream. Without JavaScript the
// page still works: every button is an ordinary form.
(function () {
  'use strict';
  var POLL_MS = 2500;
  var LABELS = { running: 'Running', starting: 'Starting', stopping: 'Stopping', stopped: 'Stopped' };
  var sources = new Map();
  var timer = null;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  /** EventSource cannot send headers: the token goes in the query. */
  function withCsrf(url) {
    return url + (url.indexOf('?') === -1 ? '?' : '&') + '_xsrf=' + encodeURIComponent(csrf);
  }

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }
  function servers() {
    return all('.live-server[data-user]');
  }
  function isBusy(phase) {
    return phase === 'starting' || phase === 'stopping';
  }
  function phaseOf(model) {
    if (!model) return 'stopped';
    if (model.pending === 'spawn') return 'starting';
    if (model.pending === 'stop') return 'stopping';
    if (model.ready) return 'running';
    return 'stopped';
  }

  var relative = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat('en', { numeric: 'auto' }) : null;
  var UNITS = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];
  function relativeTime(iso) {
    var seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
    if (Math.abs(seconds) < 45 || !relative) return 'just now';
    for (var i = 0; i < UNITS.length; i++) {
      if (Math.abs(seconds) >= UNITS[i][1] || i === UNITS.length - 1) return relative.format(Math.round(seconds / UNITS[i][1]), UNITS[i][0]);
    }
    return 'just now';
  }
  function setTime(el, iso) {
    if (!el) return;
    el.textContent = '';
    if (!iso) {
      var none = document.createElement('span');
      none.className = 'muted';
      none.textContent = el.dataset.empty !== undefined ? el.dataset.empty : 'never';
      el.appendChild(none);
      return;
    }
    var time = document.createElement('time');
    time.dateTime = iso;
    time.title = iso.replace('T', ' ').slice(0, 16) + ' UTC';
    time.textContent = relativeTime(iso);
    el.appendChild(time);
  }

  function showError(el, message) {
    var box = el.querySelector('[data-role="error"]');
    if (!box) return;
    var text = box.querySelector('[data-role="error-text"]') || box;
    if (message) text.textContent = message;
    box.hidden = !message;
  }

  function applyPhase(el, phase) {
    var before = el.dataset.phase;
    el.dataset.phase = phase;
    var pill = el.querySelector('[data-role="status"]');
    if (pill) {
      pill.className = 'status status-' + phase;
      pill.textContent = LABELS[phase] || phase;
    }
    all('[data-show]', el).forEach(function (item) {
      item.hidden = item.dataset.show.split(' ').indexOf(phase) === -1;
    });
    var progress = el.querySelector('[data-role="progress"]');
    if (progress) progress.hidden = phase !== 'starting';
    if (phase !== 'stopped') showError(el, '');
    if (phase === 'starting' && before !== 'starting') {
      var bar = el.querySelector('[data-role="progress"] progress');
      if (bar) bar.value = 0;
    }
    if (phase === 'starting') follow(el);
    else unfollow(el);
  }

  /** Inline progress for a starting server (home page cards have a progress block). */
  function follow(el) {
    var url = el.dataset.progressUrl;
    var block = el.querySelector('[data-role="progress"]');
    if (!url || !block || sources.has(el) || typeof EventSource === 'undefined') return;
    var bar = block.querySelector('progress');
    var message = block.querySelector('[data-role="progress-message"]');
    var source = new EventSource(withCsrf(url));
    sources.set(el, source);
    source.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (bar && typeof data.progress === 'number') bar.value = data.progress;
      if (message && data.message) message.textContent = data.message;
      if (data.ready) {
        unfollow(el);
        applyPhase(el, 'running');
        refresh();
      } else if (data.failed) {
        unfollow(el);
        applyPhase(el, 'stopped');
        showError(el, data.message || 'The server failed to start.');
        refresh();
      }
    };
    source.onerror = function () {
      // the stream closes after its last event, or the server stopped starting: polling takes over
      if (source.readyState === EventSource.CLOSED) unfollow(el);
    };
  }
  function unfollow(el) {
    var source = sources.get(el);
    if (source) {
      source.close();
      sources.delete(el);
    }
  }

  function updateFromModel(user, model) {
    var models = (model && model.servers) || {};
    servers().forEach(function (el) {
      if (el.dataset.user !== user) return;
      var name = el.dataset.server || '';
      var server = models[name];
      if (!server && name) {
        // a named server that was deleted: its card goes
        unfollow(el);
        el.remove();
        return;
      }
      var phase = phaseOf(server);
      if (phase !== el.dataset.phase) applyPhase(el, phase);
      if (server) {
        setTime(el.querySelector('[data-role="last-activity"]'), server.last_activity);
        setTime(el.querySelector('[data-role="started"]'), server.started);
      }
    });
  }

  function usersToWatch() {
    var users = [];
    servers().forEach(function (el) {
      if (isBusy(el.dataset.phase) && users.indexOf(el.dataset.user) === -1) users.push(el.dataset.user);
    });
    return users;
  }

  function refresh() {
    var users = usersToWatch();
    if (!users.length) return Promise.resolve();
    return Promise.all(users.map(function (user) {
      return fetch('/hub/api/users/' + encodeURIComponent(user) + '?include_stopped_servers=1', {
        credentials: 'same-origin',
        headers: { Accept: 'application/json', 'X-XSRFToken': csrf },
      }).then(function (res) {
        if (res.status === 403 || res.status === 401) {
          window.location.reload(); // signed out elsewhere: let the page send us to sign in
          return;
        }
        if (!res.ok) return;
        return res.json().then(function (model) { updateFromModel(user, model); });
      }).catch(function () { /* the hub is briefly unreachable: try again next time */ });
    }));
  }

  function schedule() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      refresh().then(function () {
        if (usersToWatch().length) schedule();
      });
    }, POLL_MS);
  }

  servers().forEach(function (el) {
    if (el.dataset.phase === 'starting') follow(el);
  });
  if (usersToWatch().length) schedule();
  // after the tab was in the background, catch up at once
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible' && usersToWatch().length) refresh().then(schedule);
  });
  window.addEventListener('pagehide', function () {
    sources.forEach(function (source) { source.close(); });
    sources.clear();
  });
})();
