// Small progressive enhancements for hub forms; every form works without them.
//  - [data-copy=ID] buttons copy the value of #ID (secrets shown once) and say so
//  - [data-select-on-focus] inputs select their whole value when focused
//  - [data-show-when="SELECT_ID=value"] fields show only while that select has that value
//  - form[data-confirm] asks before submitting
(function () {
  'use strict';
  function all(selector) {
    return Array.prototype.slice.call(document.querySelectorAll(selector));
  }

  all('[data-copy]').forEach(function (button) {
    var input = document.getElementById(button.dataset.copy);
    var status = document.querySelector('[data-copy-status="' + button.dataset.copy + '"]');
    if (!input) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      var done = function () {
        if (status) status.textContent = 'Copied to the clipboard.';
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = 'Copy'; }, 2000);
      };
      var fallback = function () {
        input.focus();
        input.select();
        var ok = false;
        try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
        if (ok) done();
        else if (status) status.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
      };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, fallback);
      else fallback();
    });
  });

  all('[data-select-on-focus]').forEach(function (input) {
    input.addEventListener('focus', function () { input.select(); });
  });

  all('[data-show-when]').forEach(function (field) {
    var parts = field.dataset.showWhen.split('=');
    var select = document.getElementById(parts[0]);
    if (!select) return;
    var update = function () {
      field.hidden = select.value !== parts[1];
    };
    select.addEventListener('change', function () {
      update();
      if (!field.hidden) {
        var input = field.querySelector('input');
        if (input) input.focus();
      }
    });
    update();
  });

  all('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // a secret shown once gets the focus, so it is announced and easy to copy
  var secret = document.querySelector('[data-secret-notice]');
  if (secret) secret.focus();
})();
