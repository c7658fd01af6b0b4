// The console in a real headless browser: Debian's chromium driven by
// playwright-core (which downloads no browser of its own). Run by
// browser_test.cc, which prepares the database, starts the console and
// checks the database afterwards:
//   node browser_test.js URL ERRORED_JOB_ID XSS_JOB_ID
// Exits 0 when every check passed; saves console.png (the overview) to
// $TEST_UNDECLARED_OUTPUTS_DIR.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const { chromium } = require(path.join(process.env.QG_PLAYWRIGHT_DIR, 'node_modules', 'playwright-core'));
const [url, erroredId, xssId] = process.argv.slice(2);
const outDir = process.env.TEST_UNDECLARED_OUTPUTS_DIR || os.tmpdir();
const XSS_ERROR = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';

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
