// Opens MLflow's web UI served by `sluice server` in headless Chromium, visits each page given,
// and fails on any console error, failed request or response with status >= 400.
//
//   node mlflow-ui.mjs BASE_URL PAGES_JSON
//
// PAGES_JSON is a file with [{"name": ..., "path": "#/experiments/1", "expect": ["text", ...]}]:
// each page is opened at BASE_URL/PATH and must show every `expect` text. Prints one line per
// page and a JSON summary as the last line; exits 1 when any page had a problem.
// CHROMIUM (default /usr/bin/chromium) is the browser.
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, pagesFile] = process.argv.slice(2);
if (!base || !pagesFile) {
  console.error('usage: node mlflow-ui.mjs BASE_URL PAGES_JSON');
  process.exit(2);
}
const pages = JSON.parse(readFileSync(pagesFile, 'utf8'));
const profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
// This machine's network is closed: Chromium's own background traffic is turned off.
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage',
  ],
});
const timeout = Number(process.env.UI_TIMEOUT_MS || 30000);
const results = [];

// Waits until no request of the page's own is in flight for 500 ms. (Playwright's `networkidle`
// never comes here: the UI's telemetry worker script stays "pending" for the page's lifetime.)
async function settle(tab, pending) {
  const own = () => [...pending].filter((r) => !r.url().includes('.worker.js'));
  const deadline = Date.now() + timeout;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    if (own().length) quietSince = Date.now();
    else if (Date.now() - quietSince >= 500) return;
    await tab.waitForTimeout(100);
  }
  throw new Error(`requests still in flight after ${timeout} ms: ${own().map((r) => r.url()).join(', ')}`);
}
for (const page of pages) {
  const tab = await browser.newPage();
  const problems = [];
  const pending = new Set();
  tab.on('request', (req) => pending.add(req));
  tab.on('requestfinished', (req) => pending.delete(req));
  tab.on('console', (msg) => {
    // Chromium reports a layout that settles over two frames as a console "error"; it is the
    // browser's notice about the page's resize observers, not a failure of any request.
    if (msg.type() === 'error' && !msg.text().includes('ResizeObserver loop')) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  tab.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  tab.on('requestfailed', (req) => {
    pending.delete(req);
    const why = req.failure()?.errorText ?? '';
    // A request the page itself abandoned (navigation, unmount) is not a failure.
    if (why !== 'net::ERR_ABORTED') problems.push(`request failed: ${req.method()} ${req.url()} ${why}`);
  });
  tab.on('response', async (res) => {
    if (res.status() < 400) return;
    const req = res.request();
    const sent = (req.postData() || '').slice(0, 300);
    const said = (await res.text().catch(() => '')).slice(0, 300);
    problems.push(`HTTP ${res.status()}: ${req.method()} ${res.url()}${sent ? ` sent ${sent}` : ''} answered ${said}`);
  });
  const url = `${base.replace(/\/$/, '')}/${page.path}`;
  const started = Date.now();
  try {
    await tab.goto(url, { waitUntil: 'load', timeout });
    await settle(tab, pending);
    for (const text of page.expect || []) {
      await tab.getByText(text, { exact: false }).first().waitFor({ state: 'visible', timeout });
    }
    // Late requests (charts, polling) get their chance to fail too.
    await tab.waitForTimeout(1500);
    await settle(tab, pending);
  } catch (err) {
    problems.push(`${err.name}: ${err.message.split('\n')[0]}`);
    if (process.env.UI_SCREENSHOTS) {
      await tab.screenshot({ path: join(process.env.UI_SCREENSHOTS, `${page.name}.png`), fullPage: true }).catch(() => {});
    }
  }
  const ms = Date.now() - started;
  results.push({ name: page.name, path: page.path, ms, problems });
  console.log(`${problems.length ? 'FAIL' : 'ok  '} ${page.name} (${ms} ms) ${page.path}`);
  for (const p of problems) console.log(`     ${p}`);
  await tab.close();
}
await browser.close();
rmSync(profile, { recursive: true, force: true });
const failed = results.filter((r) => r.problems.length).length;
console.log(JSON.stringify({ pages: results.length, failed }));
process.exit(failed ? 1 : 0);
