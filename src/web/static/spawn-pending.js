// Follows a spawn's progress events, shows them, and moves on to the server once it is ready.
// On failure it shows the reason and the Try again button (rendered by the server, hidden until now).
(function () {
  'use strict';
  var root = document.getElementById('spawn-progress');
  if (!root || root.dataset.state === 'failed') return;
  var bar = document.getElementById('progress-bar');
  var percent = document.getElementById('progress-percent');
  var message = document.getElementById('progress-message');
  var log = document.getElementById('progress-log');
  var failure = document.getElementById('progress-failure');
  var reason = document.getElementById('failure-reason');
  var heading = root.querySelector('h1');
  var next = root.dataset.next;
  var finished = false;

  function clock() {
    var now = new Date();
    return [now.getHours(), now.getMinutes(), now.getSeconds()].map(function (n) { return String(n).padStart(2, '0'); }).join(':');
  }
  function addLog(text) {
    var item = document.createElement('li');
    var time = document.createElement('span');
    time.className = 'time';
    time.textContent = clock();
    item.appendChild(time);
    item.appendChild(document.createTextNode(text));
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }
  function setProgress(value) {
    var n = Math.max(0, Math.min(100, Math.round(value)));
    bar.value = n;
    if (percent) percent.textContent = n + '%';
  }

  // EventSource cannot send headers: the session's CSRF token goes in the query, or the hub treats the
  // stream as anonymous
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  var progressUrl = root.dataset.progressUrl;
  var source = new EventSource(progressUrl + (progressUrl.indexOf('?') === -1 ? '?' : '&') + '_xsrf=' + encodeURIComponent(csrf));
  source.onmessage = function (event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (typeof data.progress === 'number') setProgress(data.progress);
    if (data.message) {
      message.textContent = data.message;
      addLog(data.message);
    }
    if (data.ready) {
      finished = true;
      source.close();
      root.classList.add('done');
      message.textContent = 'Server ready. Opening it…';
      window.location.replace(next || data.url);
    } else if (data.failed) {
      finished = true;
      source.close();
      root.classList.add('failed');
      root.dataset.state = 'failed';
      if (percent) percent.textContent = '';
      message.textContent = 'The server failed to start.';
      if (heading) heading.textContent = heading.textContent.replace(/^Starting (.*)$/, function (_, rest) { return rest.charAt(0).toUpperCase() + rest.slice(1) + ' did not start'; });
      reason.textContent = (data.message || '').replace(/^Spawn failed:\s*/, '') || 'The server stopped before it was ready.';
      if (data.detail) {
        document.getElementById('failure-detail').textContent = data.detail;
        document.getElementById('failure-detail-box').hidden = false;
      }
      failure.hidden = false;
      failure.focus();
      document.title = 'Server did not start · Refinery';
    }
  };
  source.onerror = function () {
    // the stream ended without ready/failed (hub restarted, or the start was cancelled): the page
    // itself knows what happened now, so ask it again
    if (!finished && source.readyState === EventSource.CLOSED) {
      setTimeout(function () { window.location.reload(); }, 2000);
    }
  };
  window.addEventListener('pagehide', function () { source.close(); });
})();
