// The whole x509-limbo suite through the browser module in Chromium: each case verified with
// `verify` (the core's own signature checks, in wasm) and with `verifyAsync` (WebCrypto), on
// fresh Verifiers; every case must give the same JSON. The testcase-to-options mapping is
// core/tests/common/limbo_suite.rs's `options` and `intermediates`.
//
// LIMBO_JSON overrides the suite file (default: shared/limbo/limbo.json.gz beside the clone).
// The whole suite takes about 35 s on the 2-core machine, so it is not sampled.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ROOT } from './helpers.mjs';
import { moduleSetup } from './module-page.mjs';

const SUITE = process.env.LIMBO_JSON ?? join(ROOT, '../shared/limbo/limbo.json.gz');
/** Cases per page.evaluate call: keeps each message to the page small. */
const BATCH = 200;

/** limbo_suite.rs `peer_name`: the module takes the CLI's `--peer-name` form. */
const PEER_KINDS = { DNS: 'dns', IP: 'ip', RFC822: 'email' };
const peerName = (n) => `${PEER_KINDS[n.kind] ?? n.kind}:${n.value}`;

/** limbo_suite.rs `options`: a testcase's options for the module (`now` when it has no time). */
function options(tc, now) {
  // RFC 3339, rounded down to whole seconds as the core's UnixTime::parse does.
  const at = tc.validation_time == null ? now : Math.floor(Date.parse(tc.validation_time) / 1000);
  const o = { at, identity: 'none' };
  const [purpose, kindEku] = tc.validation_kind === 'SERVER' ? ['server', 'serverAuth'] : ['client', 'clientAuth'];
  const ekus = tc.extended_key_usage ?? [];
  if (ekus.length === 0 || (ekus.length === 1 && ekus[0] === kindEku)) o.purpose = purpose;
  else o.eku = ekus;
  const names = tc.validation_kind === 'SERVER'
    ? (tc.expected_peer_name ? [tc.expected_peer_name] : [])
    : (tc.expected_peer_names ?? []);
  o.peerNames = names.map(peerName);
  o.keyUsage = tc.key_usage ?? [];
  if (tc.max_chain_depth != null) o.maxDepth = tc.max_chain_depth;
  return o;
}

let env;
before(async () => { env = await moduleSetup(); });
after(() => env?.close());

test('x509-limbo in Chromium: verifyAsync (WebCrypto) agrees with verify on every case', { skip: !existsSync(SUITE) && `${SUITE} is missing` }, async () => {
  const t0 = Date.now();
  const suite = JSON.parse(gunzipSync(readFileSync(SUITE)).toString('utf8'));
  assert.equal(suite.version, 1);
  const now = Math.floor(Date.now() / 1000);
  // limbo_suite.rs `intermediates` drops one that does not parse; the module's bag must parse
  // as a whole, so each is checked with the core's reader in the page first.
  const pems = [...new Set(suite.testcases.flatMap((tc) => tc.untrusted_intermediates))];
  const ok = await env.page.evaluate((ps) => ps.map((p) => {
    try { globalThis.cp.inspect(new TextEncoder().encode(p)); return true; } catch { return false; }
  }), pems);
  const parses = new Map(pems.map((p, i) => [p, ok[i]]));
  const cases = suite.testcases.map((tc) => ({
    id: tc.id,
    anchors: tc.trusted_certs.join('\n'),
    crls: (tc.crls ?? []).join('\n'),
    leaf: tc.peer_certificate,
    extra: tc.untrusted_intermediates.filter((p) => parses.get(p)).join('\n'),
    options: options(tc, now),
  }));

  const results = [];
  for (let i = 0; i < cases.length; i += BATCH) {
    results.push(...await env.page.evaluate((cs) => globalThis.compareCases(cs, false), cases.slice(i, i + BATCH)));
  }
  const compared = results.filter((r) => !r.skipped);
  const disagree = compared.filter((r) => !r.agree);
  const withWebCrypto = compared.filter((r) => r.stats.webcrypto > 0);
  const checks = (k) => compared.reduce((n, r) => n + r.stats[k], 0);
  console.log(`x509-limbo in Chromium: ${compared.length} cases compared, ${compared.length - disagree.length} agree, `
    + `${disagree.length} disagree; ${results.length - compared.length} skipped (trust anchors or CRLs the core refuses); `
    + `${compared.filter((r) => r.threw).length} refused as input by both; ${withWebCrypto.length} cases used WebCrypto answers `
    + `(${checks('webcrypto')} signature checks by WebCrypto, ${checks('software')} by the core as fallback, `
    + `${checks('keys_imported')} keys imported); ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const r of disagree.slice(0, 5)) console.log(`${r.id}\n  verify:      ${r.software}\n  verifyAsync: ${r.webcrypto}`);
  assert.equal(disagree.length, 0, `${disagree.length} cases disagree: ${disagree.slice(0, 20).map((r) => r.id).join(', ')}`);
  assert.ok(compared.length > 9000, `only ${compared.length} cases compared`);
  assert.ok(withWebCrypto.length > 2500, `only ${withWebCrypto.length} cases used WebCrypto`);
});
