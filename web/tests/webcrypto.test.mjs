// The WebCrypto path (`verifyAsync`) in real Chromium: for every web fixture it gives the very
// JSON `verify` gives; damaged signatures checked by WebCrypto are refused with the core's code
// and words; a kept Verifier imports each CA key once; without `crypto.subtle` the core answers
// and the verdicts are still the same.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cli, engineArgs } from './helpers.mjs';
import { modulePage, moduleSetup } from './module-page.mjs';

let fx; let browser; let page;
const text = (p) => readFileSync(p, 'utf8');

/** Every IoT fixture (anchors, CRLs) and every demo device under the demo policy, as cases. */
function fixtureCases() {
  const cases = [];
  for (const name of readdirSync(fx.fx).filter((n) => existsSync(join(fx.fx, n, 'fixture.json')))) {
    const d = join(fx.fx, name);
    const m = JSON.parse(text(join(d, 'fixture.json')));
    cases.push({
      id: name,
      anchors: text(join(d, 'anchors.pem')),
      crls: m.files.crls.map((c) => text(join(d, c))).join(''),
      leaf: text(join(d, 'leaf.pem')),
      extra: text(join(d, 'intermediates.pem')),
      options: { at: m.validation_time },
    });
  }
  const files = Object.fromEntries(['root.pem', 'crl.pem'].map((f) => [f, text(join(fx.policy, f))]));
  const policy = text(join(fx.policy, 'policy.toml'));
  const demo = JSON.parse(text(join(fx.demo, 'demo.json')));
  for (const dev of demo.devices) {
    cases.push({
      id: `demo/${dev.device_id}`, policy, files, leaf: text(join(fx.demo, dev.dir, 'chain.pem')), extra: '',
      options: { at: demo.validation_time },
    });
  }
  return cases;
}

/** The fixture's device certificate with the last byte of its signature changed, as PEM. */
function damagedLeaf(name) {
  const pem = text(join(fx.fx, name, 'leaf.pem'));
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ''), 'base64');
  der[der.length - 1] ^= 0x01;
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

const sum = (rs, k) => rs.reduce((n, r) => n + (r.stats?.[k] ?? 0), 0);

let env;
before(async () => {
  env = await moduleSetup();
  ({ fx, browser, page } = env);
});

after(() => env?.close());

test('every web fixture: verifyAsync (WebCrypto) gives byte-identical JSON to verify', async () => {
  const cases = fixtureCases();
  assert.ok(cases.length >= 30, `only ${cases.length} cases`);
  const results = await page.evaluate((cs) => globalThis.compareCases(cs, true), cases);
  for (const r of results) {
    assert.ok(!r.skipped, `${r.id}: ${r.skipped}`);
    assert.equal(r.webcrypto, r.software, r.id);
  }
  const rejected = results.filter((r) => JSON.parse(r.software).valid === false).length;
  console.log(`${results.length} fixtures agree (${rejected} rejected); signature checks: `
    + `${sum(results, 'webcrypto')} by WebCrypto, ${sum(results, 'software')} by the core as fallback`);
  assert.ok(rejected > 0 && sum(results, 'webcrypto') >= 2 * results.length - rejected,
    'WebCrypto answered the fixtures\' signature checks');
});

test('damaged signatures checked by WebCrypto are refused with the core\'s code and words', async () => {
  const d = join(fx.fx, 'corrupted-signature');
  const m = JSON.parse(text(join(d, 'fixture.json')));
  const want = JSON.parse(cli(['verify', ...engineArgs(), '--json', '--at', String(m.validation_time),
    '--trust', join(d, 'anchors.pem'), '--untrusted', join(d, 'intermediates.pem'), join(d, 'leaf.pem')]).stdout);
  assert.equal(want.reason, 'bad-signature');
  const cases = [{
    id: 'corrupted-signature', anchors: text(join(d, 'anchors.pem')), crls: '', leaf: text(join(d, 'leaf.pem')),
    extra: text(join(d, 'intermediates.pem')), options: { at: m.validation_time },
  }];
  for (const name of ['p256-three-tier', 'p384-three-tier', 'rsa4096-ca-rsa2048-device']) {
    const f = join(fx.fx, name);
    cases.push({
      id: `${name} (last signature byte changed)`, anchors: text(join(f, 'anchors.pem')), crls: '', leaf: damagedLeaf(name),
      extra: text(join(f, 'intermediates.pem')), options: { at: JSON.parse(text(join(f, 'fixture.json'))).validation_time },
    });
  }
  const results = await page.evaluate((cs) => globalThis.compareCases(cs, true), cases);
  for (const r of results) {
    assert.equal(r.webcrypto, r.software, r.id);
    const v = JSON.parse(r.webcrypto);
    assert.equal(v.reason, 'bad-signature', r.id);
    // The damaged signature went to WebCrypto, and WebCrypto's `false` made the verdict.
    assert.ok(r.stats.webcrypto >= 1 && r.stats.software === 0, `${r.id}: ${JSON.stringify(r.stats)}`);
  }
  assert.deepEqual(JSON.parse(results[0].webcrypto), want, 'the CLI\'s code, message and hint');
});

test('a kept Verifier imports each CA key into WebCrypto once', async () => {
  const files = Object.fromEntries(['root.pem', 'crl.pem'].map((f) => [f, text(join(fx.policy, f))]));
  const policy = text(join(fx.policy, 'policy.toml'));
  const demo = JSON.parse(text(join(fx.demo, 'demo.json')));
  const chains = ['sensor-0001', 'sensor-0002'].map((id) => text(join(fx.demo, 'devices', id, 'chain.pem')));
  const stats = await page.evaluate(async ([p, f, cs, at]) => {
    const enc = (s) => new TextEncoder().encode(s);
    const v = globalThis.cp.Verifier.fromPolicy(p, new Map(Object.entries(f).map(([k, b]) => [k, enc(b)])));
    const out = [];
    for (const c of cs) {
      const r = await v.verifyAsync(enc(c), new Uint8Array(), { at });
      out.push({ valid: r.valid, ...v.signatureStats() });
    }
    v.free();
    return out;
  }, [policy, files, chains, demo.validation_time]);
  assert.ok(stats.every((s) => s.valid), JSON.stringify(stats));
  // First device: its own and its intermediate's signature, two keys. Second device under the
  // same intermediate: one new check (the intermediate is remembered), with the cached key.
  assert.deepEqual(stats.map((s) => [s.webcrypto, s.keys_imported, s.software]), [[2, 2, 0], [3, 2, 0]]);
});

test('without crypto.subtle (an insecure context) the core answers and the verdicts are the same', async () => {
  const bare = await modulePage(browser, env.site.url, { withoutSubtle: true });
  try {
    assert.equal(await bare.evaluate(() => globalThis.crypto.subtle), undefined);
    const results = await bare.evaluate((cs) => globalThis.compareCases(cs, true), fixtureCases());
    for (const r of results) assert.equal(r.webcrypto, r.software, r.id);
    assert.equal(sum(results, 'webcrypto'), 0);
    assert.ok(sum(results, 'software') >= results.length, 'the core answered every check');
    console.log(`without crypto.subtle: ${results.length} fixtures agree, ${sum(results, 'software')} checks by the core`);
  } finally {
    await bare.close();
  }
});
