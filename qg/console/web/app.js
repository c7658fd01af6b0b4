// The qg console's page. Every value from the server reaches the page as
// text (textContent, createTextNode, setAttribute): never innerHTML, so a
// job whose args or last_error hold markup shows that markup as text.
'use strict';
(function () {
  const csrf = document.querySelector('meta[name="qg-csrf"]').content;
  const main = document.getElementById('main');
  const flashBox = document.getElementById('flash');
  let config = null;
  let timer = null;
  const STATES = ['any', 'ready', 'runnable', 'scheduled', 'working', 'errored', 'dead'];

  // --- DOM helpers --------------------------------------------------------

  function append(parent, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return parent;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    return append(e, children);
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return append(e, children);
  }

  function replace(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  function flash(message, ok) {
    flashBox.className = ok ? 'ok' : 'bad';
    flashBox.textContent = message;
  }

  function queueName(q) { return q === '' ? '(default)' : q; }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return '';
    seconds = Math.max(0, seconds);
    if (seconds < 1) return '< 1 s';
    if (seconds < 90) return Math.round(seconds) + ' s';
    if (seconds < 5400) return Math.round(seconds / 60) + ' min';
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + ' h';
    return Math.round(seconds / 86400) + ' d';
  }

  function jobsLink(params) {
    return '#/jobs?' + new URLSearchParams(params).toString();
  }

  // --- API ----------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, options) {
    const res = await fetch(path, Object.assign({ credentials: 'same-origin' }, options || {}));
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      throw new ApiError(res.status, (body && body.error) || ('HTTP ' + res.status));
    }
    return body;
  }

  function act(path, params) {
    const query = params ? '?' + new URLSearchParams(params).toString() : '';
    return api(path + query, { method: 'POST', headers: { 'X-QG-CSRF': csrf } });
  }

  async function runAction(promise, after) {
    try {
      const r = await promise;
      flash(r.message, true);
    } catch (e) {
      flash(e.message, false);
    }
    if (after) after();
  }

  function canAct(name) { return config && config.actions[name]; }

  function actionButton(label, name, onclick, cls) {
    if (config.read_only) return null;
    const enabled = canAct(name);
    return el('button', {
      type: 'button', class: cls || null, disabled: !enabled,
      title: enabled ? null : (config.unavailable[name] || ''), 'data-action': name,
      onclick: onclick,
    }, label);
  }

  // --- Overview -----------------------------------------------------------

  function countCell(g, state, n) {
    const cls = 'num ' + state + (n === 0 ? ' zero' : '');
    const link = el('a', { href: jobsLink({ queue: g.queue, type: g.type, state: state }) }, n);
    return el('td', { class: cls, 'data-queue': g.queue, 'data-type': g.type, 'data-state': state }, link);
  }

  function groupsTable(data) {
    const rows = data.groups.map((g) => el('tr', {},
      el('td', {}, queueName(g.queue)),
      el('td', {}, g.type),
      countCell(g, 'ready', g.ready),
      countCell(g, 'scheduled', g.scheduled),
      countCell(g, 'working', g.working),
      countCell(g, 'errored', g.errored),
      countCell(g, 'dead', g.dead),
      el('td', { class: 'num' }, g.ready > 0 ? age(g.oldest_ready_age_seconds) : ''),
      el('td', { class: 'actions' },
        g.errored > 0 ? actionButton('Retry errored', 'retry_all', () => retryAll(g, 'errored')) : null,
        g.dead > 0 ? actionButton('Retry dead', 'retry_all', () => retryAll(g, 'dead')) : null)));
    return el('table', { id: 'groups' },
      el('thead', {}, el('tr', {},
        el('th', {}, 'Queue'), el('th', {}, 'Type'), el('th', { class: 'num' }, 'Ready'),
        el('th', { class: 'num' }, 'Scheduled'), el('th', { class: 'num' }, 'Working'),
        el('th', { class: 'num' }, 'Errored'), el('th', { class: 'num' }, 'Dead'),
        el('th', { class: 'num' }, 'Oldest ready'), el('th', {}, ''))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 9, class: 'muted' }, 'No jobs.'))));
  }

  function queuesTable(data) {
    const rows = data.queues.map((q) => el('tr', {},
      el('td', {}, queueName(q.queue)),
      el('td', { class: 'num' }, q.ready),
      el('td', { class: 'num' }, q.count),
      el('td', {}, !data.pause_state_available ? el('span', { class: 'muted' }, 'unknown')
        : el('span', { class: 'badge ' + (q.paused ? 'paused' : 'running'), 'data-paused-queue': q.queue },
          q.paused ? 'paused' : 'running')),
      el('td', { class: 'actions' },
        q.paused ? actionButton('Resume', 'resume', () => queueAction('resume', q.queue))
          : actionButton('Pause', 'pause', () => queueAction('pause', q.queue)))));
    return el('table', { id: 'queues' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Queue'), el('th', { class: 'num' }, 'Ready'),
        el('th', { class: 'num' }, 'Jobs'), el('th', {}, 'State'), el('th', {}, ''))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No queues.'))));
  }

  function niceMax(v) {
    if (v <= 5) return 5;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function hhmm(iso) {
    const d = new Date(iso);
    return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
  }

  function chart(throughput) {
    if (!throughput.available) {
      return el('p', { class: 'muted' }, 'No throughput history: the qg_job_counts table is missing (run qg migrate).');
    }
    const m = throughput.minutes;
    const W = 900, H = 200, L = 48, R = 10, T = 10, B = 24;
    const max = niceMax(Math.max(1, ...m.map((x) => Math.max(x.completed, x.failed))));
    const x = (i) => L + (m.length <= 1 ? 0 : (i * (W - L - R)) / (m.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const line = (key) => m.map((p, i) => x(i).toFixed(1) + ',' + y(p[key]).toFixed(1)).join(' ');
    const grid = [0, 0.5, 1].map((f) => [
      svg('line', { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), stroke: '#e3e8ec' }),
      svg('text', { x: L - 6, y: y(max * f) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5f6b76' }, Math.round(max * f)),
    ]);
    const ticks = m.length ? [0, Math.floor((m.length - 1) / 2), m.length - 1].map((i) =>
      svg('text', { x: x(i), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === m.length - 1 ? 'end' : 'middle', 'font-size': 11, fill: '#5f6b76' }, hhmm(m[i].minute))) : [];
    const total = (key) => m.reduce((s, p) => s + p[key], 0);
    return el('div', { class: 'chart' },
      svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'jobs per minute' },
        grid, ticks,
        svg('polyline', { points: line('completed'), fill: 'none', stroke: '#2e7d32', 'stroke-width': 2, 'data-series': 'completed' }),
        svg('polyline', { points: line('failed'), fill: 'none', stroke: '#c62828', 'stroke-width': 2, 'data-series': 'failed' })),
      el('div', { class: 'legend' },
        el('span', {}, el('span', { class: 'swatch completed' }), 'completed per minute (', total('completed'), ' in all)'),
        el('span', {}, el('span', { class: 'swatch failed' }), 'failed per minute (', total('failed'), ' in all: retried or dead)')));
  }

  async function retryAll(g, state) {
    const what = state + ' jobs of ' + g.type + ' in queue ' + queueName(g.queue);
    if (!window.confirm('Retry all ' + what + '?')) return;
    await runAction(act('/api/v1/jobs/retry', { queue: g.queue, type: g.type, state: state }), refreshOverview);
  }

  async function queueAction(verb, queue) {
    await runAction(act('/api/v1/queues/' + verb, { queue: queue }), refreshOverview);
  }

  async function refreshOverview() {
    const box = document.getElementById('overview');
    if (!box) return;
    try {
      const data = await api('/api/v1/overview');
      if (!document.getElementById('overview')) return;
      replace(box,
        el('p', { class: 'muted', id: 'updated' }, 'Counts as of ', new Date(data.generated_at).toLocaleTimeString(),
          ' (read at most every ', data.refresh_seconds, ' s; this page refreshes itself).'),
        el('section', {}, el('h2', {}, 'Jobs by queue and type'), groupsTable(data)),
        el('section', {}, el('h2', {}, 'Throughput, last ', Math.round(data.throughput.minutes.length / 60 * 10) / 10, ' h'), chart(data.throughput)),
        el('section', {}, el('h2', {}, 'Queues'), queuesTable(data)));
    } catch (e) {
      replace(box, el('p', { class: 'error' }, 'Cannot read the overview: ', e.message));
    }
  }

  function renderOverview() {
    replace(main, el('h1', {}, 'Overview'), el('div', { id: 'overview' }, el('p', { class: 'muted' }, 'Loading…')));
    refreshOverview();
    timer = setInterval(refreshOverview, Math.max(1, config.refresh_seconds) * 1000);
  }

  // --- Job list -----------------------------------------------------------

  async function renderJobs(params) {
    const filters = el('form', { class: 'filters', id: 'filters' });
    const queueSelect = el('select', { name: 'queue' }, el('option', { value: '\u0000any' }, 'any queue'));
    const typeInput = el('input', { name: 'type', placeholder: 'any type' });
    const stateSelect = el('select', { name: 'state' }, STATES.map((s) => el('option', { value: s }, s)));
    const errorInput = el('input', { name: 'error', placeholder: 'text in last error' });
    append(filters, [
      el('label', {}, 'Queue', queueSelect), el('label', {}, 'Type', typeInput),
      el('label', {}, 'State', stateSelect), el('label', {}, 'Last error contains', errorInput),
      el('button', { type: 'submit' }, 'Apply'),
    ]);
    typeInput.value = params.get('type') || '';
    stateSelect.value = params.get('state') || 'any';
    errorInput.value = params.get('error') || '';
    filters.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      if (queueSelect.value !== '\u0000any') p.set('queue', queueSelect.value);
      if (typeInput.value) p.set('type', typeInput.value);
      if (stateSelect.value !== 'any') p.set('state', stateSelect.value);
      if (errorInput.value) p.set('error', errorInput.value);
      location.hash = '#/jobs?' + p.toString();
    });
    const list = el('div', { id: 'jobs' }, el('p', { class: 'muted' }, 'Loading…'));
    replace(main, el('h1', {}, 'Jobs'), el('section', {}, filters), el('section', {}, list));

    api('/api/v1/overview').then((data) => {
      const queues = data.queues.map((q) => q.queue);
      if (params.has('queue') && !queues.includes(params.get('queue'))) queues.push(params.get('queue'));
      append(queueSelect, queues.map((q) => el('option', { value: q }, queueName(q))));
      queueSelect.value = params.has('queue') ? params.get('queue') : '\u0000any';
    }).catch(() => {});

    const query = new URLSearchParams(params);
    if (!query.has('limit')) query.set('limit', '50');
    try {
      const page = await api('/api/v1/jobs?' + query.toString());
      const rows = page.jobs.map((j) => el('tr', { 'data-job-id': j.id },
        el('td', { class: 'num' }, el('a', { href: '#/job/' + j.id }, j.id)),
        el('td', {}, queueName(j.queue)), el('td', {}, j.type),
        el('td', { class: 'num' }, j.priority), el('td', {}, j.run_at),
        el('td', { class: 'num' }, j.error_count), el('td', {}, j.working ? 'yes' : ''),
        el('td', { class: 'last-error', title: j.last_error || '' }, j.last_error || '')));
      const next = new URLSearchParams(params);
      if (page.next) next.set('after', page.next);
      const first = new URLSearchParams(params);
      first.delete('after');
      replace(list,
        el('table', {}, el('thead', {}, el('tr', {},
          el('th', { class: 'num' }, 'ID'), el('th', {}, 'Queue'), el('th', {}, 'Type'),
          el('th', { class: 'num' }, 'Priority'), el('th', {}, 'Run at (UTC)'),
          el('th', { class: 'num' }, 'Errors'), el('th', {}, 'Working'), el('th', {}, 'Last error'))),
        el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 8, class: 'muted' },
          page.partial ? 'None of these jobs match so far.' : 'No jobs match.')))),
        page.partial ? el('p', { class: 'muted', id: 'partial-page' },
          'This page looked at ' + page.searched + ' jobs and stopped before it was full; more may match further on.') : null,
        el('div', { class: 'pager' },
          params.has('after') ? el('a', { href: '#/jobs?' + first.toString() }, '« First page') : null,
          page.next ? el('a', { href: '#/jobs?' + next.toString(), id: 'next-page' },
            page.partial ? 'Search on »' : 'Next page »') : null));
    } catch (e) {
      replace(list, el('p', { class: 'error' }, e.message));
    }
  }

  // --- One job ------------------------------------------------------------

  function jobState(j) {
    if (j.working) return 'working (held by backend pid ' + j.held_by_pid + ')';
    if (j.run_at.startsWith('9000-01-01')) return 'waiting for its parents';
    if (j.state === 'cancelled') return 'cancelled';
    if (j.run_at.startsWith('9999')) return 'dead (out of attempts)';
    if (new Date(j.run_at) > new Date()) return 'scheduled';
    return j.error_count > 0 ? 'ready (errored, will retry)' : 'ready';
  }

  function prettyArgs(args) {
    try { return JSON.stringify(args, null, 2); } catch (e) { return String(args); }
  }

  // The args as the page shows them: pretty-printed, or the first part of
  // args too large to send whole.
  function argsText(j) {
    if (!j.args_truncated) return prettyArgs(j.args);
    return j.args_preview + '\n… (cut: ' + j.args_bytes + ' bytes in all)';
  }

  function errorText(j) {
    if (!j.last_error_truncated) return j.last_error;
    return j.last_error + '\n… (cut: ' + j.last_error_bytes + ' bytes in all)';
  }

  function seconds(s) {
    if (s === null || s === undefined) return '–';
    return s < 1 ? (s * 1000).toFixed(1) + ' ms' : s.toFixed(3) + ' s';
  }

  // A finished job's history record (qg/history.h).
  function renderFinished(box, j, reload) {
    const revivable = j.outcome === 'dead' || j.outcome === 'cancelled';
    let output = 'No output.';
    if (j.output !== null) output = typeof j.output === 'string' && j.output_bytes > j.output.length ? j.output + '\n… (cut: ' + j.output_bytes + ' bytes in all)' : prettyArgs(j.output);
    replace(box,
      el('section', {}, el('dl', {},
        el('dt', {}, 'Queue'), el('dd', { id: 'job-queue' }, queueName(j.queue)),
        el('dt', {}, 'Type'), el('dd', { id: 'job-type' }, j.type),
        el('dt', {}, 'State'), el('dd', { id: 'job-state' }, 'finished: ' + j.outcome),
        el('dt', {}, 'Priority'), el('dd', {}, j.priority),
        el('dt', {}, 'Attempts'), el('dd', { id: 'job-attempts' }, j.attempts),
        el('dt', {}, 'Enqueued (UTC)'), el('dd', {}, j.enqueued_at || '–'),
        el('dt', {}, 'First started (UTC)'), el('dd', {}, j.first_started_at || '–'),
        el('dt', {}, 'Last run started (UTC)'), el('dd', {}, j.started_at || '–'),
        el('dt', {}, 'Finished (UTC)'), el('dd', { id: 'job-finished-at' }, j.finished_at),
        el('dt', {}, 'Run time'), el('dd', { id: 'job-run-time' }, seconds(j.run_time_s)))),
      config.read_only || !revivable ? null :
        el('section', { class: 'actions' },
          actionButton('Retry (bring it back)', 'retry', () => runAction(act('/api/v1/jobs/' + j.id + '/retry'), reload))),
      el('h2', {}, 'Output'), el('pre', { id: 'job-output' }, output),
      el('h2', {}, 'Args'), el('pre', { id: 'job-args' }, j.args_bytes > 0 && typeof j.args === 'string' ? j.args + '\n… (cut: ' + j.args_bytes + ' bytes in all)' : prettyArgs(j.args)),
      el('h2', {}, 'Last error'),
      j.last_error === null ? el('p', { class: 'muted', id: 'job-error' }, 'None.')
        : el('pre', { id: 'job-error' }, j.last_error));
  }

  // --- Workflow -----------------------------------------------------------

  // The workflow around job `id` (its parents and children, transitively),
  // appended to `box` when the job has any: a layered drawing (each job one
  // column right of its deepest parent) and a table.
  async function renderWorkflow(box, id) {
    let g;
    try {
      g = await api('/api/v1/jobs/' + encodeURIComponent(id) + '/workflow');
    } catch (e) {
      append(box, [el('p', { class: 'error' }, 'Workflow: ' + e.message)]);
      return;
    }
    if (g.edges.length === 0) return;
    const parents = new Map(g.nodes.map((n) => [n.id, []]));
    for (const e of g.edges) parents.get(e.child).push(e);
    const depth = new Map();
    const depthOf = (n, seen) => {
      if (depth.has(n)) return depth.get(n);
      if (seen.has(n)) return 0;
      seen.add(n);
      let d = 0;
      for (const e of parents.get(n) || []) d = Math.max(d, depthOf(e.parent, seen) + 1);
      depth.set(n, d);
      return d;
    };
    for (const n of g.nodes) depthOf(n.id, new Set());
    const layers = [];
    for (const n of g.nodes) (layers[depth.get(n.id)] = layers[depth.get(n.id)] || []).push(n);
    const W = 150, H = 44, GX = 60, GY = 18;
    const pos = new Map();
    layers.forEach((layer, x) => layer.sort((a, b) => a.id - b.id).forEach((n, y) =>
      pos.set(n.id, { x: 10 + x * (W + GX), y: 10 + y * (H + GY) })));
    const width = 20 + layers.length * (W + GX) - GX;
    const height = 20 + Math.max(...layers.map((l) => l.length)) * (H + GY) - GY;
    const drawing = svg('svg', { id: 'workflow-graph', width, height, viewBox: '0 0 ' + width + ' ' + height });
    for (const e of g.edges) {
      const a = pos.get(e.parent), b = pos.get(e.child);
      append(drawing, [svg('line', { class: 'edge edge-' + e.state, x1: a.x + W, y1: a.y + H / 2, x2: b.x, y2: b.y + H / 2 })]);
    }
    for (const n of g.nodes) {
      const p = pos.get(n.id);
      const link = svg('a', { href: '#/job/' + n.id, class: 'wf-node state-' + n.state + (String(n.id) === String(id) ? ' current' : ''), 'data-job-id': n.id },
        svg('rect', { x: p.x, y: p.y, width: W, height: H, rx: 6 }),
        svg('text', { x: p.x + 8, y: p.y + 18 }, (n.type || '?') + ' #' + n.id),
        svg('text', { x: p.x + 8, y: p.y + 35, class: 'wf-state' }, n.state.replace(/_/g, ' ')));
      append(drawing, [link]);
    }
    const rows = g.nodes.map((n) => el('tr', { 'data-job-id': n.id, class: 'state-' + n.state },
      el('td', { class: 'num' }, el('a', { href: '#/job/' + n.id }, n.id)),
      el('td', {}, n.type), el('td', {}, n.queue === '' && n.type ? '(default)' : n.queue),
      el('td', { class: 'wf-state' }, n.state.replace(/_/g, ' ')),
      el('td', {}, (parents.get(n.id) || []).map((e) => '#' + e.parent + ' (' + e.state + ')').join(', '))));
    append(box, [el('section', { id: 'workflow' },
      el('h2', {}, 'Workflow'),
      g.truncated ? el('p', { class: 'muted' }, 'Only the first ' + g.nodes.length + ' linked jobs are shown.') : null,
      el('div', { class: 'wf-drawing' }, drawing),
      el('table', {}, el('thead', {}, el('tr', {},
        el('th', { class: 'num' }, 'ID'), el('th', {}, 'Type'), el('th', {}, 'Queue'),
        el('th', {}, 'State'), el('th', {}, 'Runs after'))),
      el('tbody', {}, rows)))]);
  }

  // --- Batches ------------------------------------------------------------

  // Batches newest first with their progress (open ones only with ?open=1),
  // refreshed every few seconds.
  async function renderBatches(params) {
    const open = params.get('open') === '1';
    const list = el('div', { id: 'batches' }, el('p', { class: 'muted' }, 'Loading…'));
    replace(main, el('h1', {}, 'Batches'),
      el('p', {}, open ? el('a', { href: '#/batches' }, 'All batches') : el('a', { href: '#/batches?open=1', id: 'open-only' }, 'Only those not finished')),
      el('section', {}, list));
    const load = async () => {
      try {
        const page = await api('/api/v1/batches?limit=100' + (open ? '&open=1' : ''));
        const rows = page.batches.map((b) => {
          const settled = b.completed + b.dead + b.cancelled;
          const pct = b.total > 0 ? Math.round(100 * settled / b.total) : 100;
          const state = b.finished_at ? 'finished' : b.sealed_at ? 'sealed' : 'open';
          return el('tr', { 'data-batch-id': b.id, class: 'batch-' + state },
            el('td', { class: 'num' }, b.id),
            el('td', { class: 'description' }, b.description),
            el('td', { class: 'state' }, state),
            el('td', { class: 'progress' }, el('progress', { max: 100, value: pct }), ' ', pct + '%'),
            el('td', { class: 'num total' }, b.total), el('td', { class: 'num completed' }, b.completed),
            el('td', { class: 'num dead-count' }, b.dead), el('td', { class: 'num cancelled' }, b.cancelled),
            el('td', { class: 'num waiting' }, b.waiting),
            el('td', {}, b.success_job_id ? el('a', { href: '#/job/' + b.success_job_id }, 'success #' + b.success_job_id) : null,
              b.success_job_id && b.finish_job_id ? ' ' : null,
              b.finish_job_id ? el('a', { href: '#/job/' + b.finish_job_id }, 'finish #' + b.finish_job_id) : null),
            el('td', {}, b.created_at));
        });
        replace(list, el('table', {}, el('thead', {}, el('tr', {},
          el('th', { class: 'num' }, 'ID'), el('th', {}, 'Description'), el('th', {}, 'State'),
          el('th', {}, 'Progress'), el('th', { class: 'num' }, 'Total'), el('th', { class: 'num' }, 'Completed'),
          el('th', { class: 'num' }, 'Dead'), el('th', { class: 'num' }, 'Cancelled'),
          el('th', { class: 'num' }, 'Waiting'), el('th', {}, 'Callbacks'), el('th', {}, 'Created (UTC)'))),
        el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 11, class: 'muted' }, 'No batches.')))));
      } catch (e) {
        replace(list, el('p', { class: 'error' }, e.message));
      }
    };
    await load();
    timer = setInterval(load, Math.max(1, config.refresh_seconds) * 1000);
  }

  // --- History ------------------------------------------------------------

  async function renderHistory(params) {
    const filters = el('form', { class: 'filters', id: 'history-filters' });
    const queueInput = el('input', { name: 'queue', placeholder: 'any queue' });
    const typeInput = el('input', { name: 'type', placeholder: 'any type' });
    const outcomeSelect = el('select', { name: 'outcome' },
      ['any', 'completed', 'dead', 'cancelled'].map((o) => el('option', { value: o }, o)));
    const sinceInput = el('input', { name: 'since', type: 'datetime-local', step: '1' });
    const untilInput = el('input', { name: 'until', type: 'datetime-local', step: '1' });
    append(filters, [
      el('label', {}, 'Queue', queueInput), el('label', {}, 'Type', typeInput),
      el('label', {}, 'Outcome', outcomeSelect),
      el('label', {}, 'Finished since (UTC)', sinceInput), el('label', {}, 'until (UTC)', untilInput),
      el('button', { type: 'submit' }, 'Apply'),
    ]);
    const local = (iso) => (iso || '').replace(/Z$/, '').slice(0, 19);
    queueInput.value = params.has('queue') ? params.get('queue') : '';
    typeInput.value = params.get('type') || '';
    outcomeSelect.value = params.get('outcome') || 'any';
    sinceInput.value = local(params.get('since'));
    untilInput.value = local(params.get('until'));
    filters.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      if (queueInput.value) p.set('queue', queueInput.value);
      if (typeInput.value) p.set('type', typeInput.value);
      if (outcomeSelect.value !== 'any') p.set('outcome', outcomeSelect.value);
      if (sinceInput.value) p.set('since', sinceInput.value + 'Z');
      if (untilInput.value) p.set('until', untilInput.value + 'Z');
      location.hash = '#/history?' + p.toString();
    });
    const list = el('div', { id: 'history' }, el('p', { class: 'muted' }, 'Loading…'));
    replace(main, el('h1', {}, 'Finished jobs'), el('section', {}, filters), el('section', {}, list));
    const query = new URLSearchParams(params);
    if (!query.has('limit')) query.set('limit', '50');
    try {
      const page = await api('/api/v1/history?' + query.toString());
      const rows = page.records.map((r) => el('tr', { 'data-job-id': r.id, class: 'outcome-' + r.outcome },
        el('td', { class: 'num' }, el('a', { href: '#/job/' + r.id }, r.id)),
        el('td', {}, queueName(r.queue)), el('td', {}, r.type), el('td', {}, r.outcome),
        el('td', { class: 'num' }, r.attempts), el('td', {}, r.finished_at),
        el('td', { class: 'num' }, seconds(r.run_time_s)),
        el('td', { class: 'last-error', title: r.last_error || '' }, r.last_error || '')));
      const next = new URLSearchParams(params);
      if (page.next) next.set('after', page.next);
      const first = new URLSearchParams(params);
      first.delete('after');
      replace(list,
        el('table', {}, el('thead', {}, el('tr', {},
          el('th', { class: 'num' }, 'ID'), el('th', {}, 'Queue'), el('th', {}, 'Type'),
          el('th', {}, 'Outcome'), el('th', { class: 'num' }, 'Attempts'),
          el('th', {}, 'Finished (UTC)'), el('th', { class: 'num' }, 'Run time'), el('th', {}, 'Last error'))),
        el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 8, class: 'muted' },
          'No records match. History is kept only for queues with it on (qg history on QUEUE).')))),
        el('div', { class: 'pager' },
          params.has('after') ? el('a', { href: '#/history?' + first.toString() }, '« Newest') : null,
          page.next ? el('a', { href: '#/history?' + next.toString(), id: 'next-page' }, 'Older »') : null));
    } catch (e) {
      replace(list, el('p', { class: 'error' }, e.message));
    }
  }

  async function renderJob(id) {
    replace(main, el('h1', {}, 'Job ', id), el('div', { id: 'job' }, el('p', { class: 'muted' }, 'Loading…')));
    const box = document.getElementById('job');
    let j;
    try {
      j = await api('/api/v1/jobs/' + encodeURIComponent(id));
    } catch (e) {
      replace(box, el('p', { class: 'error' }, e.status === 404 ? 'No job ' + id + ': it finished without a history record (or its record was pruned), or never existed.' : e.message),
        el('p', {}, el('a', { href: '#/jobs' }, 'All jobs')));
      return;
    }
    const reload = () => renderJob(id);
    if (j.state === 'finished') {
      renderFinished(box, j, reload);
      renderWorkflow(box, id);
      return;
    }
    replace(box,
      el('section', {}, el('dl', {},
        el('dt', {}, 'Queue'), el('dd', { id: 'job-queue' }, queueName(j.queue)),
        el('dt', {}, 'Type'), el('dd', { id: 'job-type' }, j.type),
        el('dt', {}, 'State'), el('dd', { id: 'job-state' }, jobState(j)),
        el('dt', {}, 'Run at (UTC)'), el('dd', { id: 'job-run-at' }, j.run_at),
        el('dt', {}, 'Priority'), el('dd', {}, j.priority),
        el('dt', {}, 'Failed attempts'), el('dd', { id: 'job-errors' }, j.error_count),
        el('dt', {}, 'Held by'), el('dd', { id: 'job-holder' }, j.held_by_pid ? 'backend pid ' + j.held_by_pid : 'nobody'))),
      config.read_only ? el('p', { class: 'muted' }, 'Read-only console: no actions. ', config.read_only_reason || '') :
        el('section', { class: 'actions' },
          actionButton('Retry now', 'retry', () => runAction(act('/api/v1/jobs/' + j.id + '/retry'), reload)),
          actionButton('Cancel', 'cancel', () => runAction(act('/api/v1/jobs/' + j.id + '/cancel'), reload)),
          actionButton('Delete', 'delete', () => {
            if (window.confirm('Delete job ' + j.id + '?')) runAction(act('/api/v1/jobs/' + j.id + '/delete'), reload);
          }, 'danger')),
      el('h2', {}, 'Args'), el('pre', { id: 'job-args' }, argsText(j)),
      el('h2', {}, 'Last error'),
      j.last_error === null ? el('p', { class: 'muted', id: 'job-error' }, 'It has not failed.')
        : el('pre', { id: 'job-error' }, errorText(j)));
    renderWorkflow(box, id);
  }

  // --- Limits -------------------------------------------------------------

  // A rate period in the form the set endpoint reads back: "1m", "500ms".
  function periodText(seconds) {
    if (seconds === null || seconds === undefined) return '';
    for (const [unit, n] of [['h', 3600], ['m', 60], ['s', 1]]) {
      if (seconds >= n && Number.isInteger(seconds / n)) return (seconds / n) + unit;
    }
    return Math.round(seconds * 1000) + 'ms';
  }

  function limitAppliesTo(l) {
    const parts = [l.queue === null ? 'every queue' : 'queue ' + queueName(l.queue),
      l.type === null ? 'every type' : 'type ' + l.type];
    if (l.key_by === 'job') parts.push('per job key');
    if (l.key_by === 'args') parts.push('per args ' + l.key_args.join(','));
    return parts.join(', ');
  }

  function limitRule(l) {
    const parts = [];
    if (l.concurrency !== null) parts.push(l.concurrency + ' at once' + (l.per_pool ? ' per pool' : ''));
    if (l.rate !== null) {
      parts.push(l.rate + ' per ' + periodText(l.rate_period_seconds) + (l.rate_burst > 1 ? ' (burst ' + l.rate_burst + ')' : ''));
    }
    return parts.join(', ');
  }

  function limitsTable(data) {
    const rows = data.limits.map((l) => el('tr', { 'data-limit': l.name },
      el('td', { 'data-field': 'name' }, l.name),
      el('td', { 'data-field': 'applies' }, limitAppliesTo(l)),
      el('td', { 'data-field': 'rule' }, limitRule(l),
        l.concurrency !== null && l.slots_high > l.concurrency
          ? el('div', { class: 'muted' }, 'lowered from ' + l.slots_high + ': new starts wait until held jobs are under ' + l.concurrency) : null),
      el('td', { class: 'num' + (l.running === 0 ? ' zero' : ' working'), 'data-field': 'running' }, l.running),
      el('td', { class: 'num' + (l.busiest_bucket === 0 ? ' zero' : ''), 'data-field': 'busiest' }, l.busiest_bucket),
      el('td', { class: 'num' + (l.waiting === 0 ? ' zero' : ''), 'data-field': 'waiting',
        title: l.waiting_capped ? 'counted up to ' + data.waiting_max_scan + ' jobs' : null },
      l.waiting + (l.waiting_capped ? '+' : '')),
      el('td', {}, new Date(l.updated_at).toLocaleString()),
      el('td', { class: 'actions' },
        actionButton('Edit', 'set_limit', () => editLimit(l)),
        actionButton('Remove', 'remove_limit', () => removeLimit(l.name), 'danger'))));
    return el('table', { id: 'limits-table' },
      el('thead', {}, el('tr', {},
        el('th', {}, 'Name'), el('th', {}, 'Applies to'), el('th', {}, 'Limit'),
        el('th', { class: 'num', title: 'held jobs: running, or locked ahead by a pool' }, 'Running'),
        el('th', { class: 'num', title: 'the most held jobs in one bucket' }, 'Busiest bucket'),
        el('th', { class: 'num', title: 'runnable jobs it applies to that nobody holds' }, 'Waiting'),
        el('th', {}, 'Updated'), el('th', {}, ''))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'No limits.'))));
  }

  async function refreshLimits() {
    const box = document.getElementById('limits');
    if (!box) return;
    try {
      const data = await api('/api/v1/limits');
      if (!document.getElementById('limits')) return;
      if (!data.available) {
        replace(box, el('p', { class: 'muted', id: 'limits-unavailable' }, 'Flow control is not available: ', data.unavailable_reason, '.'));
        return;
      }
      replace(box,
        el('p', { class: 'muted', id: 'updated' }, 'Use as of ', new Date(data.generated_at).toLocaleTimeString(),
          ' (read at most every ', data.refresh_seconds, ' s; this page refreshes itself). qg-cpp worker pools apply a change from their next lock scan; Ruby Que, que-go and qg workers do not know of limits.'),
        limitsTable(data));
    } catch (e) {
      replace(box, el('p', { class: 'error' }, 'Cannot read the limits: ', e.message));
    }
  }

  // The form's fields, by name.
  function limitFields() {
    const form = document.getElementById('limit-form');
    return form ? form.elements : null;
  }

  function editLimit(l) {
    const f = limitFields();
    if (!f) return;
    f.name.value = l.name;
    f.scope.value = l.queue === null ? 'all' : 'one';
    f.queue.value = l.queue === null ? '' : l.queue;
    f.type.value = l.type === null ? '' : l.type;
    f.key_by.value = l.key_by;
    f.key_args.value = l.key_args.join(',');
    f.concurrency.value = l.concurrency === null ? '' : l.concurrency;
    f.per_pool.checked = l.per_pool;
    f.rate.value = l.rate === null ? '' : l.rate;
    f.period.value = l.rate === null ? '' : periodText(l.rate_period_seconds);
    f.burst.value = l.rate === null ? '' : l.rate_burst;
    syncLimitForm();
    document.getElementById('limit-form-title').textContent = 'Change limit ' + l.name;
    f.concurrency.focus();
  }

  // Shows the queue and key fields only where they mean something.
  function syncLimitForm() {
    const f = limitFields();
    if (!f) return;
    f.queue.disabled = f.scope.value !== 'one';
    f.key_args.disabled = f.key_by.value !== 'args';
  }

  async function removeLimit(name) {
    if (!window.confirm('Remove limit ' + name + '? Its jobs run unlimited from the pools\' next lock scan.')) return;
    await runAction(act('/api/v1/limits/remove', { name: name }), refreshLimits);
  }

  async function submitLimit(ev) {
    ev.preventDefault();
    const f = limitFields();
    const p = { name: f.name.value };
    if (f.scope.value === 'one') p.queue = f.queue.value;
    if (f.type.value) p.type = f.type.value;
    p.key_by = f.key_by.value;
    if (f.key_by.value === 'args') p.key_args = f.key_args.value;
    if (f.concurrency.value !== '') p.concurrency = f.concurrency.value;
    if (f.per_pool.checked) p.per_pool = 'true';
    if (f.rate.value !== '') {
      p.rate = f.rate.value;
      if (f.period.value !== '') p.period = f.period.value;
      if (f.burst.value !== '') p.burst = f.burst.value;
    }
    let ok = false;
    await runAction(act('/api/v1/limits/set', p).then((r) => { ok = true; return r; }), refreshLimits);
    if (ok) resetLimitForm();
  }

  function resetLimitForm() {
    const form = document.getElementById('limit-form');
    if (!form) return;
    form.reset();
    syncLimitForm();
    document.getElementById('limit-form-title').textContent = 'Set a limit';
  }

  function limitForm() {
    const field = (label, input, hint) => el('label', {}, label, input, hint ? el('span', { class: 'hint' }, hint) : null);
    const form = el('form', { id: 'limit-form', class: 'filters limit-form', onsubmit: submitLimit, autocomplete: 'off' },
      field('Name', el('input', { name: 'name', required: true, maxlength: 200 })),
      field('Queue', el('select', { name: 'scope', onchange: syncLimitForm },
        el('option', { value: 'all' }, 'every queue'), el('option', { value: 'one' }, 'one queue:'))),
      field('\u00a0', el('input', { name: 'queue', list: 'limit-queues', placeholder: 'empty: the default queue' })),
      el('datalist', { id: 'limit-queues' }),
      field('Type', el('input', { name: 'type', placeholder: 'every type' })),
      field('Buckets', el('select', { name: 'key_by', onchange: syncLimitForm },
        el('option', { value: 'none' }, 'all jobs together'), el('option', { value: 'job' }, 'per job key'),
        el('option', { value: 'args' }, 'per args fields:'))),
      field('\u00a0', el('input', { name: 'key_args', placeholder: 'tenant_id,region' })),
      field('Concurrency', el('input', { name: 'concurrency', type: 'number', min: 0, max: 1000, placeholder: 'none' })),
      el('label', { class: 'check' }, el('input', { name: 'per_pool', type: 'checkbox' }), 'per worker pool'),
      field('Rate', el('input', { name: 'rate', type: 'number', min: 1, placeholder: 'none' })),
      field('per', el('input', { name: 'period', placeholder: '1s', size: 6 })),
      field('Burst', el('input', { name: 'burst', type: 'number', min: 1, placeholder: '1' })),
      el('button', { type: 'submit', 'data-action': 'set_limit' }, 'Save limit'),
      el('button', { type: 'button', onclick: resetLimitForm }, 'Clear'));
    return form;
  }

  function renderLimits() {
    const formBox = el('section', { id: 'limit-editor' });
    replace(main, el('h1', {}, 'Limits'),
      el('section', {}, el('div', { id: 'limits' }, el('p', { class: 'muted' }, 'Loading…'))),
      config.read_only ? el('p', { class: 'muted' }, 'Read-only console: limits cannot be changed here.') : formBox);
    if (!config.read_only) {
      if (!canAct('set_limit')) {
        append(formBox, [el('p', { class: 'muted' }, config.unavailable.set_limit || 'Setting limits is not available.')]);
      } else {
        append(formBox, [el('h2', { id: 'limit-form-title' }, 'Set a limit'),
          el('p', { class: 'muted' }, 'Saving replaces the limit of that name. A lowered concurrency starts nothing until the held jobs are under it.'),
          limitForm()]);
        syncLimitForm();
        api('/api/v1/overview').then((data) => {
          const list = document.getElementById('limit-queues');
          if (list) append(list, data.queues.filter((q) => q.queue !== '').map((q) => el('option', { value: q.queue })));
        }).catch(() => {});
      }
    }
    refreshLimits();
    timer = setInterval(refreshLimits, Math.max(1, config.refresh_seconds) * 1000);
  }

  // --- Routing ------------------------------------------------------------

  function route() {
    if (timer) { clearInterval(timer); timer = null; }
    const hash = location.hash || '#/';
    const [path, query] = hash.slice(1).split('?');
    const params = new URLSearchParams(query || '');
    let m;
    if (path === '/jobs') renderJobs(params);
    else if (path === '/limits') renderLimits();
    else if (path === '/history') renderHistory(params);
    else if (path === '/batches') renderBatches(params);
    else if ((m = path.match(/^\/job\/(\d+)$/))) renderJob(m[1]);
    else renderOverview();
  }

  async function start() {
    try {
      config = await api('/api/v1/config');
    } catch (e) {
      replace(main, el('p', { class: 'error' }, 'Cannot reach the console API: ', e.message));
      return;
    }
    document.getElementById('db').textContent = config.database;
    if (config.read_only) {
      const mode = document.getElementById('mode');
      mode.textContent = config.read_only_reason && config.read_only_reason.includes('standby')
        ? 'read-only: hot standby' : 'read-only';
      mode.title = config.read_only_reason || '';
    }
    window.addEventListener('hashchange', () => { flash('', true); route(); });
    route();
  }

  start();
})();
