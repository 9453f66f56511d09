// Sluice's web UI. One script, no build step and no dependencies: every page is drawn from the
// JSON routes the clients use (the MLflow REST API under api/2.0/mlflow and Sluice's own under
// api/sluice/v1), so the server checks every read and write exactly as it checks an API call.
// Text from the store is only ever set as text (never parsed as HTML).
'use strict';

const S = { session: null, seq: 0, cleanup: [], explain: new Map(), navigated: false };

// ---------------------------------------------------------------------------------------------
// DOM and data helpers

function el(tag, attrs, ...kids) {
  const svg = ['svg', 'g', 'path', 'line', 'rect', 'text', 'circle', 'polyline', 'title', 'tspan'].includes(tag);
  const node = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else if (k === 'cssvars') for (const [p, val] of Object.entries(v)) node.style.setProperty(p, val);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return node;
}

const enc = encodeURIComponent;
const fmtNum = (v) => {
  if (v === null || v === undefined || v === '') return '';
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  if (Number.isInteger(n) && Math.abs(n) < 1e12) return String(n);
  const a = Math.abs(n);
  return a !== 0 && (a < 1e-3 || a >= 1e7) ? n.toExponential(4) : String(Number(n.toPrecision(6)));
};
// Local time, as `2026-12-05 10:11:26`.
const fmtTime = (ms) => {
  if (!ms) return '';
  const d = new Date(Number(ms));
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};
const isoMs = (iso) => (iso ? Date.parse(iso) : null);
function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
const badge = (status) => el('span', { class: `badge s-${status || 'none'}` }, status || '—');
const table = (head, rows, cls) => el('div', { class: 'scroll' }, el('table', { class: cls },
  el('thead', {}, el('tr', {}, head.map((h) => (h instanceof Node ? h : el('th', { scope: 'col' }, h))))),
  el('tbody', {}, rows)));
const errorBox = (e) => el('div', { class: 'error', role: 'alert' }, e && e.message ? e.message : String(e));
const role = () => (S.session && S.session.user ? S.session.user.role : 'reader');
const canWrite = () => role() === 'contributor' || role() === 'owner';
const isOwner = () => role() === 'owner';

async function api(path, opts = {}) {
  const method = opts.method || 'GET';
  const headers = { Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && S.session && S.session.csrf) headers['X-Sluice-CSRF'] = S.session.csrf;
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  let data = text;
  try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const e = new Error((data && data.message) || `${res.status} ${res.statusText}`);
    e.status = res.status;
    throw e;
  }
  return data;
}
const mlflow = (p, body) => (body === undefined ? api(`api/2.0/mlflow/${p}`) : api(`api/2.0/mlflow/${p}`, { method: 'POST', body }));

// A Sluice command run on the server's workspace as the signed-in identity (the server checks
// the role it needs, as the CLI does locally).
async function cli(...args) {
  const r = await api('api/sluice/v1/cli', { method: 'POST', body: { args: [...args, '-o', 'json'] } });
  if (r.exit_code !== 0) {
    const lines = (r.stderr || '').trim().split('\n').filter((l) => l.trim());
    const e = new Error(lines.join('\n') || `the command exited with ${r.exit_code}`);
    e.exit = r.exit_code;
    throw e;
  }
  const out = (r.stdout || '').trim();
  return out ? JSON.parse(out) : null;
}

// ---------------------------------------------------------------------------------------------
// Routing

const ROUTES = [
  [/^\/?$/, 'experiments', pageExperiments],
  [/^\/experiments\/([^/]+)$/, 'experiments', pageRuns],
  [/^\/runs\/([^/]+)$/, 'experiments', pageRun],
  [/^\/compare$/, 'experiments', pageCompare],
  [/^\/jobs$/, 'jobs', pageJobs],
  [/^\/jobs\/([^/]+)$/, 'jobs', pageJob],
  [/^\/models$/, 'models', pageModels],
  [/^\/models\/([^/]+)$/, 'models', pageModel],
  [/^\/audit$/, 'audit', pageAudit],
  [/^\/login$/, '', pageLogin],
];

function hashParts() {
  const h = location.hash.replace(/^#/, '') || '/';
  const i = h.indexOf('?');
  return { path: i < 0 ? h : h.slice(0, i), q: new URLSearchParams(i < 0 ? '' : h.slice(i + 1)) };
}
function go(path, q) {
  const qs = q ? q.toString() : '';
  location.hash = `#${path}${qs ? `?${qs}` : ''}`;
}
function onLeave(f) { S.cleanup.push(f); }

async function render() {
  for (const f of S.cleanup.splice(0)) { try { f(); } catch (_) { /* gone */ } }
  const seq = ++S.seq;
  const { path, q } = hashParts();
  const main = document.getElementById('main');
  try {
    if (!S.session) S.session = await api('api/sluice/v1/session');
  } catch (e) {
    main.replaceChildren(errorBox(e));
    return;
  }
  drawWho();
  if (S.session.auth && !S.session.user && path !== '/login') {
    go('/login', new URLSearchParams({ next: location.hash }));
    return;
  }
  const found = ROUTES.map(([re, section, page]) => [path.match(re), section, page]).find(([m]) => m);
  for (const a of document.querySelectorAll('#nav a')) {
    if (found && a.dataset.section === found[1]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!found) {
    main.replaceChildren(el('h1', {}, 'Not found'), el('p', {}, el('a', { href: '#/' }, 'Experiments')));
    return;
  }
  const [m, , page] = found;
  const view = el('div', {});
  try {
    await page(view, q, ...m.slice(1).map(decodeURIComponent));
  } catch (e) {
    if (e.status === 401) {
      S.session = null;
      go('/login', new URLSearchParams({ next: location.hash }));
      return;
    }
    view.replaceChildren(errorBox(e));
  }
  if (seq !== S.seq) return; // the user went elsewhere meanwhile
  // A new page, not the same page with another sort, filter or column.
  const moved = S.path !== path;
  S.path = path;
  main.replaceChildren(view);
  main.dataset.route = location.hash || '#/';
  // A new page: the keyboard and screen readers start at its heading (a redraw after a change
  // on the same page leaves the focus to the page).
  const h1 = view.querySelector('h1');
  if (moved && h1 && S.navigated) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: true });
  }
  S.navigated = true;
  document.title = `${(view.querySelector('h1') || {}).textContent || 'Sluice'} · Sluice`;
}

function drawWho() {
  const who = document.getElementById('who');
  const s = S.session;
  const kids = [];
  if (s && s.mlflow_ui) kids.push(el('a', { href: 'mlflow/' }, "MLflow's UI"));
  if (s && s.user) kids.push(el('span', {}, `${s.user.name} · ${s.user.role}`));
  if (s && s.auth && s.user) {
    kids.push(el('button', {
      type: 'button',
      onclick: async () => {
        await api('api/sluice/v1/session', { method: 'DELETE' });
        S.session = null;
        go('/login');
      },
    }, 'Log out'));
  }
  who.replaceChildren(...kids);
}

// ---------------------------------------------------------------------------------------------
// Login

async function pageLogin(view, q) {
  const input = el('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true });
  const msg = el('div', { role: 'alert' });
  const form = el('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      msg.replaceChildren();
      try {
        const r = await api('api/sluice/v1/session', { method: 'POST', body: { token: input.value } });
        S.session = { ...(S.session || {}), user: r.user, csrf: r.csrf };
        S.session = await api('api/sluice/v1/session');
        const next = q.get('next');
        location.hash = next && next.startsWith('#/') && next !== '#/login' ? next : '#/';
      } catch (e) {
        msg.replaceChildren(errorBox(e));
      }
    },
  },
  el('label', { for: 'token' }, 'Token'), input,
  el('button', { type: 'submit', class: 'primary' }, 'Log in'), msg);
  view.append(el('section', { class: 'login' }, el('h1', {}, 'Log in to Sluice'),
    el('p', { class: 'muted' }, 'Paste a token from ', el('code', {}, 'sluice token create'), '. It is kept in an HttpOnly cookie for this site only.'),
    form));
  setTimeout(() => input.focus(), 0);
}

// ---------------------------------------------------------------------------------------------
// Experiments and runs

async function pageExperiments(view) {
  const r = await mlflow('experiments/search', { max_results: 1000, order_by: ['last_update_time DESC'] });
  const exps = (r && r.experiments) || [];
  view.append(el('h1', {}, 'Experiments'));
  if (!exps.length) {
    view.append(el('p', { class: 'muted' }, 'No experiments yet: run a job (`sluice job create -f pipeline.yml`) or log with the mlflow client.'));
    return;
  }
  view.append(table(['Name', 'ID', 'Last update', 'Artifact location'], exps.map((e) => el('tr', {},
    el('td', {}, el('a', { href: `#/experiments/${enc(e.experiment_id)}` }, e.name)),
    el('td', { class: 'num' }, e.experiment_id),
    el('td', {}, fmtTime(e.last_update_time)),
    el('td', { class: 'mono' }, e.artifact_location || '')))));
}

// A column of the runs table: `metrics.key`, `params.key`, `tags.key` or an attribute.
function colValue(run, col) {
  const [kind, ...rest] = col.split('.');
  const key = rest.join('.');
  const data = run.data || {};
  const find = (list) => ((list || []).find((x) => x.key === key) || {}).value;
  if (kind === 'metrics') return find(data.metrics);
  if (kind === 'params') return find(data.params);
  if (kind === 'tags') return find(data.tags);
  return undefined;
}
const orderKey = (col) => {
  const [kind, ...rest] = col.split('.');
  return `${kind}.\`${rest.join('.')}\``;
};

async function pageRuns(view, q, id) {
  const filter = q.get('filter') || '';
  const order = q.get('order') || 'attributes.start_time DESC';
  const size = Number(q.get('size') || 50);
  const token = q.get('page') || undefined;
  const runView = ['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'].includes(q.get('view')) ? q.get('view') : 'ACTIVE_ONLY';
  const [exp, found] = await Promise.all([
    mlflow(`experiments/get?experiment_id=${enc(id)}`),
    mlflow('runs/search', { experiment_ids: [id], filter, order_by: [order], max_results: size, page_token: token, run_view_type: runView }),
  ]);
  const runs = (found && found.runs) || [];
  const keys = { metrics: new Set(), params: new Set(), tags: new Set() };
  for (const r of runs) {
    for (const m of (r.data && r.data.metrics) || []) keys.metrics.add(m.key);
    for (const p of (r.data && r.data.params) || []) keys.params.add(p.key);
    for (const t of (r.data && r.data.tags) || []) if (!t.key.startsWith('mlflow.')) keys.tags.add(t.key);
  }
  const cols = q.has('cols') ? q.get('cols').split(',').filter(Boolean)
    : [...[...keys.metrics].sort().slice(0, 5).map((k) => `metrics.${k}`), ...[...keys.params].sort().slice(0, 4).map((k) => `params.${k}`)];
  // The keys of this page's runs, and the columns chosen before (their runs may be on other pages).
  const all = [...new Set([...[...keys.metrics].sort().map((k) => `metrics.${k}`), ...[...keys.params].sort().map((k) => `params.${k}`),
    ...[...keys.tags].sort().map((k) => `tags.${k}`), ...cols])];
  const withQ = (changes) => {
    const n = new URLSearchParams(q);
    for (const [k, v] of Object.entries(changes)) { if (v === null || v === '') n.delete(k); else n.set(k, v); }
    return n;
  };

  const expTags = exp.experiment.tags || [];
  const expNote = (expTags.find((t) => t.key === NOTE_TAG) || {}).value || '';
  const expWritable = canWrite() && exp.experiment.lifecycle_stage === 'active';
  const expId = exp.experiment.experiment_id;
  const expHeading = el('div', { class: 'title-row' }, el('h1', {}, exp.experiment.name));
  if (expWritable) {
    const rename = el('button', { type: 'button', id: 'rename-experiment', class: 'link' }, 'Rename');
    rename.addEventListener('click', () => {
      const name = el('input', { id: 'experiment-name', value: exp.experiment.name, 'aria-label': 'Experiment name', maxlength: 500 });
      const msg = el('span', {});
      const form = el('form', { class: 'inline', id: 'rename-experiment-form' }, name,
        el('button', { type: 'submit', class: 'primary' }, 'Save'),
        el('button', { type: 'button', onclick: () => render() }, 'Cancel'), msg);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        saved(mlflow('experiments/update', { experiment_id: expId, new_name: name.value.trim() })).catch(failed(msg));
      });
      expHeading.replaceChildren(form);
      name.focus();
    });
    expHeading.append(rename, confirmButton('delete-experiment', 'Delete experiment',
      'Delete this experiment and hide its runs?', () => mlflow('experiments/delete', { experiment_id: expId })));
  }
  if (exp.experiment.lifecycle_stage === 'deleted') {
    view.append(deletedBanner('experiment', () => mlflow('experiments/restore', { experiment_id: expId })));
  }
  view.append(expHeading, el('p', { class: 'muted' }, `Experiment ${expId}`));
  if (expNote || canWrite()) {
    view.append(noteCard(expNote, expWritable,
      (value) => mlflow('experiments/set-experiment-tag', { experiment_id: expId, key: NOTE_TAG, value })));
  }
  // The experiment's own tags, folded away below its description (left open across the
  // redraw that follows an edit).
  if (expTags.some((t) => t.key !== NOTE_TAG) || expWritable) {
    view.append(el('details', {
      class: 'card', id: 'experiment-tags', open: experimentTagsOpen,
      ontoggle: (ev) => { experimentTagsOpen = ev.currentTarget.open; },
    },
      el('summary', {}, `Experiment tags (${expTags.filter((t) => t.key !== NOTE_TAG).length})`),
      tagsSection(expTags, expWritable,
        (key, value) => mlflow('experiments/set-experiment-tag', { experiment_id: expId, key, value }),
        (key) => mlflow('experiments/delete-experiment-tag', { experiment_id: expId, key }))));
  }
  const input = el('input', { id: 'runs-filter', type: 'search', value: filter, placeholder: "metrics.rmse < 1 and params.algorithm = 'random_forest'", spellcheck: 'false' });
  const sizeSel = el('select', { id: 'runs-size' }, [25, 50, 100, 500].map((n) => el('option', { value: n, selected: n === size }, n)));
  const viewSel = el('select', { id: 'runs-view' }, [['ACTIVE_ONLY', 'active'], ['DELETED_ONLY', 'deleted'], ['ALL', 'all']]
    .map(([v, label]) => el('option', { value: v, selected: v === runView }, label)));
  const compareBtn = el('button', { type: 'button', id: 'compare', disabled: true }, 'Compare selected');
  view.append(el('form', {
    class: 'toolbar', role: 'search',
    onsubmit: (ev) => {
      ev.preventDefault();
      go(`/experiments/${enc(id)}`, withQ({ filter: input.value.trim(), page: null, trail: null, size: sizeSel.value, view: viewSel.value === 'ACTIVE_ONLY' ? null : viewSel.value }));
    },
  },
  el('label', { class: 'grow', for: 'runs-filter' }, 'Filter (MLflow search syntax)', input),
  el('label', { for: 'runs-view' }, 'Runs', viewSel),
  el('label', { for: 'runs-size' }, 'Per page', sizeSel),
  el('button', { type: 'submit', class: 'primary' }, 'Search'),
  filter ? el('button', { type: 'button', onclick: () => go(`/experiments/${enc(id)}`, withQ({ filter: null, page: null, trail: null })) }, 'Clear') : null,
  compareBtn));

  if (all.length) {
    const boxes = all.map((c) => el('label', {}, el('input', { type: 'checkbox', value: c, checked: cols.includes(c) }), ` ${c}`));
    view.append(el('details', { class: 'cols' }, el('summary', {}, `Columns (${cols.length} of ${all.length})`),
      el('div', { class: 'choices' }, boxes),
      el('button', {
        type: 'button', id: 'show-columns',
        onclick: () => go(`/experiments/${enc(id)}`, withQ({ cols: boxes.map((b) => b.firstChild).filter((b) => b.checked).map((b) => b.value).join(',') || ',' })),
      }, 'Show these columns')));
  }

  const selected = new Set();
  const sortHead = (label, key) => {
    const [cur, dir] = order.split(/\s+(?=ASC$|DESC$)/i);
    const on = cur === key;
    const next = on && (dir || 'ASC').toUpperCase() === 'DESC' ? 'ASC' : 'DESC';
    return el('th', { scope: 'col', 'aria-sort': on ? ((dir || 'ASC').toUpperCase() === 'DESC' ? 'descending' : 'ascending') : 'none', class: key.startsWith('metrics') ? 'num' : undefined },
      el('button', { type: 'button', class: 'sort', title: `Sort by ${label}`, onclick: () => go(`/experiments/${enc(id)}`, withQ({ order: `${key} ${next}`, page: null, trail: null })) },
        label, on ? ((dir || 'ASC').toUpperCase() === 'DESC' ? ' ▼' : ' ▲') : ''));
  };
  const head = [el('th', { scope: 'col' }, el('span', { class: 'muted' }, 'Pick')),
    sortHead('Run', 'attributes.run_name'), sortHead('Status', 'attributes.status'),
    sortHead('Started', 'attributes.start_time'), el('th', { scope: 'col' }, 'Duration'),
    ...cols.map((c) => sortHead(c, orderKey(c)))];
  // In time order, a pipeline's step runs follow their job's run, indented (as on MLflow's
  // runs table); a sort by any other column keeps the rows flat.
  const parentOf = (r) => tagOf(r, 'mlflow.parentRunId');
  const ids = new Set(runs.map((r) => r.info.run_id));
  let ordered = runs;
  if (order.startsWith('attributes.start_time')) {
    const kids = new Map();
    for (const r of runs) {
      const p = parentOf(r);
      if (p && ids.has(p)) (kids.get(p) || kids.set(p, []).get(p)).push(r);
    }
    ordered = runs.filter((r) => !(parentOf(r) && ids.has(parentOf(r)))).flatMap((r) => [r, ...(kids.get(r.info.run_id) || [])]);
  }
  const rows = ordered.map((r) => {
    const info = r.info;
    const nested = ordered !== runs && parentOf(r) && ids.has(parentOf(r));
    const box = el('input', {
      type: 'checkbox', 'aria-label': `Select run ${info.run_name || info.run_id}`, value: info.run_id,
      onchange: (ev) => {
        if (ev.target.checked) selected.add(info.run_id); else selected.delete(info.run_id);
        compareBtn.disabled = selected.size < 2;
      },
    });
    return el('tr', { class: nested ? 'child' : undefined },
      el('td', {}, box),
      el('td', {}, nested ? el('span', { 'aria-hidden': 'true', class: 'muted' }, '↳ ') : null,
        el('a', { href: `#/runs/${enc(info.run_id)}` }, info.run_name || info.run_id)),
      el('td', {}, badge(info.status)),
      el('td', { class: 'nowrap' }, fmtTime(info.start_time)),
      el('td', {}, info.end_time ? fmtDuration(info.end_time - info.start_time) : ''),
      ...cols.map((c) => el('td', { class: c.startsWith('metrics') ? 'num' : undefined }, c.startsWith('metrics') ? fmtNum(colValue(r, c)) : (colValue(r, c) ?? ''))));
  });
  compareBtn.addEventListener('click', () => go('/compare', new URLSearchParams({ runs: [...selected].join(',') })));
  view.append(runs.length ? table(head, rows, 'runs') : el('p', { class: 'muted' }, filter ? 'No run matches the filter.' : 'No runs in this experiment.'));
  const pager = el('div', { class: 'pager' }, el('span', { class: 'muted', id: 'runs-count' }, `${runs.length} runs on this page`));
  // The pages before this one, in the address (`-` for the first): Previous works on a link
  // opened afresh too.
  const trail = (q.get('trail') || '').split(',').filter(Boolean);
  if (token) {
    const prev = trail[trail.length - 1];
    pager.append(el('button', {
      type: 'button', id: 'previous-page',
      onclick: () => go(`/experiments/${enc(id)}`, withQ({ page: prev && prev !== '-' ? prev : null, trail: trail.slice(0, -1).join(',') || null })),
    }, 'Previous page'),
    el('button', { type: 'button', id: 'first-page', onclick: () => go(`/experiments/${enc(id)}`, withQ({ page: null, trail: null })) }, 'First page'));
  }
  if (found.next_page_token) {
    pager.append(el('button', {
      type: 'button', id: 'next-page',
      onclick: () => go(`/experiments/${enc(id)}`, withQ({ page: found.next_page_token, trail: [...trail, token || '-'].join(',') })),
    }, 'Next page'));
  }
  view.append(pager);
}

// ---------------------------------------------------------------------------------------------
// Charts (SVG): lines of [x, y] points, log scale, smoothing, drag to zoom.

const PALETTE = ['#0b62c4', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#0a7d8c', '#6e7781'];

function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}
function smooth(points, weight) {
  if (!weight) return points;
  let last = null;
  return points.map(([x, y]) => { last = last === null ? y : last * weight + (1 - weight) * y; return [x, last]; });
}

// series: [{name, points: [[x, y], ...]}]; opts: {log, xLabel, onZoom([x0, x1])}
function lineChart(series, opts = {}) {
  const W = 640; const H = 240; const L = 56; const R = 12; const T = 10; const B = 30;
  const ty = (y) => (opts.log ? Math.log10(y) : y);
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!opts.log || y > 0));
  const svg = el('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.label || 'chart' });
  if (!pts.length) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, opts.log ? 'no positive values for a log scale' : 'no values'));
    return svg;
  }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => ty(p[1]))), Math.max(...pts.map((p) => ty(p[1])))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (ty(y) - y0) / (y1 - y0)) * (H - T - B);
  const grid = el('g', { class: 'axis' });
  for (const t of niceTicks(y0, y1)) {
    const y = T + (1 - (t - y0) / (y1 - y0)) * (H - T - B);
    grid.append(el('line', { class: 'gridline', x1: L, x2: W - R, y1: y, y2: y }),
      el('text', { x: L - 4, y: y + 3, 'text-anchor': 'end' }, fmtNum(opts.log ? 10 ** t : t)));
  }
  for (const t of niceTicks(x0, x1, 6)) {
    grid.append(el('text', { x: sx(t), y: H - B + 14, 'text-anchor': 'middle' }, fmtNum(t)));
  }
  grid.append(el('text', { x: W - R, y: H - 4, 'text-anchor': 'end' }, opts.xLabel || 'step'));
  svg.append(grid);
  series.forEach((s, i) => {
    const good = s.points.filter(([, y]) => Number.isFinite(y) && (!opts.log || y > 0));
    if (!good.length) return;
    const d = good.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    svg.append(el('path', { d, fill: 'none', stroke: PALETTE[i % PALETTE.length], 'stroke-width': 1.6 }, el('title', {}, s.name)));
    if (good.length === 1) svg.append(el('circle', { cx: sx(good[0][0]), cy: sy(good[0][1]), r: 3, fill: PALETTE[i % PALETTE.length] }));
  });
  // The point nearest the pointer, read out in the corner.
  const readout = el('text', { class: 'readout', x: W - R, y: T + 10, 'text-anchor': 'end' });
  const marker = el('circle', { r: 3.5, fill: 'none', stroke: 'currentColor', visibility: 'hidden' });
  svg.append(readout, marker);
  svg.addEventListener('pointermove', (ev) => {
    const box = svg.getBoundingClientRect();
    const px = ((ev.clientX - box.left) / box.width) * W;
    const py = ((ev.clientY - box.top) / box.height) * H;
    let best = null;
    series.forEach((s, i) => s.points.forEach(([x, y]) => {
      if (!Number.isFinite(y) || (opts.log && y <= 0)) return;
      const d = Math.abs(sx(x) - px) * 4 + Math.abs(sy(y) - py);
      if (!best || d < best.d) best = { d, x, y, i, name: s.name };
    }));
    if (!best) return;
    marker.setAttribute('cx', sx(best.x));
    marker.setAttribute('cy', sy(best.y));
    marker.setAttribute('visibility', 'visible');
    readout.textContent = `${series.length > 1 ? `${best.name}: ` : ''}${opts.xLabel || 'step'} ${fmtNum(best.x)} → ${fmtNum(best.y)}`;
  });
  svg.addEventListener('pointerleave', () => { marker.setAttribute('visibility', 'hidden'); readout.textContent = ''; });
  if (opts.onZoom) {
    const sel = el('rect', { class: 'sel', x: 0, y: T, width: 0, height: H - T - B });
    svg.append(sel);
    let start = null;
    const toX = (ev) => {
      const box = svg.getBoundingClientRect();
      const px = ((ev.clientX - box.left) / box.width) * W;
      return Math.max(L, Math.min(W - R, px));
    };
    svg.addEventListener('pointerdown', (ev) => { start = toX(ev); svg.setPointerCapture(ev.pointerId); });
    svg.addEventListener('pointermove', (ev) => {
      if (start === null) return;
      const x = toX(ev);
      sel.setAttribute('x', Math.min(start, x));
      sel.setAttribute('width', Math.abs(x - start));
    });
    svg.addEventListener('pointerup', (ev) => {
      if (start === null) return;
      const end = toX(ev);
      const [a, b] = [Math.min(start, end), Math.max(start, end)];
      start = null;
      sel.setAttribute('width', 0);
      if (b - a < 4) return;
      const inv = (px) => x0 + ((px - L) / (W - L - R)) * (x1 - x0);
      opts.onZoom([inv(a), inv(b)]);
    });
  }
  return svg;
}

function legend(names) {
  return el('div', { class: 'legend' }, names.map((n, i) => el('span', { cssvars: { '--c': PALETTE[i % PALETTE.length] } }, n)));
}

// Points a zoomed chart asks for per run (the most get-history-bulk-interval gives).
const ZOOM_POINTS = 2500;

// A metric's chart for some runs: downsampled by the server (get-history-bulk-interval), zoom
// (a drag across the chart, or a step range typed in) fetches the chosen steps at full
// resolution when they are at most ZOOM_POINTS a run, else sampled again (zoom further).
function metricCard(key, runs) {
  const state = { x: 'step', log: false, smooth: 0, range: null };
  const body = el('div', {});
  const status = el('span', { class: 'muted' });
  const id = `m-${Math.random().toString(36).slice(2, 8)}`;
  const draw = async () => {
    const qs = new URLSearchParams({ metric_key: key, max_results: state.range ? String(ZOOM_POINTS) : '500' });
    for (const r of runs) qs.append('run_ids', r.id);
    if (state.range) { qs.set('start_step', String(Math.floor(state.range[0]))); qs.set('end_step', String(Math.ceil(state.range[1]))); }
    let points;
    try {
      points = ((await mlflow(`metrics/get-history-bulk-interval?${qs}`)).metrics) || [];
    } catch (e) {
      body.replaceChildren(errorBox(e));
      return;
    }
    const series = runs.map((r) => {
      const mine = points.filter((p) => p.run_id === r.id).sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
      const t0 = mine.length ? Math.min(...mine.map((p) => p.timestamp)) : 0;
      const raw = mine.map((p) => [state.x === 'step' ? p.step : (p.timestamp - t0) / 1000, Number(p.value)]);
      return { name: r.name, points: smooth(raw, state.smooth), steps: mine.map((p) => p.step) };
    });
    // Every step of the range came when it holds at most ZOOM_POINTS steps, or when the runs'
    // steps together are fewer (the server samples the union of the runs' steps past that).
    const full = state.range && (state.range[1] - state.range[0] + 1 <= ZOOM_POINTS
      || new Set(series.flatMap((x) => x.steps)).size < ZOOM_POINTS);
    status.textContent = `${points.length} points${state.range ? ` (steps ${Math.floor(state.range[0])}–${Math.ceil(state.range[1])}, ${full ? 'full resolution' : `sampled to ${ZOOM_POINTS} a run: zoom further for every step`})` : ''}`;
    if (state.range) { fromIn.value = String(Math.floor(state.range[0])); toIn.value = String(Math.ceil(state.range[1])); }
    const chart = lineChart(series, {
      log: state.log, xLabel: state.x === 'step' ? 'step' : 'seconds', label: `${key} by ${state.x}`,
      onZoom: ([a, b]) => {
        // The x range chosen, as steps (in time mode: the steps of the points inside it).
        const inside = series.flatMap((s) => s.points.map((p, i) => [p[0], s.steps[i]])).filter(([x]) => x >= a && x <= b).map(([, st]) => st);
        if (!inside.length) return;
        state.range = [Math.min(...inside), Math.max(...inside)];
        draw();
      },
    });
    body.replaceChildren(chart, runs.length > 1 ? legend(runs.map((r) => r.name)) : '');
  };
  // The zoom by keyboard: a step range typed in.
  const fromIn = el('input', { type: 'number', class: 'step-from', 'aria-label': `${key}: from step`, step: 1, inputmode: 'numeric' });
  const toIn = el('input', { type: 'number', class: 'step-to', 'aria-label': `${key}: to step`, step: 1, inputmode: 'numeric' });
  const rangeForm = el('form', {
    class: 'inline step-range',
    onsubmit: (ev) => {
      ev.preventDefault();
      const [a, b] = [Number(fromIn.value), Number(toIn.value)];
      if (fromIn.value === '' || toIn.value === '' || !Number.isFinite(a) || !Number.isFinite(b) || a > b) return;
      state.range = [a, b];
      draw();
    },
  }, el('label', {}, 'steps ', fromIn), el('label', {}, '– ', toIn), el('button', { type: 'submit' }, 'Zoom'));
  const controls = el('div', { class: 'chart-controls' },
    el('label', {}, 'x ', el('select', { 'aria-label': `${key}: x axis`, onchange: (ev) => { state.x = ev.target.value; draw(); } },
      el('option', { value: 'step' }, 'step'), el('option', { value: 'time' }, 'time'))),
    el('label', {}, el('input', { type: 'checkbox', 'aria-label': `${key}: log scale`, onchange: (ev) => { state.log = ev.target.checked; draw(); } }), ' log scale'),
    el('label', { for: id }, 'smoothing ', el('input', { id, type: 'range', min: 0, max: 0.99, step: 0.01, value: 0, onchange: (ev) => { state.smooth = Number(ev.target.value); draw(); } })),
    rangeForm,
    el('button', { type: 'button', onclick: () => { state.range = null; fromIn.value = ''; toIn.value = ''; draw(); } }, 'Reset zoom'),
    status);
  draw();
  return el('section', { class: 'card metric-card', 'data-metric': key }, el('h3', {}, key), controls, body,
    el('p', { class: 'muted' }, 'Drag across the chart, or type a step range, to zoom.'));
}

// Metric charts, the first `first` at once and the rest behind a button (each chart is a request).
function chartGrid(keys, first, card) {
  const charts = el('div', { class: 'grid charts' }, keys.slice(0, first).map(card));
  if (keys.length <= first) return charts;
  const more = el('button', {
    type: 'button', class: 'more-charts',
    onclick: () => { more.remove(); charts.append(...keys.slice(first).map(card)); },
  }, `Show all ${keys.length} charts`);
  return el('div', {}, charts, more);
}

// ---------------------------------------------------------------------------------------------
// Run

const NOTE_TAG = 'mlflow.note.content';

// After a write: the page drawn again from the server (what it shows is what was stored), or
// the refusal shown in `box`.
const saved = (p) => p.then(() => render());
const failed = (box) => (e) => box.replaceChildren(errorBox(e));

// A button that asks again in place (no dialog) before `act()`; the page is drawn again after.
function confirmButton(id, label, question, act) {
  const box = el('span', { class: 'confirm' });
  const ask = el('button', { type: 'button', id, class: 'danger' }, label);
  ask.addEventListener('click', () => {
    const msg = el('span', {});
    box.replaceChildren(el('span', { role: 'alert' }, question), ' ',
      el('button', { type: 'button', id: `${id}-yes`, class: 'danger', onclick: () => saved(act()).catch(failed(msg)) }, label),
      el('button', { type: 'button', onclick: () => render() }, 'Cancel'), msg);
    box.querySelector(`#${id}-yes`).focus();
  });
  box.append(ask);
  return box;
}

// What a deleted run or experiment page says first; `restore` offered to contributors.
function deletedBanner(what, restore) {
  const msg = el('span', {});
  return el('div', { class: 'card deleted', id: 'deleted-banner', role: 'status' },
    `This ${what} is deleted: hidden from lists, kept until restored. `,
    restore && canWrite() ? el('button', { type: 'button', id: 'restore', onclick: () => saved(restore()).catch(failed(msg)) }, 'Restore') : null, msg);
}

// A run's or an experiment's description (MLflow's note tag), shown as text (never as HTML);
// `writable`: an Edit button whose form saves through `save(value)`, then draws the page again.
function noteCard(note, writable, save) {
  const card = el('section', { class: 'card', id: 'note' }, el('h2', {}, 'Description'),
    el('p', { class: note ? 'note' : 'muted', id: 'note-text' }, note || 'none'));
  if (!writable) return card;
  const edit = el('button', { type: 'button', id: 'edit-note' }, note ? 'Edit' : 'Add a description');
  edit.addEventListener('click', () => {
    const area = el('textarea', { id: 'note-input', rows: 6, 'aria-label': 'Description' });
    area.value = note;
    const msg = el('div', {});
    const form = el('form', { id: 'note-form' }, area, el('div', { class: 'actions' },
      el('button', { type: 'submit', class: 'primary' }, 'Save'),
      el('button', { type: 'button', onclick: () => render() }, 'Cancel')), msg);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      saved(save(area.value)).catch(failed(msg));
    });
    card.replaceChildren(el('h2', {}, 'Description'), form);
    area.focus();
  });
  card.append(edit);
  return card;
}
const SYSTEM_TAG = /^(mlflow|azureml|sluice)\./;
let experimentTagsOpen = false;

// A run's or an experiment's tags (its description apart): with `writable`, its own can be set
// (`set(key, value)`) and removed (`remove(key)`); those MLflow, Azure ML and Sluice set
// (`mlflow.*`, `azureml.*`, `sluice.*`) are shown but kept as their writers left them. The page
// is drawn again from the server afterwards, so what it shows is what was stored.
function tagsSection(all, writable, set, remove) {
  const tags = all.filter((t) => t.key !== NOTE_TAG).sort((a, b) => a.key.localeCompare(b.key));
  const msg = el('div', { id: 'tag-msg' });
  const removable = (key) => writable && !SYSTEM_TAG.test(key);
  const row = (t) => el('tr', { 'data-tag': t.key }, el('td', {}, t.key), el('td', { class: 'mono' }, t.value),
    writable ? el('td', {}, removable(t.key) ? el('button', {
      type: 'button', class: 'link remove-tag', 'aria-label': `Remove tag ${t.key}`,
      onclick: () => saved(remove(t.key)).catch(failed(msg)),
    }, 'Remove') : null) : null);
  const out = [el('h2', {}, `Tags (${tags.length})`),
    tags.length ? table(writable ? ['Name', 'Value', ''] : ['Name', 'Value'], tags.map(row), 'tags') : el('p', { class: 'muted' }, 'none')];
  if (writable) {
    const key = el('input', { id: 'tag-key', placeholder: 'name', 'aria-label': 'Tag name', required: true, maxlength: 250 });
    const value = el('input', { id: 'tag-value', placeholder: 'value', 'aria-label': 'Tag value' });
    const form = el('form', { class: 'inline', id: 'tag-form' }, key, value,
      el('button', { type: 'submit' }, 'Set tag'), msg);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const k = key.value.trim();
      if (SYSTEM_TAG.test(k)) {
        msg.replaceChildren(errorBox(`\`${k}\` is set by MLflow, Azure ML or Sluice; choose a name without that prefix`));
        return;
      }
      saved(set(k, value.value)).catch(failed(msg));
    });
    out.push(form);
  }
  return out;
}
const tagOf = (run, key) => (((run.data && run.data.tags) || []).find((t) => t.key === key) || {}).value;

async function pageRun(view, q, id) {
  const { run } = await mlflow(`runs/get?run_id=${enc(id)}`);
  const info = run.info;
  const data = run.data || {};
  const parent = tagOf(run, 'mlflow.parentRunId');
  const job = tagOf(run, 'sluice.job') || tagOf(run, 'azureml.pipeline');
  const step = tagOf(run, 'sluice.step');
  // Contributors and owners edit the run's name, description and own tags here, through the
  // MLflow routes any client uses (runs/update, runs/set-tag, runs/delete-tag); the page is
  // drawn again from the server afterwards, so what it shows is what was stored.
  const writable = canWrite() && info.lifecycle_stage === 'active';
  const heading = el('div', { class: 'title-row' }, el('h1', {}, info.run_name || info.run_id));
  if (writable) {
    const rename = el('button', { type: 'button', id: 'rename-run', class: 'link' }, 'Rename');
    rename.addEventListener('click', () => {
      const input = el('input', { id: 'run-name', value: info.run_name || '', 'aria-label': 'Run name', maxlength: 250 });
      const msg = el('span', {});
      const form = el('form', { class: 'inline', id: 'rename-form' }, input,
        el('button', { type: 'submit', class: 'primary' }, 'Save'),
        el('button', { type: 'button', onclick: () => render() }, 'Cancel'), msg);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        saved(mlflow('runs/update', { run_id: info.run_id, run_name: input.value.trim() })).catch(failed(msg));
      });
      heading.replaceChildren(form);
      input.focus();
    });
    heading.append(rename,
      confirmButton('delete-run', 'Delete run', 'Delete this run?', () => mlflow('runs/delete', { run_id: info.run_id })));
  }
  if (info.lifecycle_stage === 'deleted') {
    view.append(deletedBanner('run', () => mlflow('runs/restore', { run_id: info.run_id })));
  }
  view.append(heading);
  view.append(el('dl', { class: 'facts' },
    el('dt', {}, 'Status'), el('dd', {}, badge(info.status)),
    el('dt', {}, 'Run id'), el('dd', { class: 'mono' }, info.run_id),
    el('dt', {}, 'Experiment'), el('dd', {}, el('a', { href: `#/experiments/${enc(info.experiment_id)}` }, info.experiment_id)),
    el('dt', {}, 'Started'), el('dd', {}, fmtTime(info.start_time)),
    el('dt', {}, 'Duration'), el('dd', {}, info.end_time ? fmtDuration(info.end_time - info.start_time) : 'running'),
    parent ? [el('dt', {}, 'Parent run'), el('dd', {}, el('a', { href: `#/runs/${enc(parent)}` }, parent))] : null,
    job ? [el('dt', {}, 'Pipeline step'), el('dd', {}, el('a', { href: `#/jobs/${enc(job)}${step ? `?step=${enc(step)}` : ''}` }, step ? `${job} → ${step}` : job))] : null));

  view.append(noteCard(tagOf(run, NOTE_TAG) || '', writable,
    (value) => mlflow('runs/set-tag', { run_id: info.run_id, key: NOTE_TAG, value })));

  const params = (data.params || []).slice().sort((a, b) => a.key.localeCompare(b.key));
  const metrics = (data.metrics || []).slice().sort((a, b) => a.key.localeCompare(b.key));
  const grid = el('div', { class: 'grid' });
  grid.append(el('section', { class: 'card' }, el('h2', {}, `Parameters (${params.length})`),
    params.length ? table(['Name', 'Value'], params.map((p) => el('tr', {}, el('td', {}, p.key), el('td', { class: 'mono' }, p.value)))) : el('p', { class: 'muted' }, 'none')));
  grid.append(el('section', { class: 'card' }, el('h2', {}, `Metrics (${metrics.length})`),
    metrics.length ? table(['Name', 'Latest', 'Step'], metrics.map((m) => el('tr', {}, el('td', {}, m.key), el('td', { class: 'num' }, fmtNum(m.value)), el('td', { class: 'num' }, m.step)))) : el('p', { class: 'muted' }, 'none')));
  view.append(grid);

  if (metrics.length) {
    view.append(el('h2', {}, 'Metric charts'));
    view.append(chartGrid(metrics.map((m) => m.key), 12, (k) => metricCard(k, [{ id: info.run_id, name: info.run_name || info.run_id }])));
  }

  view.append(...tagsSection(data.tags || [], writable,
    (key, value) => mlflow('runs/set-tag', { run_id: info.run_id, key, value }),
    (key) => mlflow('runs/delete-tag', { run_id: info.run_id, key })));

  view.append(el('h2', {}, 'Artifacts'));
  const preview = el('div', { class: 'preview', 'aria-live': 'polite' });
  view.append(el('div', { class: 'grid' }, el('div', { class: 'card' }, await artifactTree(info.run_id, '', preview)),
    el('div', { class: 'card' }, el('h3', {}, 'Preview'), preview)));
}

async function artifactTree(runId, path, preview) {
  const r = await mlflow(`artifacts/list?run_id=${enc(runId)}&path=${enc(path)}`);
  const files = (r && r.files) || [];
  if (!files.length) return el('p', { class: 'muted' }, path ? 'empty folder' : 'no artifacts');
  return el('ul', { class: 'tree' }, files.map((f) => {
    const name = f.path.split('/').pop();
    if (f.is_dir) {
      const li = el('li', {});
      const btn = el('button', {
        type: 'button', class: 'link', 'aria-expanded': 'false',
        onclick: async () => {
          if (btn.getAttribute('aria-expanded') === 'true') { li.lastChild.remove(); btn.setAttribute('aria-expanded', 'false'); return; }
          btn.setAttribute('aria-expanded', 'true');
          li.append(await artifactTree(runId, f.path, preview));
        },
      }, `${name}/`);
      li.append(btn);
      return li;
    }
    return el('li', {}, el('button', { type: 'button', class: 'link', onclick: () => showArtifact(runId, f, preview) }, name),
      ' ', el('span', { class: 'muted' }, f.file_size !== undefined ? `${f.file_size} B` : ''));
  }));
}

// The first `limit` records of CSV (RFC 4180: quoted fields, doubled quotes, line breaks inside
// quotes) or TSV text, blank lines skipped.
function delimitedRows(text, sep, limit) {
  const rows = [];
  let row = []; let field = ''; let quoted = false; let i = 0;
  const endRow = () => {
    row.push(field); field = '';
    if (row.length > 1 || row[0] !== '') rows.push(row);
    row = [];
  };
  while (i < text.length && rows.length < limit) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') quoted = false; else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === sep) { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') { if (c === '\r' && text[i + 1] === '\n') i++; endRow(); }
    else field += c;
    i++;
  }
  if (rows.length < limit && (field !== '' || row.length)) endRow();
  return rows;
}

// Markup (HTML, SVG) is shown as its source: the server sends it as text, never to be run.
const TEXT_FILES = /(^MLmodel$|\.(txt|log|json|ya?ml|md|py|r|sh|toml|cfg|ini|conda|lock|csv|tsv|html?|svg)$|^requirements)/i;
async function showArtifact(runId, f, preview) {
  const url = `get-artifact?path=${enc(f.path)}&run_uuid=${enc(runId)}`;
  const name = f.path.split('/').pop();
  const head = el('p', {}, el('strong', {}, f.path), ' · ', el('a', { href: url, download: name }, 'download'));
  if (/\.(png|jpe?g|gif|webp)$/i.test(name)) {
    preview.replaceChildren(head, el('img', { src: url, alt: f.path }));
    return;
  }
  if (!TEXT_FILES.test(name) || (f.file_size || 0) > 2e6) {
    preview.replaceChildren(head, el('p', { class: 'muted' }, 'No preview for this file type or size.'));
    return;
  }
  const res = await fetch(url, { credentials: 'same-origin' });
  const text = await res.text();
  if (/\.(csv|tsv)$/i.test(name)) {
    const [h, ...rows] = delimitedRows(text, /\.tsv$/i.test(name) ? '\t' : ',', 101);
    preview.replaceChildren(head, table(h || [], rows.map((cells) => el('tr', {}, cells.map((c) => el('td', {}, c))))),
      el('p', { class: 'muted' }, `first ${rows.length} rows`));
    return;
  }
  preview.replaceChildren(head, el('pre', { class: 'log' }, text.length > 200000 ? `${text.slice(0, 200000)}\n…` : text));
}

// ---------------------------------------------------------------------------------------------
// Compare

async function pageCompare(view, q) {
  const ids = (q.get('runs') || '').split(',').filter(Boolean);
  if (ids.length < 2) {
    view.append(el('h1', {}, 'Compare runs'), el('p', {}, 'Pick two or more runs in an experiment\'s table.'));
    return;
  }
  const runs = (await Promise.all(ids.map((id) => mlflow(`runs/get?run_id=${enc(id)}`)))).map((r) => r.run);
  const plain = runs.map((r) => r.info.run_name || r.info.run_id);
  // Runs of the same pipeline step share a name: the run id's start tells them apart.
  const names = plain.map((n, i) => (plain.filter((x) => x === n).length > 1 ? `${n} (${runs[i].info.run_id.slice(0, 8)})` : n));
  view.append(el('h1', {}, `Compare ${runs.length} runs`));
  const mapOf = (r, kind) => Object.fromEntries(((r.data && r.data[kind]) || []).map((x) => [x.key, x.value]));
  const params = runs.map((r) => mapOf(r, 'params'));
  const metrics = runs.map((r) => mapOf(r, 'metrics'));
  const pkeys = [...new Set(params.flatMap(Object.keys))].sort();
  const mkeys = [...new Set(metrics.flatMap(Object.keys))].sort();
  const runHead = ['', ...runs.map((r, i) => el('th', { scope: 'col' }, el('a', { href: `#/runs/${enc(r.info.run_id)}` }, names[i])))];
  const onlyDiff = el('input', { type: 'checkbox', id: 'only-diff' });
  const prow = (k) => {
    const vals = params.map((p) => p[k]);
    const differs = new Set(vals.map((v) => v ?? '∅')).size > 1;
    return el('tr', { class: differs ? 'diff' : 'same' }, el('th', { scope: 'row' }, k), vals.map((v) => el('td', { class: 'mono' }, v ?? '')));
  };
  const ptable = table(runHead, pkeys.map(prow), 'params');
  onlyDiff.addEventListener('change', () => {
    for (const tr of ptable.querySelectorAll('tr.same')) tr.hidden = onlyDiff.checked;
  });
  view.append(el('h2', {}, 'Parameters'), el('label', {}, onlyDiff, ' only the parameters that differ (highlighted)'), ptable);
  view.append(el('h2', {}, 'Metrics (latest)'), table(runHead, mkeys.map((k) => el('tr', {}, el('th', { scope: 'row' }, k),
    metrics.map((m) => el('td', { class: 'num' }, fmtNum(m[k])))))));

  const shared = mkeys.filter((k) => metrics.every((m) => k in m));
  if (shared.length) {
    view.append(el('h2', {}, 'Parameters → metric'));
    const pick = el('select', { id: 'pc-metric', 'aria-label': 'Metric for the parallel coordinates' }, shared.map((k) => el('option', { value: k }, k)));
    const holder = el('div', {});
    const drawPc = () => holder.replaceChildren(parallelCoords(runs, names, params, pkeys, metrics, pick.value));
    pick.addEventListener('change', drawPc);
    view.append(el('div', { class: 'card' }, el('label', {}, 'Metric ', pick), holder));
    drawPc();
    view.append(el('h2', {}, 'Metric charts'));
    view.append(chartGrid(shared, 8, (k) => metricCard(k, runs.map((r, i) => ({ id: r.info.run_id, name: names[i] })))));
  }
}

// Parallel coordinates: one axis per parameter that differs (numbers scaled, other values
// spaced in order), the chosen metric last; one line per run.
function parallelCoords(runs, names, params, pkeys, metrics, metric) {
  const axes = pkeys.filter((k) => new Set(params.map((p) => p[k] ?? '')).size > 1).slice(0, 8);
  axes.push(`metric: ${metric}`);
  const W = 720; const H = 260; const T = 28; const B = 20; const L = 60; const R = 60;
  const svg = el('svg', { class: 'chart parallel', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Parallel coordinates of the differing parameters and ${metric}` });
  const xs = axes.map((_, i) => (axes.length === 1 ? W / 2 : L + (i * (W - L - R)) / (axes.length - 1)));
  const scales = axes.map((a, i) => {
    const vals = i === axes.length - 1 ? metrics.map((m) => m[metric]) : params.map((p) => p[a]);
    const nums = vals.map(Number);
    if (vals.every((v) => v !== undefined && v !== '' && Number.isFinite(Number(v)))) {
      const lo = Math.min(...nums); const hi = Math.max(...nums);
      return { pos: (v) => (hi === lo ? 0.5 : (Number(v) - lo) / (hi - lo)), labels: [[0, fmtNum(lo)], [1, fmtNum(hi)]] };
    }
    const cats = [...new Set(vals.map((v) => v ?? '∅'))].sort();
    return { pos: (v) => (cats.length === 1 ? 0.5 : cats.indexOf(v ?? '∅') / (cats.length - 1)), labels: cats.map((c, j) => [cats.length === 1 ? 0.5 : j / (cats.length - 1), c]) };
  });
  const y = (p) => T + (1 - p) * (H - T - B);
  axes.forEach((a, i) => {
    svg.append(el('line', { x1: xs[i], x2: xs[i], y1: T, y2: H - B, stroke: 'currentColor', class: 'gridline' }),
      el('text', { x: xs[i], y: 14, 'text-anchor': 'middle' }, a.length > 24 ? `${a.slice(0, 23)}…` : a));
    for (const [p, label] of scales[i].labels) svg.append(el('text', { x: xs[i] + 4, y: y(p) + 3 }, String(label).slice(0, 16)));
  });
  runs.forEach((r, j) => {
    const vals = axes.map((a, i) => (i === axes.length - 1 ? metrics[j][metric] : params[j][a]));
    const d = vals.map((v, i) => `${i ? 'L' : 'M'}${xs[i].toFixed(1)},${y(scales[i].pos(v)).toFixed(1)}`).join('');
    svg.append(el('path', { d, fill: 'none', stroke: PALETTE[j % PALETTE.length], 'stroke-width': 2 }, el('title', {}, names[j])));
  });
  return el('div', {}, svg, legend(names));
}

// ---------------------------------------------------------------------------------------------
// Jobs

const TERMINAL = new Set(['Completed', 'Failed', 'Canceled', 'NotResponding', 'Skipped']);
const started = (x) => isoMs(x.start_time);
const ended = (x) => isoMs(x.end_time);

async function pageJobs(view) {
  const jobs = await api('api/sluice/v1/jobs?max_results=500');
  view.append(el('h1', {}, 'Jobs'));
  if (!jobs.length) {
    view.append(el('p', { class: 'muted' }, 'No jobs yet: `sluice job create -f pipeline.yml`.'));
    return;
  }
  view.append(table(['Name', 'Display name', 'Status', 'Experiment', 'Created', 'Duration'], jobs.map((j) => el('tr', {},
    el('td', {}, el('a', { href: `#/jobs/${enc(j.name)}` }, j.name)),
    el('td', {}, j.display_name || ''),
    el('td', {}, badge(j.status)),
    el('td', {}, j.experiment_name || ''),
    el('td', {}, j.created_at ? fmtTime(Date.parse(j.created_at)) : ''),
    el('td', {}, started(j) && ended(j) ? fmtDuration(ended(j) - started(j)) : '')))));
}

// Steps placed in columns by depth (a step is one column right of its deepest dependency).
function layoutDag(steps) {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const depth = new Map();
  const depthOf = (name, seen = new Set()) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const s = byName.get(name);
    const d = s ? Math.max(-1, ...(s.deps || []).filter((x) => byName.has(x)).map((x) => depthOf(x, seen))) + 1 : 0;
    depth.set(name, d);
    return d;
  };
  for (const s of steps) depthOf(s.name);
  const cols = [];
  for (const s of steps) (cols[depth.get(s.name)] ||= []).push(s.name);
  const NW = 170; const NH = 48; const GX = 60; const GY = 18;
  const pos = new Map();
  cols.forEach((names, c) => names.forEach((n, r) => pos.set(n, { x: 10 + c * (NW + GX), y: 10 + r * (NH + GY) })));
  const W = 20 + cols.length * (NW + GX) - GX;
  const H = 20 + Math.max(...cols.map((c) => c.length)) * (NH + GY) - GY;
  return { pos, W, H, NW, NH };
}

// A graph of nodes {name, label, sub, status, deps}; onPick(name) when one is chosen.
function dagSvg(steps, opts = {}) {
  const { pos, W, H, NW, NH } = layoutDag(steps);
  // Drawn at its own size (a wide graph scrolls sideways instead of shrinking its text).
  const svg = el('svg', { class: 'dag', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'group', 'aria-label': opts.label || 'graph' });
  for (const s of steps) {
    for (const d of s.deps || []) {
      const a = pos.get(d); const b = pos.get(s.name);
      if (!a || !b) continue;
      const [x1, y1, x2, y2] = [a.x + NW, a.y + NH / 2, b.x, b.y + NH / 2];
      const mx = (x1 + x2) / 2;
      svg.append(el('path', { class: 'edge', d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
    }
  }
  for (const s of steps) {
    const p = pos.get(s.name);
    const label = s.label || s.name;
    const g = el('g', {
      class: `node s-${s.status || 'none'}${opts.selected === s.name ? ' selected' : ''}`, 'data-step': s.name,
      transform: `translate(${p.x},${p.y})`, tabindex: opts.onPick ? 0 : undefined, role: opts.onPick ? 'button' : 'img',
      'aria-label': `${label}: ${s.status || ''}${s.sub ? `, ${s.sub}` : ''}`,
    },
    el('rect', { width: NW, height: NH, rx: 6 }),
    el('text', { x: 8, y: 18 }, label.length > 24 ? `${label.slice(0, 23)}…` : label),
    el('text', { class: 'st', x: 8, y: 36 }, [s.status === 'none' ? '' : s.status, s.sub].filter(Boolean).join(' · ').slice(0, 30)),
    el('title', {}, `${label}\n${s.status || ''}${s.sub ? `\n${s.sub}` : ''}`));
    if (opts.onPick) {
      g.addEventListener('click', () => opts.onPick(s.name));
      g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); opts.onPick(s.name); } });
    }
    svg.append(g);
  }
  return svg;
}

async function pageJob(view, q, name) {
  let job = await api(`api/sluice/v1/jobs/${enc(name)}`);
  let picked = q.get('step') || null;
  const h1 = el('h1', {}, job.display_name ? `${job.display_name} (${job.name})` : job.name);
  const facts = el('dl', { class: 'facts' });
  const actions = el('div', { class: 'row' });
  const msg = el('div', { 'aria-live': 'polite' });
  const dagHolder = el('div', { class: 'card scroll' });
  const stepsHolder = el('div', {});
  const detail = el('section', { class: 'card', id: 'step-detail' });
  view.append(h1, facts, actions, msg, el('h2', {}, 'Pipeline'), dagHolder, stepsHolder, detail);

  const explainOf = async () => {
    if (!S.explain.has(job.name) || !TERMINAL.has(job.status)) {
      try { S.explain.set(job.name, await cli('job', 'explain', '-n', job.name)); } catch (_) { S.explain.set(job.name, []); }
    }
    return new Map((S.explain.get(job.name) || []).map((e) => [e.step, e]));
  };
  let explained = await explainOf();
  let logTimer = null;
  // Each showing of a step's log has its own generation: a fetch of an earlier one appends nothing.
  let logGen = 0;
  // Leaving the page ends its log reading, a read in flight included.
  onLeave(() => { logGen++; clearTimeout(logTimer); });

  const stepsOf = () => Object.values(job.jobs || {});
  const draw = () => {
    const steps = stepsOf();
    facts.replaceChildren(...[
      el('dt', {}, 'Status'), el('dd', { id: 'job-status' }, badge(job.status)),
      el('dt', {}, 'Experiment'), el('dd', {}, job.experiment_name || ''),
      el('dt', {}, 'Started'), el('dd', {}, fmtTime(Date.parse(job.start_time))),
      el('dt', {}, 'Duration'), el('dd', {}, started(job) ? fmtDuration((ended(job) || Date.now()) - started(job)) : ''),
      job.mlflow && job.mlflow.run_id ? [el('dt', {}, 'Pipeline run'), el('dd', {}, el('a', { href: `#/runs/${enc(job.mlflow.run_id)}` }, job.mlflow.run_id))] : null,
      job.error ? [el('dt', {}, 'Error'), el('dd', { class: 'error' }, typeof job.error === 'string' ? job.error : JSON.stringify(job.error))] : null,
    ].flat().filter(Boolean));
    actions.replaceChildren();
    if (canWrite() && !TERMINAL.has(job.status)) {
      actions.append(el('button', { type: 'button', class: 'danger', id: 'cancel-job', onclick: () => act('cancel') }, 'Cancel job'));
    }
    if (canWrite() && ['Failed', 'Canceled'].includes(job.status)) {
      actions.append(el('button', { type: 'button', id: 'resume-job', onclick: () => act('resume') }, 'Resume job'));
    }
    const nodes = steps.map((s) => ({
      name: s.name, label: s.display_name || s.name, status: s.status, deps: s.depends_on || [],
      sub: s.reused_from ? 'reused' : (started(s) ? fmtDuration((ended(s) || Date.now()) - started(s)) : ''),
    }));
    dagHolder.replaceChildren(dagSvg(nodes, { label: `Steps of ${job.name}`, selected: picked, onPick: (n) => { picked = n; draw(); showStep(); } }));
    stepsHolder.replaceChildren(table(['Step', 'Status', 'Duration', 'Reuse', 'Why (explain)', 'Compute', 'Run'], steps.map((s) => {
      const ex = explained.get(s.name);
      return el('tr', { 'data-step': s.name },
        el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => { picked = s.name; draw(); showStep(); } }, s.display_name || s.name)),
        el('td', {}, badge(s.status)),
        el('td', {}, started(s) ? fmtDuration((ended(s) || Date.now()) - started(s)) : ''),
        el('td', {}, s.reused_from ? el('a', { href: `#/jobs/${enc(s.reused_from.split('/')[0])}` }, `reused from ${s.reused_from}`) : ''),
        el('td', { class: 'explain' }, ex ? `${ex.decision}: ${ex.reason}` : ''),
        el('td', {}, [s.compute, s.executor, s.executor_id].filter(Boolean).join(' · ')),
        el('td', {}, s.mlflow && s.mlflow.run_id ? el('a', { href: `#/runs/${enc(s.mlflow.run_id)}` }, 'run') : ''));
    }), 'steps'));
  };
  const act = async (what) => {
    msg.replaceChildren();
    try {
      await api(`api/sluice/v1/jobs/${enc(job.name)}/${what}`, { method: 'POST' });
      msg.replaceChildren(el('p', { class: 'notice' }, what === 'cancel' ? 'Cancel requested.' : 'Resumed.'));
      job = await api(`api/sluice/v1/jobs/${enc(job.name)}`);
      draw();
      if (what === 'resume') follow();
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
  };
  // The chosen step: what it ran, why, and its log (followed while it runs).
  // The offset counts the log's bytes; a chunk may end inside a character, which the streaming
  // decoder holds until the next one.
  let logOffset = 0; let logFor = null; let logDecoder = new TextDecoder();

  const logPre = el('pre', { class: 'log', id: 'step-log', tabindex: 0, 'aria-label': 'step log' });
  const showStep = () => {
    clearTimeout(logTimer);
    const s = (job.jobs || {})[picked];
    if (!s) { detail.replaceChildren(el('p', { class: 'muted' }, 'Pick a step to see its log.')); return; }
    if (logFor !== picked) { logOffset = 0; logPre.textContent = ''; logFor = picked; logDecoder = new TextDecoder(); }
    const gen = ++logGen;
    const ex = explained.get(s.name);
    detail.replaceChildren(el('h3', {}, `Step ${s.display_name || s.name}`),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Status'), el('dd', {}, badge(s.status)),
        el('dt', {}, 'Command'), el('dd', { class: 'mono' }, s.command || ''),
        ex ? [el('dt', {}, 'Explain'), el('dd', {}, `${ex.decision}: ${ex.reason}`)] : null,
        s.error ? [el('dt', {}, 'Error'), el('dd', {}, String(s.error))] : null),
      el('h3', {}, 'Log'), logPre);
    const pull = async () => {
      let more = false;
      try {
        const res = await fetch(`api/sluice/v1/jobs/${enc(job.name)}/steps/${enc(s.name)}/log?offset=${logOffset}`, { credentials: 'same-origin' });
        if (gen !== logGen) return; // the step was shown again meanwhile: that showing reads on
        if (res.ok) {
          const bytes = new Uint8Array(await res.arrayBuffer());
          if (gen !== logGen) return;
          const size = Number(res.headers.get('X-Sluice-Log-Size') || 0);
          if (res.headers.has('X-Sluice-Log-Size') && size < logOffset) {
            // The log began again (a retry or a resume moves the attempt's log aside): read it
            // from its start.
            logOffset = 0; logPre.textContent = ''; logDecoder = new TextDecoder();
            logTimer = setTimeout(pull, 0);
            return;
          }
          if (bytes.length) {
            const atEnd = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 4;
            logOffset += bytes.length;
            logPre.append(logDecoder.decode(bytes, { stream: true }));
            if (atEnd) logPre.scrollTop = logPre.scrollHeight;
          }
          // A log longer than one answer (1 MiB): the rest at once.
          more = bytes.length > 0 && size > logOffset;
        }
      } catch (_) { /* retried below */ }
      if (gen !== logGen) return;
      const now = (job.jobs || {})[s.name];
      if (more) logTimer = setTimeout(pull, 0);
      else if (picked === s.name && now && !TERMINAL.has(now.status)) logTimer = setTimeout(pull, 1000);
      else if (picked === s.name && now && TERMINAL.has(now.status) && !logPre.dataset.final) {
        logPre.dataset.final = '1';
        logTimer = setTimeout(pull, 300); // the last lines written as it finished
      }
    };
    delete logPre.dataset.final;
    pull();
  };
  // Live status: the server sends the job each time it changes.
  const follow = () => {
    if (TERMINAL.has(job.status) || !window.EventSource) return;
    const es = new EventSource(`api/sluice/v1/jobs/${enc(job.name)}/events`);
    onLeave(() => es.close());
    es.addEventListener('job', async (ev) => {
      const was = (job.jobs || {})[picked];
      job = JSON.parse(ev.data);
      draw();
      const now = (job.jobs || {})[picked];
      if (now && was && now.status !== was.status) showStep();
      if (TERMINAL.has(job.status)) {
        es.close();
        explained = await explainOf();
        draw();
      }
    });
    es.addEventListener('error', () => { if (TERMINAL.has(job.status)) es.close(); });
  };
  draw();
  showStep();
  follow();
}

// ---------------------------------------------------------------------------------------------
// Models: versions, aliases, the policy and its gate per version, approvals, promotion, lineage

async function pageModels(view) {
  const r = await mlflow('registered-models/search?max_results=1000');
  const models = (r && r.registered_models) || [];
  view.append(el('h1', {}, 'Registered models'));
  if (!models.length) {
    view.append(el('p', { class: 'muted' }, 'No registered models yet.'));
    return;
  }
  view.append(table(['Name', 'Latest version', 'Aliases', 'Last updated'], models.map((m) => el('tr', {},
    el('td', {}, el('a', { href: `#/models/${enc(m.name)}` }, m.name)),
    el('td', { class: 'num' }, ((m.latest_versions || []).map((v) => Number(v.version)).sort((a, b) => b - a)[0]) ?? ''),
    el('td', {}, (m.aliases || []).map((a) => `@${a.alias} → v${a.version}`).join(', ')),
    el('td', {}, fmtTime(m.last_updated_timestamp))))));
}

function gateCell(gate) {
  if (!gate) return el('span', { class: 'muted' }, 'no gate');
  const vs = gate.baseline_version ? ` vs champion v${gate.baseline_version}: ${fmtNum(gate.baseline_value)}` : ' (no champion yet)';
  return el('div', { class: 'gate' }, badge(gate.passed ? 'pass' : 'fail'), ' ',
    el('span', { class: 'mono' }, `${gate.metric} ${fmtNum(gate.value)}${vs}`),
    (gate.failures || []).map((f) => el('div', { class: 'muted' }, typeof f === 'string' ? f : JSON.stringify(f))));
}

async function pageModel(view, q, name) {
  const [status, versions] = await Promise.all([
    cli('model', 'status', '-n', name),
    mlflow(`model-versions/search?filter=${enc(`name='${name.replace(/'/g, "\\'")}'`)}&max_results=1000`),
  ]);
  const created = new Map(((versions && versions.model_versions) || []).map((v) => [v.version, v]));
  const me = S.session && S.session.user ? S.session.user.name : '';
  view.append(el('h1', {}, name));
  const msg = el('div', { 'aria-live': 'polite', id: 'model-msg' });
  view.append(msg);
  const aliases = Object.entries(status.aliases || {});
  view.append(el('div', { class: 'grid' },
    el('section', { class: 'card' }, el('h2', {}, 'Aliases'),
      aliases.length ? el('dl', { class: 'facts', id: 'aliases' }, aliases.map(([a, v]) => [el('dt', {}, `@${a}`), el('dd', {}, `version ${v}`)])) : el('p', { class: 'muted', id: 'aliases' }, 'none')),
    el('section', { class: 'card' }, el('h2', {}, 'Promotion policy'),
      status.policy ? el('pre', { class: 'json', id: 'policy' }, JSON.stringify(status.policy, null, 2)) : el('p', { class: 'muted', id: 'policy' }, 'No policy: aliases move freely (`sluice model policy set`).'))));

  const protectedAliases = (status.policy && (status.policy.protected_aliases || status.policy.aliases)) || ['champion'];
  if (S.flash) {
    msg.replaceChildren(el('p', { class: 'notice' }, S.flash));
    S.flash = null;
  }
  // A change, then the page drawn again from the server's state (with what was done said).
  const run = async (what, args) => {
    msg.replaceChildren();
    try {
      await cli(...args);
    } catch (e) {
      msg.replaceChildren(errorBox(e));
      return;
    }
    S.flash = what;
    await render();
  };
  view.append(el('h2', {}, 'Versions'));
  const rows = (status.versions || []).slice().sort((a, b) => Number(b.version) - Number(a.version)).map((v) => {
    const mv = created.get(v.version) || {};
    const buttons = el('div', { class: 'row' });
    // Owners other than the creator, until they approved it (the server counts one each).
    if (isOwner() && v.created_by !== me && !(v.approvals || []).some((a) => a.approver === me)) {
      buttons.append(el('button', { type: 'button', class: 'approve', 'data-version': v.version, onclick: () => run(`Approved version ${v.version}.`, ['model', 'approve', '-n', name, '-v', v.version]) }, 'Approve'));
    }
    if (canWrite()) {
      const sel = el('select', { 'aria-label': `Alias for version ${v.version}` }, [...new Set([...protectedAliases, 'champion', 'challenger'])].map((a) => el('option', { value: a }, a)));
      buttons.append(sel, el('button', { type: 'button', class: 'promote', 'data-version': v.version, onclick: () => run(`Version ${v.version} is now @${sel.value}.`, ['model', 'promote', '-n', name, '-v', v.version, '-a', sel.value]) }, 'Promote'));
    }
    return el('tr', { 'data-version': v.version },
      el('td', { class: 'num' }, v.version),
      el('td', {}, (v.aliases || []).map((a) => `@${a}`).join(', ')),
      el('td', {}, v.created_by || ''),
      el('td', {}, fmtTime(mv.creation_timestamp)),
      el('td', {}, v.run_id ? el('a', { href: `#/runs/${enc(v.run_id)}` }, 'run') : ''),
      el('td', { class: 'approvals' }, `${v.approvals_counted}/${v.approvals_required}`, (v.approvals || []).map((a) => el('div', { class: 'muted' }, `${a.approver || ''}${a.comment ? `: ${a.comment}` : ''}`))),
      el('td', {}, gateCell(v.gate)),
      el('td', {}, buttons, el('button', { type: 'button', class: 'link', onclick: () => showLineage(v.version) }, 'lineage')));
  });
  view.append(table(['Version', 'Aliases', 'Created by', 'Created', 'Run', 'Approvals', 'Gate vs champion', 'Actions'], rows, 'versions'));
  if (!isOwner()) view.append(el('p', { class: 'muted' }, 'Approving needs the owner role (and not being the version\'s creator).'));

  const lineage = el('section', { class: 'card', id: 'lineage' });
  view.append(el('h2', {}, 'Lineage'), lineage);
  const showLineage = async (version) => {
    lineage.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
    try {
      lineage.replaceChildren(lineageView(await cli('model', 'lineage', '-n', name, '-v', String(version))));
    } catch (e) {
      lineage.replaceChildren(errorBox(e));
    }
  };
  const latest = (status.versions || []).map((v) => Number(v.version)).sort((a, b) => b - a)[0];
  if (latest) await showLineage(q.get('version') || latest);
}

// data version → job → steps → runs → environment (lock) → code (git commit) → model version →
// alias history, as a graph.
function lineageView(l) {
  const nodes = [];
  const add = (n) => { nodes.push(n); return n.name; };
  const dataNames = (l.data || []).map((d, i) => add({
    name: `data${i}`, label: d.asset ? `data ${d.asset}:${d.version}` : `data ${(d.path || '').split('/').pop()}`,
    sub: (d.content_hash || '').slice(0, 19), status: 'none', deps: [],
  }));
  const jobName = l.job ? add({ name: 'job', label: `job ${l.job.name}`, status: l.job.status, deps: dataNames }) : null;
  const runOf = new Map((l.runs || []).filter((r) => r.step).map((r) => [r.step, r]));
  const stepNames = (l.steps || []).map((s) => {
    const env = s.environment || {};
    const code = s.code || {};
    const stepNode = add({ name: `step:${s.name}`, label: `step ${s.name}`, status: s.status, deps: jobName ? [jobName] : [] });
    const r = runOf.get(s.name);
    const runNode = r ? add({ name: `run:${s.name}`, label: `run ${r.run_id.slice(0, 12)}`, sub: r.status, status: r.status === 'FINISHED' ? 'Completed' : r.status, deps: [stepNode] }) : stepNode;
    const envNode = add({ name: `env:${s.name}`, label: `env ${env.requested || env.runs_on || 'host'}`.slice(0, 40), sub: env.lock ? `lock ${String(env.lock).split('/').pop()}` : (env.hash ? env.hash.slice(0, 19) : 'no lock'), status: 'none', deps: [runNode] });
    return add({ name: `code:${s.name}`, label: code.git_commit ? `code ${code.git_commit.slice(0, 10)}${code.git_dirty ? ' (dirty)' : ''}` : 'code', sub: code.hash ? code.hash.slice(0, 19) : (code.missing ? 'not recorded' : ''), status: 'none', deps: [envNode] });
  });
  const model = l.model || {};
  const mv = add({ name: 'model', label: `model ${model.name} v${model.version}`, sub: (model.aliases || []).map((a) => `@${a}`).join(' '), status: 'READY', deps: stepNames.length ? stepNames : (jobName ? [jobName] : []) });
  let prev = mv;
  (l.alias_history || []).forEach((h, i) => {
    prev = add({ name: `alias${i}`, label: `@${h.alias} → v${h.version}`, sub: `${h.actor || ''} ${h.at ? fmtTime(Date.parse(h.at)) : ''}`.trim(), status: 'none', deps: [prev] });
  });
  const list = el('ul', {}, (l.data || []).map((d) => el('li', {}, 'Data: ', d.asset ? `${d.asset} version ${d.version}` : d.path, ` (${d.content_hash || 'no hash'}) → step ${d.step}, input ${d.input}`)),
    l.job ? el('li', {}, 'Job: ', el('a', { href: `#/jobs/${enc(l.job.name)}` }, l.job.name), ` (${l.job.status})`) : null,
    (l.approvals || []).map((a) => el('li', {}, `Approved by ${a.approver} at ${fmtTime(Date.parse(a.at))}${a.comment ? `: ${a.comment}` : ''}`)),
    (l.alias_history || []).map((h) => el('li', {}, `@${h.alias} moved to version ${h.version}${h.previous ? ` (from ${h.previous})` : ''} by ${h.actor} at ${fmtTime(Date.parse(h.at))}`)));
  return el('div', {}, el('h3', {}, `Version ${model.version}`), el('div', { class: 'scroll' }, dagSvg(nodes, { label: `Lineage of ${model.name} version ${model.version}` })), list);
}

// ---------------------------------------------------------------------------------------------
// Audit

const AUDIT_PAGE = 200;
async function pageAudit(view, q) {
  // Filters the server applies (`sluice audit list`), a page of the newest entries they keep,
  // and a link to the page before it; `q` narrows the page shown, in the browser.
  const FILTERS = [['model', '-m', 'Model'], ['actor', '--actor', 'Actor'], ['action', '--action', 'Action'],
    ['since', '--since', 'Since'], ['until', '--until', 'Until']];
  const text = (q.get('q') || '').toLowerCase();
  const size = Math.max(1, Math.min(1000, Number(q.get('size')) || AUDIT_PAGE));
  const args = ['audit', 'list', '--max-results', String(size)];
  for (const [key, flag] of FILTERS) if (q.get(key)) args.push(flag, q.get(key));
  if (q.get('before')) args.push('--before-seq', q.get('before'));
  let entries = [];
  let problem = null;
  const [listed, verify] = await Promise.all([cli(...args).catch((e) => { problem = e; return []; }), cli('audit', 'verify')]);
  entries = listed || [];
  view.append(el('h1', {}, 'Audit log'));
  view.append(el('p', { id: 'audit-verify', class: verify.ok ? 'notice' : 'error' },
    verify.ok ? `Verified: ${verify.entries} entries, each linked to the one before (head ${verify.head_seq}).` : `Verification FAILED: ${(verify.problems || []).join('; ')}`));
  const inputs = FILTERS.map(([key, , label]) => [key, label, el('input', {
    id: `audit-${key}`, value: q.get(key) || '',
    placeholder: { action: 'alias.set, or infra', since: '2026-12-06', until: '2026-12-06T12:00:00Z' }[key] || '',
  })]);
  const t = el('input', { id: 'audit-text', type: 'search', value: q.get('q') || '', placeholder: 'in this page' });
  view.append(el('form', {
    class: 'toolbar', role: 'search',
    onsubmit: (ev) => {
      ev.preventDefault();
      const params = [...inputs.map(([key, , input]) => [key, input.value.trim()]), ['q', t.value.trim()]];
      go('/audit', new URLSearchParams(params.filter(([, v]) => v)));
    },
  }, inputs.map(([key, label, input]) => el('label', { for: `audit-${key}` }, label, input)),
  el('label', { class: 'grow', for: 'audit-text' }, 'Contains', t),
  el('button', { type: 'submit', class: 'primary' }, 'Filter')));
  if (problem) view.append(errorBox(problem));
  const shown = entries.slice().reverse().filter((e) => !text || [e.actor, e.action, e.target, e.model].some((v) => String(v || '').toLowerCase().includes(text)));
  view.append(el('p', { class: 'muted', id: 'audit-count' }, `${shown.length} entries, newest first`));
  view.append(table(['#', 'When', 'Actor', 'Action', 'Target', 'Change'], shown.map((e) => el('tr', {},
    el('td', { class: 'num' }, e.seq), el('td', { class: 'nowrap' }, fmtTime(Date.parse(e.at))), el('td', {}, e.actor),
    el('td', { class: 'mono' }, e.action), el('td', { class: 'mono' }, e.target || e.model || ''),
    el('td', {}, el('details', {}, el('summary', {}, 'before / after'), el('pre', { class: 'json' }, JSON.stringify({ before: e.before, after: e.after }, null, 2)))))), 'audit'));
  // A full page may have older entries before it.
  if (entries.length === size) {
    const older = new URLSearchParams([...q.entries()].filter(([k]) => k !== 'before'));
    older.set('before', String(entries[0].seq));
    view.append(el('p', {}, el('a', { id: 'audit-older', href: `#/audit?${older}` }, 'Older entries')));
  }
}

// ---------------------------------------------------------------------------------------------

window.addEventListener('hashchange', render);
window.addEventListener('DOMContentLoaded', render);
