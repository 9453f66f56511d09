// Times a web UI's pages in headless Chromium: for each page, one warm-up load and then LOADS
// loads (HTTP cache warm, as for a user who has opened the UI before), each from about:blank.
//
//   node measure.mjs BASE_URL KIND CONFIG_JSON      KIND: sluice | mlflow
//
// CONFIG_JSON: {"sets": [{"runs": N, "experiment": ID}, ...], "history_experiment": ID,
// "history_run": ID}. Per page, prints a JSON line: the median time from navigation start to the
// first render of the data (the runs table's rows, the chart's line drawn), and the median
// server time (the sum of the time to first byte of the page's API requests up to that render).
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [base0, kind, configFile] = process.argv.slice(2);
const base = base0.replace(/\/$/, '');
const cfg = JSON.parse(readFileSync(configFile, 'utf8'));
const loads = Number(process.env.LOADS || 5);
const timeout = Number(process.env.UI_TIMEOUT_MS || 120000);

const pages = [];
for (const set of cfg.sets) {
  if (kind === 'sluice') {
    pages.push({ name: `runs page, ${set.runs} runs`, path: `#/experiments/${set.experiment}`,
      ready: 'sluice-runs' });
    pages.push({ name: `runs page sorted by a metric, ${set.runs} runs`, path: `#/experiments/${set.experiment}?order=metrics.%60m0%60+DESC`,
      ready: 'sluice-runs' });
    // The other kinds of column a user sorts by: a param, a tag, the run's name, its status.
    for (const [what, order] of [['a param', 'params.%60learning_rate%60+DESC'], ['a tag', 'tags.%60mlflow.runName%60+DESC'],
      ['the run name', 'attributes.run_name+ASC'], ['the status', 'attributes.status+ASC']]) {
      pages.push({ name: `runs page sorted by ${what}, ${set.runs} runs`, path: `#/experiments/${set.experiment}?order=${order}`,
        ready: 'sluice-runs' });
    }
  } else {
    pages.push({ name: `runs page, ${set.runs} runs`, path: `#/experiments/${set.experiment}/runs`,
      ready: 'mlflow-runs' });
  }
}
if (cfg.history_run) {
  pages.push(kind === 'sluice'
    ? { name: `metric chart, ${(cfg.history_points || 100000).toLocaleString('en')} points`, path: `#/runs/${cfg.history_run}`,
      ready: 'sluice-chart' }
    : { name: `metric chart, ${(cfg.history_points || 100000).toLocaleString('en')} points`, path: `#/experiments/${cfg.history_experiment}/runs/${cfg.history_run}/model-metrics`,
      ready: 'mlflow-chart' });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(timeout);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : null; };

for (const p of pages) {
  const renders = []; const servers = [];
  for (let i = 0; i <= loads; i++) {
    await page.goto('about:blank');
    const api = [];
    const onDone = (req) => {
      const u = req.url();
      if (!/\/(ajax-)?api\/|graphql/.test(u)) return;
      const t = req.timing();
      if (t.responseStart > 0 && t.requestStart >= 0) api.push({ ttfb: t.responseStart - t.requestStart, at: Date.now() });
    };
    page.on('requestfinished', onDone);
    await page.goto(`${base}/${p.path}`);
    // A function, not a string: Sluice's page forbids evaluating strings (its CSP).
    const handle = await page.waitForFunction((ready) => {
      const drawn = {
        'sluice-runs': () => document.querySelectorAll('table.runs tbody tr').length > 0
          && document.querySelector('main').dataset.route === location.hash,
        'mlflow-runs': () => document.body.innerText.includes('bench-run-'),
        // The line drawn (its path has points: both UIs draw it once, when the data is in).
        'sluice-chart': () => (document.querySelector('.metric-card[data-metric="loss"] svg path')?.getAttribute('d') || '').length > 100,
        // MLflow's run page draws its metric charts with Plotly (SVG).
        'mlflow-chart': () => [...document.querySelectorAll('svg path.js-line')].some((e) => (e.getAttribute('d') || '').length > 100),
      }[ready];
      return drawn() && performance.now();
    }, p.ready, { polling: 'raf' }).catch(() => null);
    page.off('requestfinished', onDone);
    if (!handle) { renders.push(null); servers.push(null); break; } // not drawn in time
    const render = await handle.jsonValue();
    const renderedAt = Date.now();
    if (i === 0) continue; // warm-up
    renders.push(render);
    servers.push(api.filter((r) => r.at <= renderedAt + 5).reduce((s, r) => s + r.ttfb, 0));
  }
  const timedOut = renders.includes(null);
  console.log(JSON.stringify({
    ui: kind, page: p.name, loads,
    first_render_ms: timedOut ? null : Math.round(median(renders)),
    server_ms: timedOut ? null : Math.round(median(servers) * 10) / 10,
    ...(timedOut ? { note: `not drawn within ${timeout} ms` } : {}),
  }));
}
await browser.close();
