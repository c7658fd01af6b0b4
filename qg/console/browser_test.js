// The console in a real headless browser: Debian's chromium driven by
// playwright-core (which downloads no browser of its own). Run by
// browser_test.cc, which prepares the database, starts the console and
// checks the database afterwards:
//   node browser_test.js URL ERRORED_JOB_ID XSS_JOB_ID
// Exits 0 when every check passed; saves console.png (the overview) and
// limits.png (the limits view) to $TEST_UNDECLARED_OUTPUTS_DIR.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const { chromium } = require(path.join(process.env.QG_PLAYWRIGHT_DIR, 'node_modules', 'playwright-core'));
const [url, erroredId, xssId, flowChildId, flowRootId, batchId] = process.argv.slice(2);
const outDir = process.env.TEST_UNDECLARED_OUTPUTS_DIR || os.tmpdir();
const XSS_ERROR = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';
const XSS_LIMIT = '<img src=x onerror="window.__xss = 4">';

function check(ok, what) {
  if (!ok) throw new Error('check failed: ' + what);
  console.log('ok: ' + what);
}

async function cellText(page, queue, type, state) {
  return (await page.textContent(`td[data-queue="${queue}"][data-type="${type}"][data-state="${state}"]`)).trim();
}

(async () => {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qg-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 1000 },
  });
  const errors = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', (d) => d.accept());

    // The overview: the counts of the jobs the test enqueued.
    await page.goto(url);
    await page.waitForSelector('#groups td[data-state="ready"]');
    check(await cellText(page, 'mail', 'Mailer', 'ready') === '13', 'mail/Mailer: 13 ready (one of them errored before)');
    check(await cellText(page, 'mail', 'Mailer', 'scheduled') === '3', 'mail/Mailer: 3 scheduled');
    check(await cellText(page, 'mail', 'Mailer', 'errored') === '3', 'mail/Mailer: 3 errored (the dead one included)');
    check(await cellText(page, 'mail', 'Mailer', 'dead') === '1', 'mail/Mailer: 1 dead');
    check(await cellText(page, 'reports', 'NightlyReport', 'working') === '1', 'reports/NightlyReport: 1 working');
    check((await page.textContent('[data-paused-queue="reports"]')).trim() === 'paused', 'reports shows paused');
    check(await page.$('polyline[data-series="completed"]') !== null, 'the throughput chart is drawn');
    check(!(await page.textContent('#db')).includes('hunter2'), 'the conninfo is shown without its password');
    await page.screenshot({ path: path.join(outDir, 'console.png'), fullPage: true });

    // An errored job: from its count to the list to its page; retry it.
    await page.click('td[data-queue="mail"][data-type="Mailer"][data-state="errored"] a');
    await page.waitForSelector(`tr[data-job-id="${erroredId}"]`);
    await page.click(`tr[data-job-id="${erroredId}"] a`);
    await page.waitForSelector('#job-error');
    check((await page.textContent('#job-error')).startsWith('SMTP 451: mailbox busy'), 'the job page shows the full last error');
    check((await page.textContent('#job-args')).includes('"to": "ada@example.com"'), 'the args are pretty-printed');
    await page.click('button[data-action="retry"]');
    await page.waitForFunction(() => document.getElementById('flash').textContent.includes('will run now'));
    check(true, 'retry reports its outcome');
    await page.waitForFunction(() => (document.getElementById('job-state') || {}).textContent === 'ready (errored, will retry)');
    check(true, 'the job page shows the job ready');

    // A job whose last_error and args hold markup: shown as text, not run.
    await page.goto(url + '#/job/' + xssId);
    await page.waitForSelector('#job-error');
    check(await page.textContent('#job-error') === XSS_ERROR, 'markup in last_error shows as text');
    check((await page.textContent('#job-args')).includes('<script>window.__xss = 3</script>'), 'markup in args shows as text');
    await page.goto(url + '#/jobs?error=' + encodeURIComponent('<script>'));
    await page.waitForSelector(`tr[data-job-id="${xssId}"]`);
    check((await page.textContent(`tr[data-job-id="${xssId}"] td.last-error`)).includes('<img src=x onerror='), 'markup in the job list shows as text');
    await page.waitForTimeout(300);
    check(await page.evaluate(() => window.__xss) === undefined, 'no injected script ran');
    check((await page.$$('main img')).length === 0, 'no injected element exists');

    // The limits: each with its use; the operator raises one, adds one,
    // removes one, and sees each change in the table and the API.
    const cell = async (name, field) => (await page.textContent(`tr[data-limit="${name}"] td[data-field="${field}"]`)).trim();
    const flashed = (text) => page.waitForFunction((t) => document.getElementById('flash').textContent.includes(t), text);
    await page.goto(url + '#/limits');
    await page.waitForSelector('tr[data-limit="reports"]', { timeout: 5000 }).catch(async (e) => {
      throw new Error(e.message + '\nthe page shows: ' + await page.textContent('main') + '\npage errors: ' + errors.join('; '));
    });
    check(await cell('reports', 'running') === '1', 'limit reports: 1 running (the held job)');
    check(await cell('reports', 'waiting') === '2', 'limit reports: 2 waiting');
    check(await cell('reports', 'rule') === '1 at once', 'limit reports: 1 at once');
    check(await cell('reports', 'applies') === 'queue reports, type NightlyReport', 'limit reports: applies to its queue and type');
    check(await cell('mail-send', 'running') === '0', 'limit mail-send: none running');
    check(await cell('mail-send', 'waiting') === '14', 'limit mail-send: 14 waiting (the retried job too)');
    check(await cell('mail-send', 'rule') === '50 per 1m (burst 5)', 'limit mail-send: its rate');
    const names = await page.$$eval('#limits-table td[data-field="name"]', (tds) => tds.map((td) => td.textContent));
    check(names.includes(XSS_LIMIT), 'markup in a limit name shows as text');
    await page.screenshot({ path: path.join(outDir, 'limits.png'), fullPage: true });

    // Raise reports' concurrency to 3 through its Edit button.
    await page.click('tr[data-limit="reports"] button[data-action="set_limit"]');
    check(await page.inputValue('#limit-form input[name="name"]') === 'reports', 'Edit fills the form with the limit');
    check(await page.inputValue('#limit-form input[name="queue"]') === 'reports', 'Edit fills in its queue');
    await page.fill('#limit-form input[name="concurrency"]', '3');
    await page.click('#limit-form button[type="submit"]');
    await flashed('limit reports set');
    await page.waitForFunction(() => {
      const td = document.querySelector('tr[data-limit="reports"] td[data-field="rule"]');
      return td && td.textContent === '3 at once';
    });
    check(true, 'the table shows reports at 3 at once');
    await page.waitForFunction(() => document.querySelector('#limit-form input[name="name"]').value === '');
    check(true, 'the form is cleared after a save');

    // A new limit on the default queue's webhooks: 10 per minute.
    await page.fill('#limit-form input[name="name"]', 'webhooks');
    await page.selectOption('#limit-form select[name="scope"]', 'one');
    await page.fill('#limit-form input[name="type"]', 'Webhook');
    await page.fill('#limit-form input[name="rate"]', '10');
    await page.fill('#limit-form input[name="period"]', '1m');
    await page.click('#limit-form button[type="submit"]');
    await flashed('limit webhooks set');
    await page.waitForSelector('tr[data-limit="webhooks"]');
    check(await cell('webhooks', 'applies') === 'queue (default), type Webhook', 'limit webhooks: the default queue, type Webhook');
    check(await cell('webhooks', 'rule') === '10 per 1m', 'limit webhooks: 10 per 1m');
    check(await cell('webhooks', 'waiting') === '5', 'limit webhooks: its 5 ready jobs wait');

    // A bad limit: the server's message, nothing stored.
    await page.fill('#limit-form input[name="name"]', 'bad');
    await page.fill('#limit-form input[name="concurrency"]', '1');
    await page.selectOption('#limit-form select[name="key_by"]', 'args');
    await page.click('#limit-form button[type="submit"]');
    await flashed('key by args needs');
    check(await page.getAttribute('#flash', 'class') === 'bad', 'a bad limit shows its error');
    check(await page.$('tr[data-limit="bad"]') === null, 'the bad limit is not listed');

    // Remove mail-send (the confirmation is accepted).
    await page.click('tr[data-limit="mail-send"] button[data-action="remove_limit"]');
    await flashed('limit mail-send removed');
    await page.waitForSelector('tr[data-limit="mail-send"]', { state: 'detached' });
    check(true, 'mail-send is gone from the table');

    // After a reload, and in the API.
    await page.reload();
    await page.waitForSelector('tr[data-limit="webhooks"]');
    check(await cell('reports', 'rule') === '3 at once', 'after a reload: reports at 3 at once');
    check(await page.$('tr[data-limit="mail-send"]') === null, 'after a reload: no mail-send');
    const api = await page.evaluate(async () => (await (await fetch('/api/v1/limits')).json()).limits
      .map((l) => l.name + ' ' + l.concurrency + ' ' + l.rate));
    check(api.includes('reports 3 null') && api.includes('webhooks null 10') && !api.some((x) => x.startsWith('mail-send ')),
      'the API lists the changes: ' + api.join('; '));
    await page.waitForTimeout(300);
    check(await page.evaluate(() => window.__xss) === undefined, 'no injected script ran on the limits page');
    check((await page.$$('main img')).length === 0, 'no injected element exists on the limits page');
    // Job history: the records newest first, a filter, a record's page with
    // its output, and a dead job brought back from its record.
    await page.goto(url + '#/history');
    await page.waitForSelector('tr[data-job-id="900001"]');
    const ids = await page.$$eval('#history tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-job-id')));
    check(ids.join(',') === flowRootId + ',900003,900002,900001', 'history lists the records newest first: ' + ids.join(','));
    await page.selectOption('#history-filters select[name="outcome"]', 'dead');
    await page.click('#history-filters button[type="submit"]');
    await page.waitForFunction(() => document.querySelectorAll('#history tbody tr').length === 1 &&
      document.querySelector('#history tbody tr').getAttribute('data-job-id') === '900002');
    check(true, 'the outcome filter leaves the dead record');
    check((await page.textContent('tr[data-job-id="900002"] td.last-error')).includes('card declined'), 'the list shows its last error');
    await page.goto(url + '#/job/900001');
    await page.waitForSelector('#job-output');
    check(await page.textContent('#job-state') === 'finished: completed', 'a finished job shows its outcome');
    check(await page.textContent('#job-attempts') === '2', 'and its attempts');
    check(await page.textContent('#job-run-time') === '1.500 s', 'and its run time');
    check((await page.textContent('#job-output')).includes('"pdf": "inv-1.pdf"'), 'and its output, pretty-printed');
    check((await page.textContent('#job-output')).includes('<img src=x onerror=window.__xss=5>'), 'markup in an output shows as text');
    check(await page.$('button[data-action="retry"]') === null, 'a completed job offers no retry');
    await page.goto(url + '#/job/900002');
    await page.waitForSelector('button[data-action="retry"]');
    await page.click('button[data-action="retry"]');
    await page.waitForFunction(() => document.getElementById('flash').textContent.includes('will run now'));
    await page.waitForFunction(() => (document.getElementById('job-state') || {}).textContent === 'ready');
    check(true, 'a dead record brought back is a ready job again');
    await page.screenshot({ path: path.join(outDir, 'history.png'), fullPage: true });
    await page.waitForTimeout(300);
    check(await page.evaluate(() => window.__xss) === undefined, 'no injected script ran on the history pages');

    // A workflow: the cancelled child's page draws the diamond with each
    // job's state and the edges, and links to the other jobs.
    await page.goto(url + '#/job/' + flowChildId);
    await page.waitForSelector('#job-state');
    await page.waitForSelector('#workflow-graph', { timeout: 10000 }).catch(async () => {
      throw new Error('no workflow drawing; the page says: ' + await page.textContent('main'));
    });
    const nodes = await page.$$eval('#workflow tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-job-id') + ' ' + tr.querySelector('td.wf-state').textContent));
    check(nodes.length === 4, 'the workflow lists its 4 jobs: ' + nodes.join('; '));
    check(nodes.includes(flowRootId + ' completed'), 'the root completed (its record): ' + nodes.join('; '));
    check(nodes.some((n) => n.endsWith(' dead')) && nodes.includes(flowChildId + ' cancelled'), 'a dead parent cancelled the child: ' + nodes.join('; '));
    check(nodes.some((n) => n.endsWith(' ready')), 'the other parent is ready');
    check((await page.$$('#workflow-graph line.edge')).length === 4, 'the drawing has its 4 edges');
    check((await page.$$('#workflow-graph line.edge-failed')).length === 1, 'one edge failed (the dead parent)');
    check((await page.textContent('#workflow-graph a.current')).includes('<img src=x'), 'markup in a type shows as text');
    await page.click('#workflow-graph a[data-job-id="' + flowRootId + '"]');
    await page.waitForFunction(() => (document.getElementById('job-state') || {}).textContent === 'finished: completed');
    await page.waitForSelector('#workflow-graph');
    check(true, 'a node links to its job, whose page draws the same workflow');
    await page.screenshot({ path: path.join(outDir, 'workflow.png'), fullPage: true });
    await page.waitForTimeout(300);
    check(await page.evaluate(() => window.__xss) === undefined, 'no injected script ran on the workflow pages');

    // Batches: the sealed batch with its progress; the open-only filter;
    // the gauge in /metrics.
    await page.goto(url + '#/batches');
    await page.waitForSelector('tr[data-batch-id="' + batchId + '"]');
    const batchCell = async (c) => page.textContent('tr[data-batch-id="' + batchId + '"] td.' + c);
    check(await batchCell('state') === 'sealed', 'the batch is sealed');
    check(await batchCell('total') === '3' && await batchCell('completed') === '1' && await batchCell('waiting') === '2',
      'its progress: 3 jobs, 1 completed, 2 waiting');
    check((await batchCell('progress')).includes('33%'), 'a third settled');
    check((await batchCell('description')).includes('<img src=x'), 'markup in a description shows as text');
    await page.click('#open-only');
    await page.waitForFunction(() => location.hash === '#/batches?open=1');
    await page.waitForSelector('tr[data-batch-id="' + batchId + '"]');
    check(true, 'an open batch is listed among those not finished');
    const metrics = await (await page.request.get(url + 'metrics')).text();
    check(metrics.includes('qg_batch_jobs{batch="' + batchId + '",state="waiting"} 2'), 'the metrics gauge counts its waiting jobs');
    await page.screenshot({ path: path.join(outDir, 'batches.png'), fullPage: true });
    await page.waitForTimeout(300);
    check(await page.evaluate(() => window.__xss) === undefined, 'no injected script ran on the batches page');

    check(errors.length === 0, 'no page errors: ' + errors.join('; '));
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  console.log('browser test: ok');
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
