// Browser benchmark (issue 8, item 5): in Debian's headless Chromium, full validation of a
// three-tier P-256 chain and an RSA chain (4096-bit root and intermediate, 2048-bit device) per
// operation, chainproof's module against PKI.js and @peculiar/x509 on WebCrypto.
//
//   node web/bench/run.mjs            (after the module is built into web/pkg/, see docs/web.md)
//
// Chains come from `chainproof fixtures` (CHAINPROOF_BIN, default target/debug/chainproof).
// Writes target/bench-results/browser.json (read by `cargo xtask bench-report`) and prints a
// table of medians with the ratio of each peer's time to chainproof's.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { ROOT, WEB, cli, launchBrowser, makeFixtures, serveSite } from '../tests/helpers.mjs';

/** The chains: (row prefix, fixture directory from `chainproof fixtures`). */
const CHAINS = [
  ['P-256 chain', 'p256-three-tier'],
  ['RSA chain', 'rsa4096-ca-rsa2048-device'],
];
/** Row ids `cargo xtask bench-report` looks up for issue 8's targets (benches/README.md); the
 * `chainproof` rows are the page's path (`verifyAsync`, WebCrypto), the software-only rows have
 * no id. */
const CHAIN_IDS = { 'P-256 chain': 'p256', 'RSA chain': 'rsa' };
const PEER_IDS = { chainproof: 'chainproof', pkijs: 'pkijs', 'peculiar-x509': 'peculiar-x509' };
/** The peer every ratio is taken against. */
const BASE = 'chainproof';
/** Rows that are not a full validation per operation (no ratio is claimed for them). */
const REPEAT = /Verifier kept/;
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 31);
const MIN_BATCH_MS = Number(process.env.BENCH_MIN_BATCH_MS ?? 40);

/** DER certificates of a PEM file, in order. */
function pemBlocks(path) {
  return [...readFileSync(path, 'utf8').matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)]
    .map((m) => m[1].replace(/\s+/g, ''));
}

function fixture(fx, dir) {
  const meta = JSON.parse(readFileSync(join(fx, dir, 'fixture.json'), 'utf8'));
  const [root] = pemBlocks(join(fx, dir, meta.files.anchors));
  // chain.pem: the device certificate first, then its intermediates (as a device sends it).
  const certs = pemBlocks(join(fx, dir, meta.files.chain));
  if (!root || certs.length !== 1 + meta.intermediate_count) throw new Error(`${dir}: unexpected files`);
  return { root, certs, at: meta.validation_time };
}

/** The module's size raw, gzipped (GNU `gzip -9`, as docs/web.md records it; node's zlib at
 * level 9 comes out about 2% larger) and with brotli (quality 11, for servers that send it). */
function moduleSizes() {
  const path = join(WEB, 'pkg/chainproof_web_bg.wasm');
  const wasm = readFileSync(path);
  let gzip;
  try {
    gzip = execFileSync('gzip', ['-9', '-c', path], { maxBuffer: 64 << 20 }).length;
  } catch {
    gzip = gzipSync(wasm, { level: 9 }).length;
  }
  const brotli = brotliCompressSync(wasm, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_LGWIN]: 24, [zlib.BROTLI_PARAM_SIZE_HINT]: wasm.length },
  }).length;
  return { raw: wasm.length, gzip, brotli };
}

function chromiumVersion() {
  const exe = process.env.CHROMIUM ?? '/usr/bin/chromium';
  return execFileSync(exe, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

const fmt = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(0)} µs`);

async function main() {
  const sizes = moduleSizes();
  const chromium = chromiumVersion();
  const { dir, fx, policy } = makeFixtures();
  const fixtures = Object.fromEntries(CHAINS.map(([name, dir]) => [name, fixture(fx, dir)]));
  const version = cli(['--version']).stdout.trim();

  const site = await serveSite(policy);
  const browser = await launchBrowser();
  const rows = [];
  const table = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${site.url}bench/index.html`);
    await page.waitForFunction(() => globalThis.chainproofBench !== undefined, null, { timeout: 30_000 });
    const peers = await page.evaluate((f) => globalThis.chainproofBench.setup(f), fixtures);

    for (const [chain] of CHAINS) {
      const checks = {};
      for (const peer of peers) {
        const c = await page.evaluate(([ch, p]) => globalThis.chainproofBench.check(ch, p), [chain, peer]);
        if (!c.valid) throw new Error(`${peer} does not accept the ${chain}`);
        if (!c.rejectsCorrupted) throw new Error(`${peer} accepts the ${chain} with a corrupted signature`);
        checks[peer] = c;
      }
      console.error(`${chain}: every peer accepts it and rejects a corrupted signature; timing…`);
      const results = await page.evaluate(
        ([ch, ps, o]) => globalThis.chainproofBench.measure(ch, ps, o),
        [chain, peers, { samples: SAMPLES, minBatchMs: MIN_BATCH_MS }],
      );
      const base = results.find((r) => r.peer === BASE).median_ns;
      for (const r of results) {
        const wc = checks[r.peer].webcryptoVerifies;
        const ratio = r.median_ns / base;
        const peerId = PEER_IDS[r.peer];
        rows.push({
          ...(peerId ? { id: `${peerId}-${CHAIN_IDS[chain]}` } : {}),
          name: `${chain} / ${r.peer}`,
          median_ns: r.median_ns,
          note: [
            `p25 ${fmt(r.p25_ns)}, p75 ${fmt(r.p75_ns)}; ${r.samples} batches of ${r.batch}`,
            wc ? `${wc} WebCrypto verify calls per op` : null,
            REPEAT.test(r.peer) ? 'a repeat check of the same chain (signature remembered, CA key table), not a full validation'
              : r.peer === BASE ? 'full validation with verifyAsync (signatures by WebCrypto), nothing kept between operations'
                : `${ratio.toFixed(2)}x chainproof's time`,
          ].filter(Boolean).join('; '),
        });
        table.push([chain, r.peer, fmt(r.median_ns), REPEAT.test(r.peer) ? '-' : ratio.toFixed(2), wc || '']);
      }
    }
  } finally {
    await browser.close();
    await site.close();
    rmSync(dir, { recursive: true, force: true });
  }

  rows.push({
    id: 'module-gzip',
    name: 'browser module, gzipped (chainproof_web_bg.wasm)',
    value: sizes.gzip,
    unit: 'bytes',
    note: `${sizes.raw} bytes raw, ${sizes.brotli} with brotli`,
  });
  const report = {
    group: 'browser',
    rows,
    extra: {
      module_raw_bytes: sizes.raw,
      module_gzip_bytes: sizes.gzip,
      module_brotli_bytes: sizes.brotli,
      chromium,
      chainproof: version,
      date: new Date().toISOString(),
      method: 'median of per-op times over batches timed in-page with performance.now(); peers take turns batch by batch',
    },
  };
  const out = join(ROOT, 'target/bench-results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'browser.json'), `${JSON.stringify(report, null, 2)}\n`);

  const head = ['chain', 'validator', 'median per op', 'x chainproof', 'WebCrypto verifies'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ');
  console.log(`${chromium}; module ${sizes.raw} B raw, ${sizes.gzip} B gzipped, ${sizes.brotli} B brotli`);
  console.log(line(head));
  for (const r of table) console.log(line(r));
  console.log(`wrote ${join(out, 'browser.json')}`);
}

await main();
