// The technician's page in real headless Chromium (Debian's chromium via playwright-core),
// against the demo policy, the demo fleet and `chainproof device serve` simulators.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, cli, engineArgs, launchBrowser, makeFixtures, serveSite, startDevice } from './helpers.mjs';

let fx; let site; let browser; let page;
const devices = [];
const chainOf = (id) => join(fx.demo, 'devices', id, 'chain.pem');
const cliVerdict = (policy, chain) => JSON.parse(cli(['verify', ...engineArgs(), '--json', '--policy', policy, chain]).stdout);

before(async () => {
  fx = makeFixtures();
  mkdirSync(ARTIFACTS, { recursive: true });
  site = await serveSite(fx.policy);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await open();
});

after(async () => {
  for (const d of devices) d.stop();
  await browser?.close();
  await site?.close();
});

async function open() {
  await page.goto(site.url);
  await page.waitForSelector('body[data-ready="true"]');
}

async function check(chainFile) {
  await page.fill('#chain-text', readFileSync(chainFile, 'utf8'));
  await page.click('#verify');
  await page.waitForSelector('#result:not([hidden])');
  return (await page.textContent('#verdict')).trim();
}

test('the shipped policy is shown with its CAs and the age of its revocation data', async () => {
  assert.match(await page.textContent('#trust-status'), /shipped policy/);
  assert.match(await page.textContent('#trusted-cas'), /Acme Devices Root CA/);
  assert.match(await page.textContent('#trusted-crls'), /Acme Manufacturing CA 1[^:]*: 1 revoked, revocation data is \d+ (hours|days) old/);
});

test('a valid device is accepted with its device ID, chain and thumbprints', async () => {
  const verdict = await check(chainOf('sensor-0001'));
  assert.match(verdict, /^ACCEPTED/);
  assert.equal(await page.textContent('#device-id'), 'sensor-0001');
  assert.match(await page.textContent('#facts'), /enrollment group acme-devices/);
  const want = cliVerdict(join(fx.policy, 'policy.toml'), chainOf('sensor-0001'));
  const shown = await page.$$eval('.chain .sha256', (els) => els.map((e) => e.firstChild.textContent));
  assert.deepEqual(shown, want.report.report.chain.map((c) => c.sha256));
  assert.equal(shown.length, 3);
  assert.match(await page.textContent('.countdown'), /expires in \d+d/);
  await page.screenshot({ path: join(ARTIFACTS, 'accepted.png'), fullPage: true });
});

test('a device missing its intermediate is rejected with the core\'s hint', async () => {
  const verdict = await check(chainOf('sensor-0005'));
  const want = cliVerdict(join(fx.policy, 'policy.toml'), chainOf('sensor-0005'));
  assert.equal(want.reason, 'unknown-issuer');
  assert.match(verdict, /^REJECTED.*unknown-issuer/);
  assert.equal(await page.textContent('#reason-message'), `What is wrong: ${want.error.message}`);
  assert.equal(await page.textContent('#reason-hint'), `What to do: ${want.error.hint}`);
  assert.ok(await page.isHidden('#pop'), 'no challenge for a rejected chain');
  await page.screenshot({ path: join(ARTIFACTS, 'rejected.png'), fullPage: true });
});

test('a revoked device is rejected as revoked', async () => {
  const verdict = await check(chainOf('sensor-0003'));
  const want = cliVerdict(join(fx.policy, 'policy.toml'), chainOf('sensor-0003'));
  assert.equal(want.reason, 'revoked');
  assert.match(verdict, /^REJECTED.*revoked/);
  assert.equal(await page.textContent('#reason-hint'), `What to do: ${want.error.hint}`);
});

async function challengeDevice(device) {
  await page.fill('#device-url', device.url);
  await page.click('#fetch-chain');
  await page.waitForSelector('#pop:not([hidden])');
  assert.equal(await page.textContent('#device-id'), 'sensor-0001');
  await page.click('#new-challenge');
  assert.ok((await page.inputValue('#challenge-token')).length > 40);
  assert.ok(await page.isVisible('#qr svg'), 'QR code drawn');
  await page.click('#send-challenge');
  await page.waitForSelector('#pop-result:not([hidden])');
  return (await page.textContent('#pop-result')).trim();
}

test('the genuine device passes the challenge; a clone of its certificate fails it', async () => {
  const d1 = join(fx.demo, 'devices/sensor-0001');
  const genuine = await startDevice({ cert: join(d1, 'leaf.pem'), chain: join(d1, 'intermediates.pem'), key: join(d1, 'leaf.key') });
  const clone = await startDevice({ cert: join(d1, 'leaf.pem'), chain: join(d1, 'intermediates.pem'), key: join(fx.demo, 'devices/sensor-0002/leaf.key') });
  devices.push(genuine, clone);

  assert.match(await challengeDevice(genuine), /^DEVICE HOLDS ITS KEY/);
  const download = page.waitForEvent('download');
  await page.click('#download-record');
  const record = JSON.parse(readFileSync(await (await download).path(), 'utf8'));
  writeFileSync(join(ARTIFACTS, 'installation-record.json'), `${JSON.stringify(record, null, 2)}\n`);
  assert.equal(record.device_id, 'sensor-0001');
  assert.equal(record.verdict.valid, true);
  assert.equal(record.proof_of_possession.valid, true);
  assert.match(record.thumbprints.sha256, /^[0-9A-F]{64}$/);
  assert.match(record.thumbprints.sha1, /^[0-9A-F]{40}$/);
  const policySha = createHash('sha256').update(readFileSync(join(fx.policy, 'policy.toml'))).digest('hex');
  assert.equal(record.policy.sha256, policySha);

  // The clone sends the same genuine chain, so the chain is accepted; only the key is missing.
  assert.match(await challengeDevice(clone), /^CHALLENGE FAILED: pop-bad-signature/);
});

test('a policy loaded from a file replaces the shipped one', async () => {
  const other = join(fx.dir, 'other');
  mkdirSync(other, { recursive: true });
  const toml = readFileSync(join(fx.policy, 'policy.toml'), 'utf8').replace('[revocation]', '[revocation]\ndeny_device_ids = ["sensor-0001"]');
  writeFileSync(join(other, 'site-policy.toml'), toml);
  for (const f of ['root.pem', 'crl.pem']) writeFileSync(join(other, f), readFileSync(join(fx.policy, f)));
  await page.setInputFiles('#policy-files', ['site-policy.toml', 'root.pem', 'crl.pem'].map((f) => join(other, f)));
  await page.waitForFunction(() => document.getElementById('trust-status').textContent.includes('site-policy.toml'));
  const want = cliVerdict(join(other, 'site-policy.toml'), chainOf('sensor-0001'));
  assert.equal(want.valid, false);
  const verdict = await check(chainOf('sensor-0001'));
  assert.match(verdict, new RegExp(`^REJECTED.*${want.reason}`));
  assert.equal(await page.textContent('#reason-message'), `What is wrong: ${want.error.message}`);
});

test('after the first visit the page works with the network cut (service worker)', async () => {
  await page.evaluate(() => navigator.serviceWorker.ready);
  await open(); // now controlled by the service worker
  assert.ok(await page.evaluate(() => navigator.serviceWorker.controller !== null));
  await site.close(); // the server is gone, and the browser is offline too
  await browser.setOffline(true);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.match(await page.textContent('#trust-status'), /shipped policy/);
  assert.match(await check(chainOf('sensor-0001')), /^ACCEPTED/);
  assert.equal(await page.textContent('#device-id'), 'sensor-0001');
  await page.screenshot({ path: join(ARTIFACTS, 'offline-accepted.png'), fullPage: true });
  site = null;
  // Nothing answers at the old address any more: the page above came from the cache.
  await assert.rejects(fetch(`http://127.0.0.1:${new URL(page.url()).port}/`));
});
