// Parity: the browser module (the same .wasm the page loads, run in node) gives the same JSON
// verdict as `chainproof verify --json` (native engine) for every IoT fixture and every demo
// fleet device under the demo policy.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WEB, cli, engineArgs, makeFixtures } from './helpers.mjs';

const { initSync, Verifier, checkVerificationCertificate } = await import(join(WEB, 'pkg/chainproof_web.js'));
initSync({ module: readFileSync(join(WEB, 'pkg/chainproof_web_bg.wasm')) });
const fx = makeFixtures();
const engine = engineArgs();
const read = (p) => new Uint8Array(readFileSync(p));
// What JSON.stringify makes of the module's object, compared with serde_json's output.
const plain = (v) => JSON.parse(JSON.stringify(v));

test('every IoT fixture: module JSON equals the CLI JSON', () => {
  const names = readdirSync(fx.fx).filter((n) => existsSync(join(fx.fx, n, 'fixture.json')));
  assert.ok(names.length >= 10, `only ${names.length} fixtures`);
  let rejected = 0;
  for (const name of names) {
    const d = join(fx.fx, name);
    const m = JSON.parse(readFileSync(join(d, 'fixture.json'), 'utf8'));
    const crlFiles = m.files.crls.map((c) => join(d, c));
    const crls = Buffer.concat(crlFiles.map((p) => readFileSync(p)));
    const v = Verifier.fromAnchors(read(join(d, 'anchors.pem')), new Uint8Array(crls));
    const got = plain(v.verify(read(join(d, 'leaf.pem')), read(join(d, 'intermediates.pem')), { at: m.validation_time }));
    v.free();
    // The CLI refuses an empty --untrusted file (no certificate); the module takes empty bytes
    // as "no extra intermediates", so the empty file is simply not passed.
    const bag = readFileSync(join(d, 'intermediates.pem')).length ? ['--untrusted', join(d, 'intermediates.pem')] : [];
    const args = ['verify', ...engine, '--json', '--at', String(m.validation_time), '--trust', join(d, 'anchors.pem'),
      ...bag, ...crlFiles.flatMap((c) => ['--crl', c]), join(d, 'leaf.pem')];
    const want = JSON.parse(cli(args).stdout);
    assert.deepEqual(got, want, `${name}`);
    assert.equal(got.reason, m.expected_code ?? 'ok', name);
    if (!got.valid) rejected += 1;
  }
  assert.ok(rejected > 0, 'the fixtures include rejected chains');
});

test('demo fleet under the demo policy: module JSON equals the CLI JSON', () => {
  const files = new Map(['root.pem', 'crl.pem'].map((f) => [f, read(join(fx.policy, f))]));
  const v = Verifier.fromPolicy(readFileSync(join(fx.policy, 'policy.toml'), 'utf8'), files);
  const demo = JSON.parse(readFileSync(join(fx.demo, 'demo.json'), 'utf8'));
  const reasons = new Set();
  for (const dev of demo.devices) {
    const chain = join(fx.demo, dev.dir, 'chain.pem');
    const got = plain(v.verify(read(chain), new Uint8Array(), { at: demo.validation_time }));
    const want = JSON.parse(cli(['verify', ...engine, '--json', '--at', String(demo.validation_time),
      '--policy', join(fx.policy, 'policy.toml'), chain]).stdout);
    assert.deepEqual(got, want, dev.device_id);
    reasons.add(got.reason);
  }
  v.free();
  assert.ok(reasons.has('ok') && reasons.size >= 3, `reasons: ${[...reasons]}`);
});

test('CA verification certificate made as cloud docs instruct: module JSON equals the CLI JSON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainproof-vcert-'));
  const openssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-subj', '/CN=Acme Fleet CA', '-days', '30',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const code = cli(['ca', 'verification-code']).stdout.trim();
  openssl(['req', '-new', '-key', 'ca.key', '-subj', `/CN=${code}`, '-out', 'v.csr']);
  openssl(['x509', '-req', '-in', 'v.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'v.pem', '-days', '1']);
  const now = Math.floor(Date.now() / 1000);
  const verdicts = [];
  for (const c of [code, '0'.repeat(40)]) {
    const got = plain(checkVerificationCertificate(read(join(dir, 'ca.pem')), c, read(join(dir, 'v.pem')), now));
    const want = JSON.parse(cli(['ca', 'verify-pop', '--json', '--at', String(now), '--ca', join(dir, 'ca.pem'),
      '--code', c, join(dir, 'v.pem')]).stdout);
    assert.deepEqual(got, want, c);
    verdicts.push(got.valid);
  }
  assert.deepEqual(verdicts, [true, false], 'the right code passes and another code fails');
});
