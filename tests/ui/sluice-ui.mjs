// Sluice's own web UI (served by `sluice server --auth` at `/`) in headless Chromium.
//
//   node sluice-ui.mjs BASE_URL CONFIG_JSON
//
// CONFIG_JSON names what the test workspace holds (written by crates/sluice/tests/mlflow):
//   {"owner": TOKEN, "reader": TOKEN, "experiment": ID, "filter": ..., "filtered": N,
//    "sort_metric": KEY, "compare": [RUN, RUN], "job": NAME, "slow_job": NAME, "slow_step": STEP,
//    "model": NAME, "version": "N", "data_version": "taxi-data:1", "screenshots": DIR,
//    "python_experiment": ID or null}
// Every page is opened as the reader and must load with no console error, no failed request
// and no response >= 400; then the scenarios: a running job's log followed to its end, a runs
// filter, a sort, a two-run comparison chart, a reader refused when approving, an owner who
// approves and promotes (the alias moves, the audit log shows it), the lineage graph naming
// the data version, and run editing (offered to the owner only: name, description, tags); every
// page's controls have an accessible name, and a new page's heading takes the keyboard focus.
// Prints one line per check and a JSON summary last; exits 1 on any failure.
// CHROMIUM (default /usr/bin/chromium) is the browser.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base0, configFile] = process.argv.slice(2);
if (!base0 || !configFile) {
  console.error('usage: node sluice-ui.mjs BASE_URL CONFIG_JSON');
  process.exit(2);
}
const base = base0.replace(/\/$/, '');
const cfg = JSON.parse(readFileSync(configFile, 'utf8'));
const shots = cfg.screenshots;
if (shots) mkdirSync(shots, { recursive: true });
const timeout = Number(process.env.UI_TIMEOUT_MS || 30000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
});
const results = [];
const check = async (name, f) => {
  const t0 = Date.now();
  try {
    await f();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    if (shots) {
      for (const [who, s] of [['reader', reader], ['owner', owner]]) {
        await s?.page.screenshot({ path: join(shots, `FAILED-${results.length}-${who}.png`), fullPage: true }).catch(() => {});
      }
    }
    results.push({ name, ok: false, error: String(e && e.stack || e) });
    console.log(`FAIL ${name}: ${e && e.message || e}`);
  }
};

// A signed-in browser session (its own cookies) whose pages record every problem.
async function session(token, label, screen = {}) {
  const context = await browser.newContext({ viewport: screen.viewport || { width: 1280, height: 860 }, colorScheme: screen.colorScheme || 'light' });
  const problems = [];
  let quiet = false; // while a check provokes a refusal on purpose
  context.on('page', (page) => {
    page.on('console', (msg) => { if (msg.type() === 'error' && !quiet) problems.push(`[${label}] console error: ${msg.text()}`); });
    page.on('pageerror', (err) => problems.push(`[${label}] page error: ${err.message}`));
    page.on('requestfailed', (req) => {
      const why = req.failure()?.errorText ?? '';
      // Requests the page abandons (navigation, a closed event stream) are not failures.
      if (why !== 'net::ERR_ABORTED' && !quiet) problems.push(`[${label}] request failed: ${req.method()} ${req.url()} ${why}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400 && !quiet) problems.push(`[${label}] HTTP ${res.status()}: ${res.request().method()} ${res.url()}`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  await page.goto(`${base}/#/`);
  await page.waitForSelector('#token');
  await page.fill('#token', token);
  await page.click('form button[type=submit]');
  await page.waitForFunction(() => location.hash === '#/' && document.querySelector('main h1')?.textContent === 'Experiments');
  return {
    page, problems, context,
    setQuiet: (q) => { quiet = q; },
    async open(hash, ready) {
      await page.goto(`${base}/${hash}`);
      await drawn(page);
      if (ready) await page.waitForSelector(ready, { state: 'attached' });
      await page.waitForLoadState('networkidle').catch(() => {});
    },
    clean(what) {
      if (problems.length) throw new Error(`${what}: ${problems.splice(0).join('; ')}`);
    },
  };
}
// Waits until the page drew the route in the address bar (the UI marks `main` when it has).
const drawn = (page) => page.waitForFunction(() => document.querySelector('main')?.dataset.route === (location.hash || '#/'));
const shot = async (page, name) => { if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true }); };
const text = (page, sel) => page.$eval(sel, (e) => e.textContent);
// The visible controls and images of a page without an accessible name (a label, aria-label or
// aria-labelledby, a title, a button's or link's text, an image's alt), described for the message.
const unnamed = (page) => page.evaluate(() => {
  const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  const named = (e) => {
    if ((e.getAttribute('aria-label') || '').trim() || e.getAttribute('aria-labelledby') || (e.getAttribute('title') || '').trim()) return true;
    if (e.labels && [...e.labels].some((l) => l.textContent.trim())) return true;
    if (e.tagName === 'IMG') return e.hasAttribute('alt');
    if (['BUTTON', 'A', 'SUMMARY'].includes(e.tagName)) return e.textContent.trim() !== '';
    if (e.tagName === 'INPUT' && ['submit', 'button'].includes(e.type)) return (e.value || '').trim() !== '';
    return false;
  };
  return [...document.querySelectorAll('main input:not([type=hidden]), main select, main textarea, main button, main a[href], main img, main summary, main [role=button], nav a, header button')]
    .filter((e) => visible(e) && !named(e))
    .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className && typeof e.className === 'string' ? `.${e.className.replace(/ /g, '.')}` : ''}`);
});

let reader = null;
let owner = null;
reader = await session(cfg.reader, 'reader');
owner = await session(cfg.owner, 'owner');

await check('a running job: live status and its log followed to the end', async () => {
  const { page } = reader;
  await reader.open(`#/jobs/${encodeURIComponent(cfg.slow_job)}?step=${encodeURIComponent(cfg.slow_step)}`, '#step-log');
  // While it runs, the log grows on the page without a reload ...
  await page.waitForFunction(() => /tick 3\b/.test(document.querySelector('#step-log')?.textContent || ''));
  const during = await text(page, '#job-status');
  if (!/Running|Preparing|Queued|Starting/.test(during)) throw new Error(`the job was already ${during} when its log showed tick 3`);
  await shot(page, '06-job-running');
  // ... and the end comes by itself: the last line and the final status, pushed by the server.
  await page.waitForFunction(() => (document.querySelector('#step-log')?.textContent || '').includes('done-ticking')
    && document.querySelector('#job-status')?.textContent === 'Completed', null, { timeout: 60000 });
  // The step's last lines are 2.4 MB of `é` (read 1 MiB at a time, one read ending inside an
  // `é`): all of it shows, each character whole, before `done-ticking`.
  const log = await text(page, '#step-log');
  const accents = (log.match(/é/g) || []).length;
  if (accents !== 1200000 || log.includes('\uFFFD') || !log.includes('xx')) {
    throw new Error(`the log shows ${accents} of 1,200,000 é${log.includes('\uFFFD') ? ' and broken characters' : ''}`);
  }
  reader.clean('job page');
});

const pages = [
  ['01-experiments', '#/', 'main table'],
  ['02-runs', `#/experiments/${cfg.experiment}`, 'table.runs'],
  ['03-run', `#/runs/${cfg.compare[0]}`, '.metric-card svg path'],
  ['04-compare', `#/compare?runs=${cfg.compare.join(',')}`, '.metric-card svg path'],
  ['05-jobs', '#/jobs', 'main table'],
  ['07-job', `#/jobs/${cfg.job}`, 'svg.dag .node'],
  ['08-models', '#/models', 'main table'],
  ['09-model', `#/models/${encodeURIComponent(cfg.model)}`, '#lineage svg.dag'],
  ['10-audit', '#/audit', 'table.audit'],
];
// The Python example's runs (its own scripts' params and metrics), when it ran.
if (cfg.python_experiment) pages.splice(2, 0, ['02-runs-python', `#/experiments/${cfg.python_experiment}`, 'table.runs']);
for (const [name, hash, ready] of pages) {
  await check(`page ${name} (${hash}) loads clean`, async () => {
    await reader.open(hash, ready);
    const h1 = await text(reader.page, 'main h1');
    if (!h1 || h1 === 'Not found') throw new Error(`no page heading (${h1})`);
    const nameless = await unnamed(reader.page);
    if (nameless.length) throw new Error(`controls without an accessible name: ${nameless.slice(0, 8).join(', ')}`);
    await shot(reader.page, name);
    reader.clean(name);
  });
}

await check('artifact previews: a table, an image, MLmodel, and SVG as its source', async () => {
  const { page } = reader;
  await reader.open(`#/runs/${cfg.artifacts_run}`, 'ul.tree');
  const open = (name) => page.click(`ul.tree button.link:text-is("${name}")`);
  await open('table.csv');
  await page.waitForFunction(() => [...document.querySelectorAll('.preview table td')].some((td) => td.textContent === '12.0'));
  // A quoted field keeps its comma and its doubled quotes, in one cell.
  await page.waitForFunction(() => [...document.querySelectorAll('.preview table td')].some((td) => td.textContent === 'a, quoted "fare"'));
  await open('plot.png');
  await page.waitForFunction(() => { const i = document.querySelector('.preview img'); return i && i.complete && i.naturalWidth === 1; });
  await open('diagram.svg');
  await page.waitForFunction(() => (document.querySelector('.preview pre')?.textContent || '').includes('<script>alert(1)</script>'));
  if (await page.$('.preview img, .preview svg')) throw new Error('the SVG was rendered, not shown as text');
  await open(`${cfg.mlmodel_dir}/`);
  await open('MLmodel');
  await page.waitForFunction(() => /flavors:/.test(document.querySelector('.preview pre')?.textContent || ''));
  await shot(page, '03-run-artifacts');
  reader.clean('artifact previews');
});

await check('a long metric chart: downsampled, zoomed to full resolution, log scale, smoothing, x = time', async () => {
  const { page } = reader;
  await reader.open(`#/runs/${cfg.artifacts_run}`, '.metric-card[data-metric="curve"] svg path');
  const card = '.metric-card[data-metric="curve"]';
  const status = () => page.$eval(`${card} .chart-controls .muted`, (e) => e.textContent);
  const line = () => page.$eval(`${card} svg.chart path[fill="none"]`, (e) => e.getAttribute('d'));
  // 5,000 points come as about 500 (the server samples 500 evenly and keeps the last, as MLflow does).
  await page.waitForFunction((c) => /^\d+ points$/.test(document.querySelector(`${c} .chart-controls .muted`)?.textContent || ''), card);
  const shown = Number((await status()).split(' ')[0]);
  if (!(shown > 400 && shown <= 501)) throw new Error(`${shown} points drawn of 5,000`);
  // Dragging across a tenth of the chart fetches that range at full resolution.
  // On screen first (the mouse only reaches what the window shows).
  await page.$eval(`${card} svg.chart`, (e) => e.scrollIntoView({ block: 'center' }));
  const box = await (await page.$(`${card} svg.chart`)).boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.4, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.45, y, { steps: 4 });
  await page.mouse.up();
  await page.waitForFunction((c) => /full resolution/.test(document.querySelector(`${c} .chart-controls .muted`)?.textContent || ''), card);
  const zoomed = await status();
  const [, n, a, b] = zoomed.match(/^(\d+) points \(steps (\d+)–(\d+), full resolution\)$/) || [];
  if (!n || Number(n) !== Number(b) - Number(a) + 1) throw new Error(`zoomed: ${zoomed}`);
  // A step range typed in, by keyboard alone: 100 steps at full resolution; all 5,000 steps are
  // more than a zoom fetches (2,500 a run), so they come sampled and the chart says so.
  const statusBecomes = async (re) => {
    try {
      await page.waitForFunction(([c, src]) => new RegExp(src).test(document.querySelector(`${c} .chart-controls .muted`)?.textContent || ''), [card, re.source], { timeout: 10000 });
    } catch (e) {
      throw new Error(`the chart says ${JSON.stringify(await status())}, not ${re}`);
    }
  };
  await page.fill(`${card} input.step-from`, '100');
  await page.fill(`${card} input.step-to`, '199');
  await page.press(`${card} input.step-to`, 'Enter');
  await statusBecomes(/^100 points \(steps 100–199, full resolution\)$/);
  await page.fill(`${card} input.step-from`, '0');
  await page.fill(`${card} input.step-to`, '4999');
  await page.press(`${card} input.step-to`, 'Enter');
  await statusBecomes(/^\d+ points \(steps 0–4999, sampled to 2500 a run: zoom further for every step\)$/);
  await page.click(`${card} button:text-is("Reset zoom")`);
  await page.waitForFunction((c) => /^\d+ points$/.test(document.querySelector(`${c} .chart-controls .muted`)?.textContent || ''), card);
  // Log scale and smoothing redraw the line; x = time relabels the chart.
  let before = await line();
  await page.check(`${card} input[aria-label="curve: log scale"]`);
  await page.waitForFunction(([c, d]) => document.querySelector(`${c} svg.chart path[fill="none"]`)?.getAttribute('d') !== d, [card, before]);
  before = await line();
  await page.$eval(`${card} input[type="range"]`, (e) => { e.value = '0.9'; e.dispatchEvent(new Event('change')); });
  await page.waitForFunction(([c, d]) => document.querySelector(`${c} svg.chart path[fill="none"]`)?.getAttribute('d') !== d, [card, before]);
  await page.selectOption(`${card} select[aria-label="curve: x axis"]`, 'time');
  await page.waitForFunction((c) => document.querySelector(`${c} svg.chart`)?.getAttribute('aria-label') === 'curve by time', card);
  reader.clean('metric chart controls');
});

await check('a run with more metrics than charts drawn at once: the rest behind a button', async () => {
  const { page } = reader;
  await reader.open(`#/runs/${cfg.artifacts_run}`, '.metric-card');
  const total = await page.$$eval('main table', (ts) => ts.length);
  const cards = () => page.$$eval('.metric-card', (c) => c.length);
  if ((await cards()) !== 12) throw new Error(`${await cards()} charts drawn at first (${total} tables)`);
  const label = await text(page, 'button.more-charts');
  const n = Number((label.match(/^Show all (\d+) charts$/) || [])[1]);
  // `curve` and the 14 `extra_NN` the test logged.
  if (!(n >= 15)) throw new Error(`the button says ${label}`);
  await page.click('button.more-charts');
  await page.waitForFunction((want) => document.querySelectorAll('.metric-card').length === want, n);
  await page.waitForSelector('.metric-card[data-metric="extra_13"] svg path', { state: 'attached' });
  reader.clean('all charts');
});

await check('a step run names its pipeline step and links to it', async () => {
  const { page } = reader;
  await reader.open(`#/runs/${cfg.compare[0]}`, 'main h1');
  const link = await page.$('dt:text-is("Pipeline step") + dd a');
  if (!link) throw new Error('no Pipeline step on a training step\'s run');
  const href = await link.getAttribute('href');
  if (!/^#\/jobs\/[^?]+\?step=/.test(href)) throw new Error(`the link goes to ${href}`);
  await link.click();
  await drawn(page);
  await page.waitForSelector('svg.dag .node.selected', { state: 'attached' });
  // The new page's heading has the focus (the keyboard and screen readers start there).
  const focused = await page.evaluate(() => document.activeElement?.tagName === 'H1' && document.activeElement.closest('main') !== null);
  if (!focused) throw new Error(`the focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 80))}`);
  reader.clean('pipeline step link');
});

await check('runs paged on the server: next, previous (also on a page opened afresh), and columns chosen', async () => {
  const { page } = reader;
  const ids = () => page.$$eval('table.runs tbody input[type=checkbox]', (b) => b.map((x) => x.value));
  await reader.open(`#/experiments/${cfg.experiment}?size=3`, 'table.runs');
  const first = await ids();
  if (first.length !== 3) throw new Error(`${first.length} runs on a page of 3`);
  await page.click('#next-page');
  await drawn(page);
  const second = await ids();
  if (second.length < 1 || second.some((id) => first.includes(id))) throw new Error(`page 2 (${second}) repeats page 1 (${first})`);
  await page.click('#next-page');
  await drawn(page);
  const third = await ids();
  // Opened afresh (a shared link): Previous still goes one page back.
  await reader.open(`#/${page.url().split('#/')[1]}`, 'table.runs');
  if (JSON.stringify(await ids()) !== JSON.stringify(third)) throw new Error('the page opened afresh differs');
  await page.click('#previous-page');
  await drawn(page);
  if (JSON.stringify(await ids()) !== JSON.stringify(second)) throw new Error(`previous: ${await ids()} instead of ${second}`);
  await page.click('#previous-page');
  await drawn(page);
  if (JSON.stringify(await ids()) !== JSON.stringify(first)) throw new Error(`previous again: ${await ids()} instead of ${first}`);
  if (await page.$('#previous-page')) throw new Error('the first page offers a previous one');
  // A column chosen in the chooser becomes a column of the table.
  await page.click('details.cols summary');
  const pick = await page.$$eval('details.cols input[type=checkbox]', (b) => b.filter((x) => !x.checked).map((x) => x.value));
  const col = pick.find((c) => c.startsWith('params.')) || pick[0];
  if (!col) throw new Error('no column to add');
  await page.check(`details.cols input[value="${col}"]`);
  await page.click('#show-columns');
  await drawn(page);
  await page.waitForSelector(`th button[title="Sort by ${col}"]`);
  reader.clean('paging and columns');
});

await check("an owner's pages and the login form: every control has an accessible name", async () => {
  const { page } = owner;
  const pagesToCheck = [
    [`#/runs/${cfg.compare[0]}`, '#note'],
    [`#/experiments/${cfg.experiment}`, 'table.runs'],
    [`#/models/${encodeURIComponent(cfg.model)}`, 'table.versions'],
    [`#/jobs/${encodeURIComponent(cfg.job)}`, 'svg.dag .node'],
    ['#/audit', 'table.audit'],
  ];
  for (const [hash, ready] of pagesToCheck) {
    await owner.open(hash, ready);
    // Folded parts open, so their controls are seen too (and folded again after: the page
    // remembers them open).
    const opened = await page.$$eval('main details', (ds) => ds.map((d, i) => { const was = d.open; d.open = true; return was ? -1 : i; }).filter((i) => i >= 0));
    const nameless = await unnamed(page);
    await page.$$eval('main details', (ds, list) => list.forEach((i) => { if (ds[i]) ds[i].open = false; }), opened);
    if (nameless.length) throw new Error(`${hash}: controls without an accessible name: ${nameless.slice(0, 8).join(', ')}`);
  }
  // The login form, in a session of its own (no cookie).
  const context = await browser.newContext();
  try {
    const login = await context.newPage();
    await login.goto(`${base}/#/`);
    await login.waitForSelector('#token');
    const nameless = await unnamed(login);
    if (nameless.length) throw new Error(`login: controls without an accessible name: ${nameless.join(', ')}`);
  } finally {
    await context.close();
  }
  owner.clean('owner pages named');
});

await check('a re-run job: its reused steps say from where, and why (explain)', async () => {
  const { page } = reader;
  await reader.open(`#/jobs/${encodeURIComponent(cfg.reused_job)}`, 'table.steps');
  await page.waitForFunction(() => [...document.querySelectorAll('table.steps td')].some((td) => td.textContent.startsWith('reused from ')));
  await page.waitForFunction(() => [...document.querySelectorAll('table.steps td.explain')].some((td) => /^reused: /.test(td.textContent)));
  reader.clean('reused job');
});

await check('a running job: a reader has no cancel button; an owner cancels it, then resumes it to its end', async () => {
  const hash = `#/jobs/${encodeURIComponent(cfg.wait_job)}`;
  await reader.open(hash, '#job-status');
  await reader.page.waitForFunction(() => document.querySelector('#job-status')?.textContent === 'Running', null, { timeout: 60000 });
  if (await reader.page.$('#cancel-job, #resume-job')) throw new Error('a reader sees a cancel or resume button');
  const { page } = owner;
  await owner.open(hash, '#cancel-job');
  await page.click('#cancel-job');
  await page.waitForFunction(() => document.querySelector('#job-status')?.textContent === 'Canceled', null, { timeout: 60000 });
  writeFileSync(cfg.wait_go, '');
  await page.click('#resume-job');
  await page.waitForFunction(() => document.querySelector('#job-status')?.textContent === 'Completed', null, { timeout: 60000 });
  reader.clean('job to cancel (reader)');
  owner.clean('job canceled and resumed');
});

await check('a phone-sized screen in dark mode: pages fit its width, follow the dark scheme, and a step is picked by keyboard alone', async () => {
  const phone = await session(cfg.reader, 'reader-phone', { viewport: { width: 375, height: 740 }, colorScheme: 'dark' });
  try {
    const { page } = phone;
    for (const hash of ['#/', `#/experiments/${cfg.experiment}`, `#/runs/${cfg.compare[0]}`, `#/jobs/${cfg.job}`, `#/models/${encodeURIComponent(cfg.model)}`, '#/audit']) {
      await phone.open(hash, 'main h1');
      // Wide tables scroll inside their own box; the page itself never scrolls sideways.
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      if (width > 376) {
        // The innermost elements that reach past the screen, to say what to mend.
        const wide = await page.evaluate(() => {
          const clipped = (e) => { for (let a = e.parentElement; a; a = a.parentElement) if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) return true; return false; };
          const out = (e) => e.getBoundingClientRect().right > 376 && !clipped(e);
          return [...document.querySelectorAll('body *')].filter((e) => out(e) && ![...e.children].some(out))
            .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}${e.className ? `.${String(e.className).replace(/ /g, '.')}` : ''}: ${(e.textContent || '').slice(0, 60)}`);
        });
        await shot(page, 'FAILED-phone');
        throw new Error(`${hash}: the page is ${width}px wide on a 375px screen (${wide.join(' | ')})`);
      }
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const [r, g, b, a = 1] = bg.match(/[\d.]+/g).map(Number);
      if (a === 0 || r + g + b > 150) throw new Error(`${hash}: not a dark background in dark mode (${bg})`);
    }
    // The keyboard alone: Tab to a step of the graph, Enter shows it.
    await phone.open(`#/jobs/${cfg.job}`, 'svg.dag .node');
    await shot(page, '11-phone-dark-job');
    let label = null;
    for (let i = 0; i < 80 && !label; i++) {
      await page.keyboard.press('Tab');
      label = await page.evaluate(() => { const a = document.activeElement; return a && a.matches('svg.dag .node') ? a.getAttribute('aria-label') : null; });
    }
    if (!label) throw new Error('Tab never reached a step of the graph');
    await page.keyboard.press('Enter');
    const name = label.split(':')[0];
    await page.waitForFunction((n) => [...document.querySelectorAll('main h3')].some((h) => h.textContent === `Step ${n}`), name);
    phone.clean('phone-sized dark pages');
  } finally {
    await phone.context.close();
  }
});

await check('a runs filter in MLflow syntax', async () => {
  const { page } = reader;
  await reader.open(`#/experiments/${cfg.experiment}`, 'table.runs');
  await page.fill('#runs-filter', cfg.filter);
  await page.press('#runs-filter', 'Enter');
  await page.waitForFunction((f) => new URLSearchParams(location.hash.split('?')[1] || '').get('filter') === f, cfg.filter);
  await drawn(page);
  const rows = await page.$$eval('table.runs tbody tr', (r) => r.length);
  if (rows !== cfg.filtered) throw new Error(`${rows} rows shown, the API finds ${cfg.filtered}`);
  reader.clean('filter');
});

await check('a sort by a metric column, both ways', async () => {
  const { page } = reader;
  const col = `metrics.${cfg.sort_metric}`;
  await reader.open(`#/experiments/${cfg.experiment}?filter=${encodeURIComponent(`metrics.${cfg.sort_metric} > -1e300`)}&cols=${col}`, 'table.runs');
  const values = async () => page.$$eval('table.runs tbody tr td:last-child', (tds) => tds.map((t) => Number(t.textContent)));
  for (const dir of ['desc', 'asc']) {
    await page.click(`th button[title="Sort by ${col}"]`);
    await page.waitForSelector(`th[aria-sort="${dir}ending"]`);
    await drawn(page);
    const v = await values();
    if (v.length < 2) throw new Error(`only ${v.length} values to sort`);
    const sorted = [...v].sort((a, b) => (dir === 'desc' ? b - a : a - b));
    if (JSON.stringify(v) !== JSON.stringify(sorted)) throw new Error(`${dir}: ${v.join(', ')}`);
  }
  reader.clean('sort');
});

await check('two runs compared: overlay chart and differing params', async () => {
  const { page } = reader;
  await reader.open(`#/experiments/${cfg.experiment}?filter=${encodeURIComponent(`attributes.run_id IN ('${cfg.compare.join("','")}')`)}`, 'table.runs');
  for (const id of cfg.compare) await page.check(`table.runs input[value="${id}"]`);
  await page.click('#compare');
  await drawn(page);
  await page.waitForSelector('.metric-card svg path', { state: 'attached' });
  await page.waitForLoadState('networkidle').catch(() => {});
  // `overlay`, logged over 20 steps by both runs: two lines, one colour each, 20 points each.
  const card = '.metric-card[data-metric="overlay"]';
  await page.waitForSelector(`${card} svg.chart path[fill="none"]`, { state: 'attached' });
  const drawnLines = await page.$$eval(`${card} svg.chart path[fill="none"]`, (ps) => ps.map((p) => [p.getAttribute('stroke'), (p.getAttribute('d').match(/[ML]/g) || []).length]));
  if (drawnLines.length !== 2 || drawnLines[0][0] === drawnLines[1][0] || drawnLines.some(([, n]) => n !== 20)) {
    throw new Error(`the overlay chart draws ${JSON.stringify(drawnLines)} (stroke, points)`);
  }
  const legend = await page.$eval(`${card} .legend`, (l) => l.children.length);
  if (legend !== 2) throw new Error(`legend of ${legend}`);
  if (!(await page.$('table.params tr.diff'))) throw new Error('no differing parameter is highlighted');
  if (!(await page.$('svg.parallel path'))) throw new Error('no parallel coordinates');
  await shot(page, '04-compare');
  reader.clean('compare');
});

await check('a reader sees no approve button and the server refuses the approval', async () => {
  const { page } = reader;
  await reader.open(`#/models/${encodeURIComponent(cfg.model)}`, 'table.versions');
  if (await page.$('button.approve')) throw new Error('an Approve button is shown to a reader');
  if (await page.$('button.promote')) throw new Error('a Promote button is shown to a reader');
  reader.setQuiet(true);
  const answer = await page.evaluate(async ([model, version]) => {
    const s = await (await fetch('api/sluice/v1/session')).json();
    const send = async (headers) => {
      const r = await fetch('api/sluice/v1/cli', {
        method: 'POST', headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({ args: ['model', 'approve', '-n', model, '-v', version, '-o', 'json'] }),
      });
      return { status: r.status, body: await r.json() };
    };
    return { withCsrf: await send({ 'X-Sluice-CSRF': s.csrf }), withoutCsrf: await send({}) };
  }, [cfg.model, cfg.version]);
  reader.setQuiet(false);
  if (answer.withCsrf.body.exit_code !== 12) throw new Error(`approve as reader: ${JSON.stringify(answer.withCsrf)}`);
  if (answer.withoutCsrf.status !== 403) throw new Error(`a write without the CSRF token: ${JSON.stringify(answer.withoutCsrf)}`);
  reader.clean('reader model page');
});

await check('an owner approves and promotes; the alias moves; the audit log shows it', async () => {
  const { page } = owner;
  await owner.open(`#/models/${encodeURIComponent(cfg.model)}`, 'table.versions');
  await page.click(`button.approve[data-version="${cfg.version}"]`);
  await page.waitForFunction((v) => document.querySelector(`tr[data-version="${v}"] td.approvals`)?.textContent.startsWith('1/1'), cfg.version);
  // Approved once by this owner: not offered again.
  if (await page.$(`button.approve[data-version="${cfg.version}"]`)) throw new Error('Approve is still offered to the owner who approved');
  await page.selectOption(`tr[data-version="${cfg.version}"] select`, 'champion');
  await page.click(`button.promote[data-version="${cfg.version}"]`);
  await page.waitForFunction((v) => (document.querySelector('#aliases')?.textContent || '').includes(`@championversion ${v}`), cfg.version);
  await shot(page, '09-model');
  await owner.open('#/audit', 'table.audit');
  const actions = await page.$$eval('table.audit tbody tr td:nth-child(4)', (t) => t.map((x) => x.textContent));
  for (const want of ['version.approve', 'alias.set']) {
    if (!actions.some((a) => a.startsWith(want))) throw new Error(`no ${want}* entry in the audit log: ${[...new Set(actions)].join(', ')}`);
  }
  const verified = await text(page, '#audit-verify');
  if (!verified.startsWith('Verified')) throw new Error(verified);
  await shot(page, '10-audit');
  owner.clean('owner flow');
});

// The Python example's model, when it ran: its steps ran its own code (from this git checkout)
// in a locked environment, and the lineage says which commit and which lock.
if (cfg.python_model) {
  await check('the lineage of a model trained by its own scripts names the git commit and the lock', async () => {
    const { page } = reader;
    await reader.open(`#/models/${encodeURIComponent(cfg.python_model)}?version=1`, '#lineage svg.dag');
    const labels = await page.$$eval('#lineage svg.dag .node', (n) => n.map((x) => x.getAttribute('aria-label')));
    if (!labels.some((l) => /^code [0-9a-f]{10}/.test(l))) throw new Error(`no code node names a commit: ${labels.join(' | ')}`);
    if (!labels.some((l) => /^env .*, lock /.test(l))) throw new Error(`no environment node names its lock: ${labels.join(' | ')}`);
    reader.clean('lineage with code and lock');
  });
}

await check('the audit log filtered on the server by action and actor, and paged back', async () => {
  const { page } = owner;
  await owner.open('#/audit', 'table.audit');
  await page.fill('#audit-action', 'alias');
  await page.click('form.toolbar button[type=submit]');
  await page.waitForFunction(() => document.querySelector('main')?.dataset.route === '#/audit?action=alias');
  const cells = (col) => page.$$eval(`table.audit tbody tr td:nth-child(${col})`, (t) => t.map((x) => x.textContent));
  const actions = await cells(4);
  if (!actions.length || !actions.every((a) => a.startsWith('alias.'))) throw new Error(`action filter: ${actions.join(', ')}`);
  // The identity alone (entries made with a token say `name (token id)`).
  const actor = (await cells(3))[0].replace(/ \(token [^)]*\)$/, '');
  await owner.open(`#/audit?actor=${encodeURIComponent(actor)}`, 'table.audit');
  const actors = await cells(3);
  if (!actors.length || !actors.every((a) => a === actor || a.startsWith(`${actor} (token `))) throw new Error(`actor filter (${actor}): ${actors.join(', ')}`);
  // Three a page: the link goes to the three before them.
  await owner.open('#/audit?size=3', '#audit-older');
  const first = (await cells(1)).map(Number);
  await page.click('#audit-older');
  await page.waitForFunction(() => /before=/.test(document.querySelector('main')?.dataset.route || ''));
  const second = (await cells(1)).map(Number);
  if (first.length !== 3 || second.length !== 3 || Math.max(...second) >= Math.min(...first)) throw new Error(`pages: ${first} then ${second}`);
  owner.clean('audit filters');
});

await check('the lineage graph names the data version', async () => {
  const { page } = reader;
  await reader.open(`#/models/${encodeURIComponent(cfg.model)}?version=${cfg.version}`, '#lineage svg.dag');
  const labels = await page.$$eval('#lineage svg.dag .node', (n) => n.map((x) => x.getAttribute('aria-label')));
  if (!labels.some((l) => l.includes(cfg.data_version))) throw new Error(`no node names ${cfg.data_version}: ${labels.join(' | ')}`);
  for (const kind of ['job ', 'step ', 'run ', 'env ', 'code', 'model ']) {
    if (!labels.some((l) => l.startsWith(kind))) throw new Error(`no ${kind.trim()} node: ${labels.join(' | ')}`);
  }
  // The alias history ends the graph: the owner's promotion above.
  if (!labels.some((l) => l.startsWith(`@champion → v${cfg.version}`))) throw new Error(`no alias history node: ${labels.join(' | ')}`);
  reader.clean('lineage');
});

await check('a reader cannot edit a run; an owner renames it, describes it, sets and removes a tag, and describes and tags the experiment', async () => {
  const id = cfg.compare[0];
  await reader.open(`#/runs/${id}`, '#note');
  for (const sel of ['#rename-run', '#edit-note', '#tag-form', 'button.remove-tag']) {
    if (await reader.page.$(sel)) throw new Error(`a reader is offered ${sel}`);
  }
  reader.clean('reader run page');
  const { page } = owner;
  const stored = () => page.evaluate(async (runId) => (await (await fetch(`api/2.0/mlflow/runs/get?run_id=${runId}`)).json()).run, id);
  const tag = (run, key) => ((run.data.tags || []).find((t) => t.key === key) || {}).value;
  await owner.open(`#/runs/${id}`, '#note');
  // The description is kept as MLflow's note tag and shown as text, markup and all.
  const note = 'Best so far.\n<b>not bold</b>';
  await page.click('#edit-note');
  await page.fill('#note-input', note);
  await page.click('#note-form button[type=submit]');
  await page.waitForFunction((n) => document.querySelector('#note-text')?.textContent === n, note);
  if (await page.$('#note b')) throw new Error('the description was drawn as HTML');
  if (tag(await stored(), 'mlflow.note.content') !== note) throw new Error('the description was not stored');
  await page.fill('#tag-key', 'reviewed');
  await page.fill('#tag-value', 'by the owner');
  await page.click('#tag-form button[type=submit]');
  await page.waitForSelector('tr[data-tag="reviewed"]');
  if (tag(await stored(), 'reviewed') !== 'by the owner') throw new Error('the tag was not stored');
  // Tags MLflow or Sluice set are not offered for removal.
  if (await page.$('tr[data-tag="mlflow.runName"] button.remove-tag')) throw new Error('mlflow.runName is removable');
  await page.click('tr[data-tag="reviewed"] button.remove-tag');
  await page.waitForSelector('tr[data-tag="reviewed"]', { state: 'detached' });
  if (tag(await stored(), 'reviewed') !== undefined) throw new Error('the tag was not removed');
  await page.click('#rename-run');
  await page.fill('#run-name', 'renamed in the UI');
  await page.click('#rename-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('main h1')?.textContent === 'renamed in the UI');
  if ((await stored()).info.run_name !== 'renamed in the UI') throw new Error('the new name was not stored');
  await shot(page, '03-run-edited');
  // The experiment's description, the same way (MLflow's note tag on the experiment).
  await owner.open(`#/experiments/${cfg.experiment}`, 'table.runs');
  await page.click('#edit-note');
  await page.fill('#note-input', 'Taxi fares, trained nightly.');
  await page.click('#note-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#note-text')?.textContent === 'Taxi fares, trained nightly.');
  const exp = await page.evaluate(async (e) => (await (await fetch(`api/2.0/mlflow/experiments/get?experiment_id=${e}`)).json()).experiment, cfg.experiment);
  if (((exp.tags || []).find((t) => t.key === 'mlflow.note.content') || {}).value !== 'Taxi fares, trained nightly.') {
    throw new Error(`the experiment's description was not stored: ${JSON.stringify(exp.tags)}`);
  }
  // The experiment's own tags: set one, see it stored, remove it.
  const expTag = async () => ((await page.evaluate(async (e) => (await (await fetch(`api/2.0/mlflow/experiments/get?experiment_id=${e}`)).json()).experiment, cfg.experiment)).tags || [])
    .find((t) => t.key === 'team');
  await page.click('#experiment-tags summary');
  await page.fill('#tag-key', 'team');
  await page.fill('#tag-value', 'pricing');
  await page.click('#tag-form button[type=submit]');
  await page.waitForSelector('#experiment-tags tr[data-tag="team"]');
  if ((await expTag())?.value !== 'pricing') throw new Error('the experiment tag was not stored');
  await page.click('#experiment-tags tr[data-tag="team"] button.remove-tag');
  await page.waitForSelector('#experiment-tags tr[data-tag="team"]', { state: 'detached' });
  if (await expTag()) throw new Error('the experiment tag was not removed');
  await reader.open(`#/experiments/${cfg.experiment}`, 'table.runs');
  if (await reader.page.$('#tag-form')) throw new Error('a reader is offered to set an experiment tag');
  if (await reader.page.$('#edit-note')) throw new Error('a reader is offered to edit the experiment description');
  if ((await text(reader.page, '#note-text')) !== 'Taxi fares, trained nightly.') throw new Error('the reader does not see the description');
  reader.clean('reader experiment page');
  owner.clean('run editing');
});

await check('a reader cannot delete; an owner deletes and restores a run, renames an experiment, deletes and restores it', async () => {
  const id = cfg.compare[1];
  await reader.open(`#/runs/${id}`, '#note');
  if (await reader.page.$('#delete-run')) throw new Error('a reader is offered to delete a run');
  await reader.open(`#/experiments/${cfg.experiment}`, 'table.runs');
  for (const sel of ['#rename-experiment', '#delete-experiment']) {
    if (await reader.page.$(sel)) throw new Error(`a reader is offered ${sel}`);
  }
  reader.clean('reader delete buttons');
  const { page } = owner;
  const getJson = (path) => page.evaluate(async (p) => (await fetch(p)).json(), path);
  const stage = async () => (await getJson(`api/2.0/mlflow/runs/get?run_id=${id}`)).run.info.lifecycle_stage;
  // A run: asked again in place, deleted, listed among the deleted runs, restored.
  await owner.open(`#/runs/${id}`, '#delete-run');
  await page.click('#delete-run');
  await page.click('#delete-run-yes');
  await page.waitForSelector('#deleted-banner');
  if ((await stage()) !== 'deleted') throw new Error('the run was not deleted');
  if (await page.$('#delete-run')) throw new Error('a deleted run is offered for deletion');
  await shot(page, '04-run-deleted');
  await owner.open(`#/experiments/${cfg.experiment}?view=DELETED_ONLY&filter=${encodeURIComponent(`attributes.run_id = '${id}'`)}`, 'table.runs');
  if (!(await page.$(`table.runs input[value="${id}"]`))) throw new Error('the deleted run is not listed among the deleted runs');
  await owner.open(`#/runs/${id}`, '#restore');
  await page.click('#restore');
  await page.waitForSelector('#deleted-banner', { state: 'detached' });
  if ((await stage()) !== 'active') throw new Error('the run was not restored');
  // The experiment: renamed (and back), deleted (gone from the list), restored.
  const exp = async () => (await getJson(`api/2.0/mlflow/experiments/get?experiment_id=${cfg.experiment}`)).experiment;
  const name = (await exp()).name;
  await owner.open(`#/experiments/${cfg.experiment}`, '#rename-experiment');
  for (const next of [`${name} (renamed)`, name]) {
    await page.click('#rename-experiment');
    await page.fill('#experiment-name', next);
    await page.click('#rename-experiment-form button[type=submit]');
    await page.waitForFunction((n) => document.querySelector('main h1')?.textContent === n, next);
    if ((await exp()).name !== next) throw new Error(`the experiment was not renamed to ${next}`);
  }
  await page.click('#delete-experiment');
  await page.click('#delete-experiment-yes');
  await page.waitForSelector('#deleted-banner');
  if ((await exp()).lifecycle_stage !== 'deleted') throw new Error('the experiment was not deleted');
  await owner.open('#/', 'main h1');
  if (await page.$(`a[href="#/experiments/${cfg.experiment}"]`)) throw new Error('a deleted experiment is listed');
  await owner.open(`#/experiments/${cfg.experiment}`, '#restore');
  await page.click('#restore');
  await page.waitForSelector('#deleted-banner', { state: 'detached' });
  if ((await exp()).lifecycle_stage !== 'active') throw new Error('the experiment was not restored');
  owner.clean('deleting and restoring');
});

await browser.close();
const failed = results.filter((r) => !r.ok);
for (const f of failed) console.log(`--- ${f.name}\n${f.error}`);
console.log(JSON.stringify({ checks: results.length, failed: failed.length }));
process.exit(failed.length ? 1 : 0);
