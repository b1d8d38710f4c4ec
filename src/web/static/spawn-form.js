// The spawn form, enhanced. Without this script every control is an ordinary form field and the hub
// checks everything when the form is posted; with it:
//  - sizes and profiles follow the chosen image (unavailable sizes disabled, other images' profiles
//    hidden), options show only under the chosen profile, "Other…" reveals its text field
//  - a search box filters the image cards
//  - environment variables get Add and Remove buttons instead of fixed empty rows
//  - the summary and the Review panel follow every change: the panel asks the hub for the plan it
//    would start (POST /hub/api/users/<name>/spawn-plan, cookie plus X-XSRFToken), and a choice the
//    hub refuses is shown next to its field at once
//  - "Other…" values are checked with the hub's own rule before the form is sent
(function () {
  'use strict';
  var form = document.getElementById('spawn-form');
  if (!form) return;
  var UNLISTED = 'unlisted_choice';
  var user = form.dataset.user;
  var server = form.dataset.server || '';
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';

  function all(selector, root) {
    return Array.prototype.slice.call((root || form).querySelectorAll(selector));
  }
  /** The checked, enabled radio of a group, or null. */
  function checked(name) {
    var input = form.querySelector('input[name="' + name + '"]:checked');
    return input && !input.disabled ? input : null;
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function sentence(text) {
    var s = String(text || '');
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + '.';
  }

  all('.nojs-only').forEach(function (node) { node.hidden = true; });

  // ------------------------------------------------------------ formatting (as the server does)

  function trim(n, digits) {
    return String(Number(n.toFixed(digits === undefined ? 2 : digits)));
  }
  function round10(x) {
    return Math.abs(x * 10 - Math.round(x * 10)) < 1e-9;
  }
  function formatBytes(bytes) {
    if (bytes < 1000) return bytes + ' B';
    var dec = ['kB', 'MB', 'GB', 'TB', 'PB'];
    var bin = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    for (var p = dec.length; p >= 1; p--) {
      var d = bytes / Math.pow(1000, p);
      if (d >= 1 && round10(d)) return trim(d, 1) + ' ' + dec[p - 1];
      var b = bytes / Math.pow(1024, p);
      if (b >= 1 && round10(b)) return trim(b, 1) + ' ' + bin[p - 1];
    }
    var power = Math.min(dec.length, Math.floor(Math.log10(bytes) / 3));
    return trim(bytes / Math.pow(1000, power), 1) + ' ' + dec[power - 1];
  }
  function formatCpu(cores) {
    return trim(cores) + ' ' + (cores > 1 ? 'CPUs' : 'CPU');
  }

  // ------------------------------------------------------------ image → sizes → profile → options

  var imageCards = all('[data-image-card]');
  var sizeInputs = all('input[name="size"]');
  var sizeGroup = document.getElementById('size-group');
  var profileGroup = document.getElementById('profile-group');
  var profileItems = all('[data-profile-item]');

  function cardOf(input) {
    return input ? input.closest('[data-image-card], [data-size-card]') : null;
  }
  function titleOf(card) {
    var title = card && card.querySelector('[data-title]');
    return title ? title.textContent : '';
  }
  function withDefault(inputs, isDefault) {
    return inputs.filter(isDefault)[0] || inputs[0] || null;
  }

  function applyImage() {
    var card = cardOf(checked('image'));
    var imageName = titleOf(card) || 'this image';
    if (sizeInputs.length) {
      var allowed = card ? card.dataset.sizes.split(' ').filter(Boolean) : [];
      sizeInputs.forEach(function (input) {
        var ok = allowed.indexOf(input.value) !== -1;
        var sizeCard = cardOf(input);
        input.disabled = !ok;
        sizeCard.classList.toggle('is-unavailable', !ok);
        var note = sizeCard.querySelector('[data-role="unavailable"]');
        note.textContent = 'Not available with ' + imageName;
        note.hidden = ok;
      });
      if (!checked('size')) {
        var enabled = sizeInputs.filter(function (i) { return !i.disabled; });
        var pick = withDefault(enabled, function (i) { return cardOf(i).hasAttribute('data-default'); });
        if (pick) pick.checked = true;
      }
      if (sizeGroup) sizeGroup.hidden = allowed.length === 0;
    }
    if (profileItems.length) {
      var offered = card ? card.dataset.profiles.split(' ').filter(Boolean) : [];
      profileItems.forEach(function (item) {
        var ok = offered.indexOf(item.dataset.profileItem) !== -1;
        item.hidden = !ok;
        item.querySelector('input[name="profile"]').disabled = !ok;
      });
      if (profileGroup) profileGroup.hidden = offered.length === 0;
      if (!checked('profile')) {
        var radios = profileItems.filter(function (i) { return !i.hidden; }).map(function (i) { return i.querySelector('input[name="profile"]'); });
        var first = withDefault(radios, function (r) { return r.closest('[data-profile-item]').hasAttribute('data-default'); });
        if (first) first.checked = true;
      }
    }
    applyCluster();
    applyProfile();
  }

  // ------------------------------------------------------------ the cluster card

  var clusterGroup = document.getElementById('cluster-group');
  var sizings = clusterGroup ? JSON.parse(clusterGroup.dataset.sizings) : {};
  var clusterImage = clusterGroup ? clusterGroup.dataset.image : null;
  var GIB = 1024 * 1024 * 1024;
  var CLUSTER_KEYS = ['workers', 'worker_cores', 'worker_memory'];
  var KIND_NAMES = { spark: 'Spark', dask: 'Dask' };
  function clusterInput(key) {
    return clusterGroup.querySelector('[data-cluster-control="' + key + '"] input[type="number"]');
  }
  function clusterRange(key) {
    return clusterGroup.querySelector('[data-cluster-control="' + key + '"] input[type="range"]');
  }
  function roomOr(value) { return value === null || value === undefined ? Infinity : value; }
  /** Each control's largest value with the other two as they are: the same sums as the hub's (cluster-choices.ts). */
  function updateClusterLimits() {
    var sizing = sizings[clusterImage];
    if (!sizing) return;
    var workers = Math.max(1, Number(clusterInput('workers').value) || 1);
    var cores = Math.max(1, Number(clusterInput('worker_cores').value) || 1);
    var memory = Math.max(0.5, Number(clusterInput('worker_memory').value) || 0.5) * GIB;
    var room = sizing.room;
    var max = {
      workers: Math.min(64, roomOr(room.workers), Math.floor(roomOr(room.cores) / cores), Math.floor(roomOr(room.memory) / memory)),
      worker_cores: Math.min(256, Math.floor(roomOr(room.cores) / workers)),
      worker_memory: Math.min(1024, Math.floor(roomOr(room.memory) / workers / (GIB / 2)) / 2),
    };
    CLUSTER_KEYS.forEach(function (key) {
      var input = clusterInput(key);
      var range = clusterRange(key);
      input.max = String(max[key]);
      range.max = String(max[key]);
      if (input.value !== '') range.value = input.value;
      var line = clusterGroup.querySelector('[data-limit="' + key + '"]');
      line.textContent = (input.value || '?') + ' of at most ' + max[key] + ' ' + input.dataset.unit;
      line.classList.toggle('over', Number(input.value) > max[key]);
    });
  }
  function applyCluster() {
    if (!clusterGroup) return;
    var image = checked('image');
    var sizing = image ? sizings[image.value] : null;
    clusterGroup.hidden = !sizing;
    all('input', clusterGroup).forEach(function (input) { input.disabled = !sizing; });
    if (!sizing) return;
    if (image.value !== clusterImage) {
      // another image: its own cluster's defaults
      clusterImage = image.value;
      CLUSTER_KEYS.forEach(function (key) { clusterInput(key).value = sizing.values[key]; });
    }
    var kind = clusterGroup.querySelector('[data-cluster-kind]');
    if (kind) kind.textContent = KIND_NAMES[sizing.kind] || sizing.kind;
    updateClusterLimits();
  }
  if (clusterGroup) {
    all('[data-range-for]', clusterGroup).forEach(function (range) { range.hidden = false; });
    clusterGroup.addEventListener('input', function (event) {
      var target = event.target;
      if (target.dataset.rangeFor) document.getElementById(target.dataset.rangeFor).value = target.value;
      updateClusterLimits();
    });
  }

  function applyProfile() {
    var current = checked('profile');
    profileItems.forEach(function (item) {
      var on = !item.hidden && !!current && current.value === item.dataset.profileItem;
      item.classList.toggle('is-checked', on);
      var block = item.querySelector('[data-profile-options]');
      if (!block) return;
      block.hidden = !on;
      all('select, input', block).forEach(function (control) { control.disabled = !on; });
    });
    all('select[data-option-select]').forEach(applyOption);
    updateSummary();
  }

  function applyOption(select) {
    var option = select.options[select.selectedIndex];
    var hint = select.parentNode.querySelector('[data-choice-hint]');
    if (hint) hint.textContent = (option && option.dataset.description) || '';
    var otherId = select.dataset.otherInput;
    if (!otherId) return;
    var input = document.getElementById(otherId);
    var on = select.value === UNLISTED && !select.disabled;
    input.closest('[data-other-for]').hidden = !on;
    input.disabled = !on;
    return input;
  }

  function updateSummary() {
    var image = form.querySelector('[data-summary="image"]');
    if (image) image.textContent = titleOf(cardOf(checked('image'))) || '—';
    var size = form.querySelector('[data-summary="size"]');
    if (size) {
      var sizeCard = cardOf(checked('size'));
      size.textContent = sizeCard ? titleOf(sizeCard) + ' ' : '—';
      if (sizeCard) size.appendChild(el('span', 'muted', sizeCard.querySelector('[data-resources]').textContent));
    }
    var bar = form.querySelector('[data-summary="bar"]');
    if (bar) bar.textContent = [titleOf(cardOf(checked('image'))), titleOf(cardOf(checked('size')))].filter(Boolean).join(' · ');
    var profileRow = form.querySelector('[data-summary-row="profile"]');
    if (profileRow) {
      var profile = checked('profile');
      var label = profile ? form.querySelector('label[for="' + profile.id + '"]') : null;
      profileRow.hidden = !profile;
      profileRow.querySelector('dd').textContent = label ? label.textContent : '—';
    }
  }

  // ------------------------------------------------------------ image search

  var filter = document.getElementById('image-filter');
  if (filter) {
    var searchBox = form.querySelector('[data-role="image-search"]');
    var count = form.querySelector('[data-role="image-count"]');
    var none = form.querySelector('[data-role="no-images"]');
    searchBox.hidden = false;
    var visibleCards = function () { return imageCards.filter(function (c) { return !c.hidden; }); };
    filter.addEventListener('input', function () {
      var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      imageCards.forEach(function (card) {
        var text = card.dataset.search;
        card.hidden = !words.every(function (w) { return text.indexOf(w) !== -1; });
      });
      var shown = visibleCards().length;
      count.textContent = words.length ? shown + ' of ' + imageCards.length + ' images' : '';
      none.hidden = shown !== 0;
    });
    // Enter picks the first match instead of sending the form
    filter.addEventListener('keydown', function (event) {
      if (event.key !== 'Enter') return;
      event.preventDefault();
      var first = visibleCards()[0];
      if (!first) return;
      var input = first.querySelector('input[name="image"]');
      input.checked = true;
      input.focus();
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
  }

  // ------------------------------------------------------------ environment variables

  var rowsBox = form.querySelector('[data-role="env-rows"]');
  var addButton = form.querySelector('[data-action="add-env"]');
  var envEmpty = form.querySelector('[data-role="env-empty"]');
  var envHead = form.querySelector('[data-role="env-head"]');
  var nextIndex = Number(rowsBox.dataset.nextIndex) || 0;

  function rows() {
    return all('[data-env-row]', rowsBox);
  }
  function rowInputs(row) {
    var inputs = row.querySelectorAll('input');
    return { name: inputs[0], value: inputs[1] };
  }
  function renumber() {
    rows().forEach(function (row, i) {
      var labels = row.querySelectorAll('label');
      labels[0].textContent = 'Name of variable ' + (i + 1);
      labels[1].textContent = 'Value of variable ' + (i + 1);
      row.querySelector('[data-action="remove-env"]').setAttribute('aria-label', 'Remove variable ' + (i + 1));
    });
    envEmpty.hidden = rows().length !== 0;
    envHead.hidden = rows().length === 0;
  }
  function makeRow() {
    var i = nextIndex++;
    var row = el('div', 'env-row');
    row.setAttribute('data-env-row', '');
    ['name', 'value'].forEach(function (part, k) {
      var box = el('div', 'env-' + part);
      var label = el('label', 'sr-only');
      label.htmlFor = 'env-' + part + '-' + i;
      var input = el('input', 'mono');
      input.type = 'text';
      input.id = input.name = 'env-' + part + '-' + i;
      input.placeholder = part === 'name' ? 'NAME' : 'value';
      input.autocomplete = 'off';
      input.setAttribute('autocapitalize', 'none');
      input.spellcheck = false;
      if (part === 'name') {
        input.maxLength = 255;
        input.setAttribute('aria-describedby', 'env-error-' + i);
      }
      box.appendChild(label);
      box.appendChild(input);
      row.appendChild(box);
      if (k === 0) {
        var eq = el('span', 'env-eq', '=');
        eq.setAttribute('aria-hidden', 'true');
        row.appendChild(eq);
      }
    });
    var remove = el('button', 'icon-button');
    remove.type = 'button';
    remove.title = 'Remove variable';
    remove.setAttribute('data-action', 'remove-env');
    var x = el('span', '', '×');
    x.setAttribute('aria-hidden', 'true');
    remove.appendChild(x);
    row.appendChild(remove);
    var error = el('p', 'field-error');
    error.id = 'env-error-' + i;
    error.setAttribute('data-error-for', 'env-row.' + i);
    error.hidden = true;
    row.appendChild(error);
    return row;
  }
  // with the script: the rows in use and an Add button, not a stack of empty rows
  rows().forEach(function (row) {
    var inputs = rowInputs(row);
    var error = row.querySelector('.field-error');
    if (!inputs.name.value && !inputs.value.value && error.hidden) row.remove();
  });
  all('[data-action="remove-env"]', rowsBox).forEach(function (b) { b.hidden = false; });
  addButton.hidden = false;
  renumber();
  addButton.addEventListener('click', function () {
    var row = makeRow();
    rowsBox.appendChild(row);
    renumber();
    rowInputs(row).name.focus();
  });
  rowsBox.addEventListener('click', function (event) {
    var button = event.target.closest('[data-action="remove-env"]');
    if (!button) return;
    var row = button.closest('[data-env-row]');
    var list = rows();
    var at = list.indexOf(row);
    row.remove();
    touched = true;
    renumber();
    var rest = rows();
    var focus = rest[at] || rest[at - 1];
    (focus ? focus.querySelector('[data-action="remove-env"]') : addButton).focus();
    schedulePlan(0);
  });

  // ------------------------------------------------------------ errors next to fields

  function slotFor(field) {
    if (field === 'image' || field === 'size' || field === 'profile') return { slot: form.querySelector('[data-error-for="' + field + '"]'), input: null };
    if (field.indexOf('options.') === 0) {
      var key = field.slice(8);
      var profile = checked('profile');
      var item = profile && profile.closest('[data-profile-item]');
      var box = item && item.querySelector('[data-option-key="' + CSS.escape(key) + '"]');
      if (!box) return null;
      var select = box.querySelector('select');
      var other = select.dataset.otherInput && select.value === UNLISTED ? document.getElementById(select.dataset.otherInput) : null;
      return { slot: box.querySelector('[data-error-for="' + field + '"]'), input: other || select };
    }
    if (field.indexOf('cluster_') === 0 && clusterGroup) {
      return { slot: clusterGroup.querySelector('[data-error-for="' + field + '"]'), input: clusterGroup.querySelector('input[name="' + field + '"]') };
    }
    if (field.indexOf('env.') === 0) {
      var name = field.slice(4);
      var row = rows().filter(function (r) { return rowInputs(r).name.value.trim() === name; })[0];
      return row ? { slot: row.querySelector('.field-error'), input: rowInputs(row).name } : null;
    }
    return null;
  }
  function showError(target, message) {
    if (!target || !target.slot) return false;
    target.slot.textContent = message;
    target.slot.hidden = false;
    if (target.input) target.input.setAttribute('aria-invalid', 'true');
    return true;
  }
  function clearErrors() {
    all('.field-error[data-error-for]').forEach(function (slot) {
      slot.hidden = true;
      slot.textContent = '';
    });
    all('[aria-invalid="true"]').forEach(function (input) { input.removeAttribute('aria-invalid'); });
  }

  // ------------------------------------------------------------ what would start

  var planBox = document.getElementById('review-body');
  /** Until the person changes something, problems the hub rendered next to fields stay as they are. */
  var touched = false;
  var planSeq = 0;
  var planTimer = null;

  function selections() {
    var body = { env: {} };
    var image = checked('image');
    if (image) body.image = image.value;
    var size = checked('size');
    if (size) body.size = size.value;
    var profile = checked('profile');
    if (profile) {
      body.profile = profile.value;
      body.options = {};
      all('[data-option-key]', profile.closest('[data-profile-item]')).forEach(function (box) {
        var select = box.querySelector('select');
        var value = select.value;
        if (value === UNLISTED) value = document.getElementById(select.dataset.otherInput).value.trim();
        if (value) body.options[box.dataset.optionKey] = value;
      });
    }
    rows().forEach(function (row) {
      var inputs = rowInputs(row);
      var name = inputs.name.value.trim();
      if (name && !(name in body.env)) body.env[name] = inputs.value.value;
    });
    if (clusterGroup && !clusterGroup.hidden) {
      all('input[name^="cluster_"]', clusterGroup).forEach(function (input) {
        if (input.value.trim()) body[input.name] = input.value.trim();
      });
    }
    return body;
  }

  function sourceLabel(source) {
    return source === 'you' ? 'set by you' : 'from ' + source;
  }
  function range(g, l, f) {
    if (g !== undefined && l !== undefined) return g === l ? f(l) : f(g) + ' guaranteed, up to ' + f(l);
    if (l !== undefined) return 'up to ' + f(l);
    if (g !== undefined) return f(g) + ' guaranteed';
    return 'no limit';
  }
  function fact(list, term, value) {
    var row = el('div');
    row.appendChild(el('dt', '', term));
    var dd = el('dd');
    if (typeof value === 'string') dd.textContent = value;
    else dd.appendChild(value);
    row.appendChild(dd);
    list.appendChild(row);
  }
  function sourced(item, source) {
    item.appendChild(document.createTextNode(' '));
    item.appendChild(el('span', 'plan-source', sourceLabel(source)));
    return item;
  }
  function section(title, items) {
    var frag = document.createDocumentFragment();
    frag.appendChild(el('h3', '', title));
    var list = el('ul', 'plan-list');
    items.forEach(function (item) { list.appendChild(item); });
    frag.appendChild(list);
    return frag;
  }

  function renderPlan(plan) {
    planBox.textContent = '';
    if (plan.warnings && plan.warnings.length) {
      var warnings = el('ul', 'plan-warnings');
      plan.warnings.forEach(function (w) { warnings.appendChild(el('li', '', w)); });
      planBox.appendChild(warnings);
    }
    var facts = el('dl', 'plan-facts');
    var imageValue = document.createDocumentFragment();
    imageValue.appendChild(document.createTextNode(plan.image.display_name + ' '));
    imageValue.appendChild(el('code', '', plan.image.name));
    fact(facts, 'Image', imageValue);
    if (plan.size) fact(facts, 'Size', plan.size.display_name);
    var r = plan.resources || { cpu: {}, memory: {} };
    fact(facts, 'CPU', range(r.cpu.guarantee, r.cpu.limit, formatCpu));
    fact(facts, 'Memory', range(r.memory.guarantee, r.memory.limit, formatBytes));
    if (r.gpu) fact(facts, 'GPU', String(r.gpu));
    if (plan.default_url) fact(facts, 'Opens', el('code', '', plan.default_url));
    planBox.appendChild(facts);

    planBox.appendChild(el('h3', '', 'Environment'));
    var names = Object.keys(plan.env || {}).sort();
    if (names.length) {
      var envList = el('ul', 'plan-env');
      names.forEach(function (name) {
        var entry = plan.env[name];
        var item = el('li');
        item.appendChild(el('code', 'env-key', name));
        item.appendChild(document.createTextNode(' '));
        var value = el('span', 'env-val');
        if (entry.secret) value.appendChild(el('span', 'secret-value', 'hidden'));
        else if (entry.value === '') value.appendChild(el('span', 'muted', '(empty)'));
        else value.textContent = entry.value;
        item.appendChild(value);
        envList.appendChild(sourced(item, entry.source));
      });
      planBox.appendChild(envList);
    } else {
      planBox.appendChild(el('p', 'muted', 'No extra variables.'));
    }
    if (plan.applied && plan.applied.length) {
      planBox.appendChild(section('Profiles applied', plan.applied.map(function (a) { return el('li', '', a.replace(/^profile /, '')); })));
    }
    if (plan.volumes && plan.volumes.length) {
      planBox.appendChild(section('Volumes', plan.volumes.map(function (v) {
        var item = el('li');
        item.appendChild(el('code', '', v.mount_path));
        if (v.read_only) item.appendChild(document.createTextNode(' (read-only)'));
        return sourced(item, v.source);
      })));
    }
    if (plan.clusters && plan.clusters.length) {
      planBox.appendChild(section('Clusters', plan.clusters.map(function (c, i) {
        return sourced(el('li', '', clusterLine(c, i === 0 ? plan.cluster : null)), c.source);
      })));
    }
    if (plan.storage) {
      var storage = el('p', '', 'Credentials for this server');
      planBox.appendChild(el('h3', '', 'Object storage'));
      planBox.appendChild(sourced(storage, plan.storage.source));
    }
  }

  /** "spark: 2 workers × 1 core, 1 GiB each, Spark Connect", as the hub writes it (spawn-form.ts clusterLine). */
  function clusterLine(c, sizing) {
    var kind = String(c.kind || c.type || c.name || 'cluster');
    if (!sizing) return kind;
    var memory = sizing.worker_memory >= GIB ? trim(sizing.worker_memory / GIB, 2) + ' GiB' : Math.round(sizing.worker_memory / 1048576) + ' MiB';
    return kind + ': ' + sizing.workers + ' worker' + (sizing.workers === 1 ? '' : 's') + ' × ' + sizing.worker_cores + ' core' + (sizing.worker_cores === 1 ? '' : 's') + ', ' + memory + ' each' + (c.connect ? ', Spark Connect' : '');
  }

  function showPlanProblem(message) {
    var match = /^([A-Za-z_][\w-]*(?:\.[^:\s]+)?): ([\s\S]*)$/.exec(message || '');
    var text = sentence(match ? match[2] : message || 'The hub could not work out what would start.');
    if (touched) {
      clearErrors();
      if (match) showError(slotFor(match[1]), text);
    }
    planBox.textContent = '';
    planBox.appendChild(el('p', 'error', text));
    planBox.appendChild(el('p', 'muted', 'Change the marked choice to see what will start.'));
  }

  function fetchPlan() {
    var mine = ++planSeq;
    planBox.setAttribute('aria-busy', 'true');
    var url = '/hub/api/users/' + encodeURIComponent(user) + '/spawn-plan' + (server ? '?server=' + encodeURIComponent(server) : '');
    fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-XSRFToken': csrf },
      body: JSON.stringify(selections()),
    }).then(function (res) {
      return res.json().then(function (data) { return { ok: res.ok, status: res.status, data: data }; });
    }).then(function (result) {
      if (mine !== planSeq) return;
      planBox.setAttribute('aria-busy', 'false');
      if (result.ok) {
        if (touched) clearErrors();
        renderPlan(result.data);
      } else if (result.status === 400) {
        showPlanProblem(result.data && result.data.message);
      } else {
        planBox.textContent = '';
        planBox.appendChild(el('p', 'muted', 'The plan could not be loaded (' + result.status + '). Everything is checked again when you start.'));
      }
    }).catch(function () {
      if (mine !== planSeq) return;
      planBox.setAttribute('aria-busy', 'false');
      planBox.textContent = '';
      planBox.appendChild(el('p', 'muted', 'The plan could not be loaded. Everything is checked again when you start.'));
    });
  }

  function schedulePlan(delay) {
    clearTimeout(planTimer);
    planTimer = setTimeout(fetchPlan, delay === undefined ? 350 : delay);
  }

  // ------------------------------------------------------------ events

  form.addEventListener('change', function (event) {
    var target = event.target;
    if (target !== filter) touched = true;
    if (target.name === 'image') applyImage();
    else if (target.name === 'profile') applyProfile();
    else if (target.name === 'size') updateSummary();
    else if (target.matches('select[data-option-select]')) {
      var other = applyOption(target);
      if (other && !other.disabled) other.focus();
    }
    if (target !== filter) schedulePlan(target.type === 'text' ? 350 : 0);
  });
  form.addEventListener('input', function (event) {
    var type = event.target.type;
    if (type !== 'text' && type !== 'number' && type !== 'range') return;
    touched = true;
    schedulePlan();
  });

  // check what the hub would refuse, with its own rules, before sending
  var startButtons = all('[data-start]');
  var submitting = false;
  function setStarting(on) {
    startButtons.forEach(function (button) {
      if (on) button.setAttribute('aria-disabled', 'true');
      else button.removeAttribute('aria-disabled');
      button.textContent = on ? 'Starting…' : 'Start server';
    });
  }
  form.addEventListener('submit', function (event) {
    if (submitting) {
      event.preventDefault();
      return;
    }
    var problems = [];
    all('input[data-regex-message]').forEach(function (input) {
      if (input.disabled) return;
      var value = input.value.trim();
      var key = input.closest('[data-option-key]').dataset.optionKey;
      var target = slotFor('options.' + key);
      var select = input.closest('[data-option-key]').querySelector('select');
      if (!value) {
        // with nothing but "Other…" to pick, the option may stay empty
        if (select.options.length > 1 && showError(target, 'Enter a value for ' + input.dataset.label + ', or pick one of the choices.')) problems.push(input);
      } else if (input.dataset.regex && !new RegExp('^(?:' + input.dataset.regex + ')$').test(value)) {
        if (showError(target, sentence(input.dataset.regexMessage))) problems.push(input);
      }
    });
    var seen = {};
    rows().forEach(function (row) {
      var inputs = rowInputs(row);
      var name = inputs.name.value.trim();
      var target = { slot: row.querySelector('.field-error'), input: inputs.name };
      if (!name && inputs.value.value) {
        showError(target, 'Give this variable a name, or clear its value.');
        problems.push(inputs.name);
      } else if (name && seen[name]) {
        showError(target, name + ' is already set above; keep one of them.');
        problems.push(inputs.name);
      }
      if (name) seen[name] = true;
    });
    if (problems.length) {
      event.preventDefault();
      problems[0].focus();
      return;
    }
    submitting = true;
    setStarting(true);
  });
  // back from the progress page: the form is usable again
  window.addEventListener('pageshow', function (event) {
    if (!event.persisted) return;
    submitting = false;
    setStarting(false);
  });

  applyImage();
  if (!planBox.hasAttribute('data-has-plan')) schedulePlan(0);
  var summary = document.getElementById('error-summary');
  if (summary) summary.focus();
})();
