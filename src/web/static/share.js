// Name suggestions on the share page: as the owner types, the datalist offers people (or groups,
// following the "Share with" choice) whose names start with what was typed. Without it the field
// is an ordinary text input.
(function () {
  'use strict';
  var input = document.getElementById('share-name');
  var kind = document.getElementById('share-kind');
  var list = document.getElementById('share-suggestions');
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  if (!input || !kind || !list || !csrfMeta) return;
  var csrf = csrfMeta.getAttribute('content');
  var pending = null;
  var asked = '';

  function suggest() {
    var q = input.value.trim();
    var key = kind.value + ':' + q;
    if (!q || key === asked) return;
    asked = key;
    var url = input.dataset.suggestUrl + '?kind=' + encodeURIComponent(kind.value) + '&q=' + encodeURIComponent(q);
    fetch(url, { headers: { 'X-XSRFToken': csrf, Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (res) { return res.ok ? res.json() : []; })
      .then(function (names) {
        if (asked !== key) return;
        list.textContent = '';
        names.forEach(function (name) {
          var option = document.createElement('option');
          option.value = name;
          list.appendChild(option);
        });
      })
      .catch(function () { /* suggestions are a convenience: typing the whole name still works */ });
  }

  input.addEventListener('input', function () {
    clearTimeout(pending);
    pending = setTimeout(suggest, 150);
  });
  kind.addEventListener('change', function () {
    list.textContent = '';
    asked = '';
    suggest();
  });
})();
