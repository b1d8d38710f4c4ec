// Follows the spawn's progress events and moves on to the server once it is ready.
(function () {
  const root = document.getElementById('spawn-progress');
  if (!root) return;
  const bar = document.getElementById('progress-bar');
  const message = document.getElementById('progress-message');
  const log = document.getElementById('progress-log');
  const actions = document.getElementById('progress-actions');
  const next = root.dataset.next;
  const source = new EventSource(root.dataset.progressUrl);
  source.onmessage = (event) => {
    const data = JSON.parse(event.data);
    bar.value = data.progress;
    bar.textContent = data.progress + '%';
    message.textContent = data.message;
    const item = document.createElement('li');
    item.textContent = data.message;
    log.appendChild(item);
    if (data.ready) {
      source.close();
      message.textContent = 'Server ready. Opening it…';
      window.location.replace(next || data.url);
    } else if (data.failed) {
      source.close();
      root.classList.add('failed');
      actions.hidden = false;
    }
  };
  source.onerror = () => {
    // the stream ends after the last event; a real failure shows up as no ready/failed event
    if (source.readyState === EventSource.CLOSED && !root.classList.contains('failed')) {
      setTimeout(() => window.location.reload(), 1500);
    }
  };
})();
