// The browser module loaded into a bare page of the test site in Chromium, with one in-page
// comparison: the same case through `verify` (the core's own signature checks) and
// `verifyAsync` (WebCrypto), each on a fresh Verifier, as JSON text.

import { launchBrowser, makeFixtures, serveSite } from './helpers.mjs';

const PAGE = 'module-under-test.html';

/**
 * Fixtures, the test site, Chromium and a module page, for a test file's `before`; `close()`
 * for its `after`.
 */
export async function moduleSetup() {
  const fx = makeFixtures();
  const site = await serveSite(fx.policy);
  const browser = await launchBrowser();
  const page = await modulePage(browser, site.url);
  return {
    fx, site, browser, page,
    close: async () => { await browser.close(); await site.close(); },
  };
}

/**
 * A new page at the site's origin with the module loaded and `globalThis.compareCase` defined.
 * `withoutSubtle`: `crypto.subtle` is gone before anything runs, as in an insecure context.
 */
export async function modulePage(context, siteUrl, { withoutSubtle = false } = {}) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.route(`${siteUrl}${PAGE}`, (r) => r.fulfill({
    contentType: 'text/html; charset=utf-8',
    body: '<!doctype html><meta charset="utf-8"><title>chainproof module</title>',
  }));
  if (withoutSubtle) {
    await page.addInitScript(() => {
      Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined, configurable: true });
    });
  }
  await page.goto(`${siteUrl}${PAGE}`);
  await page.evaluate(async () => {
    const cp = await import('/pkg/chainproof_web.js');
    await cp.default();
    globalThis.cp = cp;
    const enc = (s) => new TextEncoder().encode(s ?? '');
    const trust = (c) => (c.policy
      ? cp.Verifier.fromPolicy(c.policy, new Map(Object.entries(c.files).map(([k, v]) => [k, enc(v)])))
      : cp.Verifier.fromAnchors(enc(c.anchors), enc(c.crls)));
    const text = async (f) => {
      try { return JSON.stringify(await f()); } catch (e) { return `throws ${JSON.stringify(e) ?? String(e)}`; }
    };
    /**
     * One case ({anchors, crls} or {policy, files}; leaf, extra: PEM text; options): both
     * verdicts as JSON text and how the async one's signature checks were answered.
     * `skipped` when the trust does not load (a harness matter, not a verdict).
     */
    globalThis.compareCase = async (c) => {
      let soft; let web;
      try { soft = trust(c); web = trust(c); } catch (e) {
        soft?.free();
        return { skipped: e.message ?? String(e) };
      }
      try {
        const software = await text(() => soft.verify(enc(c.leaf), enc(c.extra), c.options));
        const webcrypto = await text(() => web.verifyAsync(enc(c.leaf), enc(c.extra), c.options));
        return { software, webcrypto, stats: web.signatureStats() };
      } finally {
        soft.free();
        web.free();
      }
    };
    globalThis.compareCases = async (cases, full) => {
      const out = [];
      for (const c of cases) {
        const r = await globalThis.compareCase(c);
        const agree = r.software === r.webcrypto;
        out.push(full || !agree ? { id: c.id, agree, ...r } : { id: c.id, agree, skipped: r.skipped, stats: r.stats,
          threw: r.software?.startsWith('throws') ?? false });
      }
      return out;
    };
  });
  return page;
}
