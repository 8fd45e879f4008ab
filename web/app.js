// The technician's page. Everything about certificates is decided by the chainproof core
// (pkg/chainproof_web.js); this file moves bytes, shows results and keeps no verdict logic.
import init, { Verifier, inspect, issueChallenge, version } from './pkg/chainproof_web.js';
import qrcode from './vendor/qrcode.mjs';

// The audience bound into challenges; `chainproof pop verify` uses the same default.
const AUDIENCE = 'chainproof';
// Challenge lifetime: long enough to carry a QR code to a device by hand.
const CHALLENGE_TTL_SECS = 300;

const $ = (id) => document.getElementById(id);
const now = () => Math.floor(Date.now() / 1000);
const state = { verifier: null, policyHash: null, policyName: null, chain: null, verdict: null, challenge: null, pop: null };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ''));
  return e;
}

const iso = (t) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');

function relative(secs) {
  const a = Math.abs(secs);
  const [n, unit] = a >= 2 * 86400 ? [Math.floor(a / 86400), 'days'] : a >= 2 * 3600 ? [Math.floor(a / 3600), 'hours']
    : a >= 120 ? [Math.floor(a / 60), 'minutes'] : [a, 'seconds'];
  return secs >= 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
}

function errorText(e) {
  if (e && typeof e === 'object' && 'message' in e) return e.hint ? `${e.message} (${e.hint})` : e.message;
  return String(e);
}

async function sha256Hex(bytes) {
  const d = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// DER files become PEM text so several files can travel as one bundle (framing only).
function fileToPem(name, bytes, label = 'CERTIFICATE') {
  const head = new TextDecoder().decode(bytes.slice(0, 64));
  if (head.includes('-----BEGIN')) return new TextDecoder().decode(bytes);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  const b64 = btoa(bin).replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

// ---- trust -------------------------------------------------------------------------------

async function loadShippedPolicy() {
  const manifest = await (await fetch('policy/manifest.json', { cache: 'no-cache' })).json();
  const text = await (await fetch(`policy/${manifest.policy}`, { cache: 'no-cache' })).text();
  const files = new Map();
  for (const name of manifest.files) {
    const r = await fetch(`policy/${name}`, { cache: 'no-cache' });
    if (!r.ok) throw new Error(`policy/${name}: HTTP ${r.status}`);
    files.set(name, new Uint8Array(await r.arrayBuffer()));
  }
  usePolicy(text, files, `shipped policy (${manifest.policy})`);
}

async function usePolicy(text, files, name) {
  state.verifier?.free();
  state.verifier = Verifier.fromPolicy(text, files);
  state.policyName = name;
  state.policyHash = await sha256Hex(new TextEncoder().encode(text));
  showTrust(files);
}

async function useAnchors(anchors, crls, name) {
  state.verifier?.free();
  state.verifier = Verifier.fromAnchors(anchors, crls);
  state.policyName = name;
  const all = new Uint8Array([...anchors, ...crls]);
  state.policyHash = await sha256Hex(all);
  showTrust(new Map());
}

function showTrust(files) {
  const t = state.verifier.trust();
  const box = $('trust-detail');
  box.replaceChildren();
  let cas = t.anchors;
  let crls = t.crls;
  for (const [fname, bytes] of files) {
    try {
      const i = inspect(bytes);
      cas = cas.concat(i.certificates.map((c) => ({ ...c, file: fname })));
      crls = crls.concat(i.crls.map((c) => ({ ...c, file: fname })));
    } catch { /* a file the core refused would have failed the load already */ }
  }
  if (t.kind === 'policy') {
    box.append(el('p', {}, `Enrollment groups: ${t.groups.map((g) => `${g.id}${g.enabled ? '' : ' (disabled)'}`).join(', ') || 'none'}; individual enrollments: ${t.devices}.`));
  }
  box.append(el('h3', {}, 'Trusted CAs'), el('ul', { class: 'trust-list', id: 'trusted-cas' },
    ...cas.map((c) => el('li', {}, `${c.subject} (valid until ${iso(c.not_after).slice(0, 10)})`))));
  const crlList = el('ul', { class: 'trust-list', id: 'trusted-crls' });
  for (const c of crls) {
    const age = now() - c.this_update;
    const next = c.next_update == null ? 'no next update given' : `next update ${relative(c.next_update - now())}`;
    const stale = c.next_update != null && c.next_update < now();
    crlList.append(el('li', stale ? { class: 'warn' } : {},
      `${c.issuer}: ${c.revoked} revoked, revocation data is ${relative(-age).replace(' ago', '')} old (issued ${iso(c.this_update)}), ${next}${stale ? ' (OUT OF DATE)' : ''}`));
  }
  box.append(el('h3', {}, 'Revocation lists'), crls.length ? crlList : el('p', {}, 'No CRLs: revocation is not checked.'));
  $('trust-status').textContent = `Using the ${state.policyName}. SHA-256 ${state.policyHash.slice(0, 16)}…`;
}

async function onPolicyFiles(ev) {
  const picked = [...ev.target.files];
  try {
    const files = new Map();
    for (const f of picked) files.set(f.name, new Uint8Array(await f.arrayBuffer()));
    const toml = picked.find((f) => f.name.endsWith('.toml'));
    if (toml) {
      const text = new TextDecoder().decode(files.get(toml.name));
      files.delete(toml.name);
      await usePolicy(text, files, `policy file ${toml.name}`);
    } else {
      let anchors = ''; let crls = '';
      for (const [name, bytes] of files) {
        const i = inspect(bytes);
        if (i.crls.length) crls += fileToPem(name, bytes, 'X509 CRL'); else anchors += fileToPem(name, bytes);
      }
      await useAnchors(new TextEncoder().encode(anchors), new TextEncoder().encode(crls), `CA files ${picked.map((f) => f.name).join(', ')}`);
    }
    $('result').hidden = true; $('pop').hidden = true; $('record').hidden = true;
  } catch (e) {
    $('trust-status').textContent = `Cannot use these files: ${errorText(e)}`;
  }
}

// ---- device input ------------------------------------------------------------------------

async function addFiles(list) {
  let pem = $('chain-text').value.trim() ? `${$('chain-text').value.trim()}\n` : '';
  for (const f of list) pem += fileToPem(f.name, new Uint8Array(await f.arrayBuffer()));
  $('chain-text').value = pem;
}

function deviceBase() {
  const u = $('device-url').value.trim().replace(/\/+$/, '');
  if (!u) throw new Error('Enter the device address first (e.g. http://192.168.4.1:8480).');
  return u;
}

async function fetchChain() {
  try {
    const r = await fetch(`${deviceBase()}/chain`, { cache: 'no-store' });
    if (!r.ok) throw new Error(`the device answered HTTP ${r.status}`);
    $('chain-text').value = await r.text();
    await verify();
  } catch (e) {
    showInputError(`Cannot fetch the chain from the device: ${errorText(e)}`);
  }
}

function showInputError(msg) {
  $('input-error').textContent = msg;
  $('input-error').hidden = !msg;
}

// ---- verdict -----------------------------------------------------------------------------

async function verify() {
  showInputError('');
  const text = $('chain-text').value.trim();
  if (!text) { showInputError('Paste, drop or fetch the device certificate first.'); return; }
  state.chain = new TextEncoder().encode(text);
  let verdict;
  try {
    // The certificate signatures are checked by the browser's WebCrypto where it can (the
    // verdict is still the core's; docs/web.md, The WebCrypto path).
    verdict = await state.verifier.verifyAsync(state.chain, new Uint8Array(), { at: now() });
  } catch (e) {
    showInputError(`The certificate cannot be read: ${errorText(e)}`);
    return;
  }
  state.verdict = verdict;
  state.pop = null;
  state.challenge = null;
  showVerdict(verdict);
}

function copyButton(value, what) {
  const b = el('button', { type: 'button', class: 'copy', 'aria-label': `Copy ${what}` }, 'Copy');
  b.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(value); b.textContent = 'Copied'; } catch { b.textContent = 'Select and copy'; }
  });
  return b;
}

function certItem(c, role) {
  const countdown = el('span', { class: 'countdown', 'data-not-after': c.not_after, 'data-not-before': c.not_before });
  return el('li', { class: 'cert' },
    el('span', { class: 'role' }, role),
    el('h4', {}, c.subject),
    el('dl', {},
      el('dt', {}, 'Issuer'), el('dd', {}, c.issuer),
      el('dt', {}, 'Serial'), el('dd', { class: 'mono' }, c.serial),
      el('dt', {}, 'Valid'), el('dd', {}, `${iso(c.not_before)} to ${iso(c.not_after)} `, countdown),
      el('dt', {}, 'Key'), el('dd', {}, `${c.key_type} (${c.key_bits} bits)`),
      el('dt', {}, 'SHA-1'), el('dd', { class: 'mono' }, c.sha1, ' ', copyButton(c.sha1, 'SHA-1 thumbprint')),
      el('dt', {}, 'SHA-256'), el('dd', { class: 'mono sha256' }, c.sha256, ' ', copyButton(c.sha256, 'SHA-256 thumbprint'))));
}

function tickCountdowns() {
  const t = now();
  for (const s of document.querySelectorAll('.countdown')) {
    const na = Number(s.dataset.notAfter); const nb = Number(s.dataset.notBefore);
    const left = na - t;
    if (nb > t) s.textContent = `(not valid for another ${relative(nb - t).replace('in ', '')})`;
    else if (left < 0) s.textContent = `(expired ${relative(left)})`;
    else {
      const d = Math.floor(left / 86400); const h = Math.floor((left % 86400) / 3600);
      const m = Math.floor((left % 3600) / 60); const sec = left % 60;
      s.textContent = `(expires in ${d}d ${h}h ${m}m ${sec}s)`;
    }
  }
}

function enrollmentText(e) {
  if (!e) return null;
  // The core serializes it as {kind: "group" | "device", id}.
  if (e.kind === 'group') return `enrollment group ${e.id}`;
  if (e.kind === 'device') return `individual enrollment ${e.id}`;
  return JSON.stringify(e);
}

function showVerdict(v) {
  $('result').hidden = false;
  const box = $('verdict');
  const facts = $('facts');
  const reason = $('reason');
  facts.replaceChildren();
  reason.replaceChildren();
  const fact = (k, val) => facts.append(el('dt', {}, k), el('dd', {}, val));
  const chainList = $('chain');
  chainList.replaceChildren();
  if (v.valid) {
    // With a policy the report is {report, enrollment, tags, route, warnings}.
    const verdict = v.report.report ? v.report : null;
    const report = verdict ? verdict.report : v.report;
    box.className = 'verdict ok';
    box.replaceChildren('ACCEPTED', el('small', {}, 'The device carries a genuine identity from a trusted manufacturer CA.'));
    fact('Device ID', el('span', { id: 'device-id' }, report.device_id ?? '(not checked)'));
    if (verdict) {
      fact('Enrollment', enrollmentText(verdict.enrollment));
      fact('Route', verdict.route);
      if (verdict.tags.length) fact('Tags', verdict.tags.join(', '));
    }
    fact('Checked at', iso(report.validated_at));
    const warnings = [...report.warnings, ...(verdict ? verdict.warnings : [])];
    fact('Warnings', warnings.length ? el('ul', { id: 'warnings' }, ...warnings.map((w) => el('li', { class: 'warn' }, `${w.code}: ${w.message}`))) : 'none');
    report.chain.forEach((c, i) => chainList.append(certItem(c, c.trust_anchor ? 'Trust anchor' : i === 0 ? 'Device' : 'Intermediate CA')));
    reason.hidden = true;
  } else {
    const f = v.error;
    box.className = 'verdict bad';
    box.replaceChildren('REJECTED', el('small', {}, `Do not accept this device. Reason: ${f.code}`));
    reason.hidden = false;
    reason.append(el('p', { id: 'reason-message' }, el('strong', {}, 'What is wrong: '), f.message),
      el('p', { id: 'reason-hint' }, el('strong', {}, 'What to do: '), f.hint));
    if (f.subject) reason.append(el('p', {}, `At depth ${f.depth}: ${f.subject}`));
    // Show what the device sent, as the core reads it.
    try {
      const sent = inspect(state.chain).certificates;
      sent.forEach((c, i) => chainList.append(certItem(c, i === 0 ? 'Device (as sent)' : 'Sent by the device')));
      const leaf = sent[0];
      if (leaf) fact('Device', leaf.subject);
    } catch { /* the verdict already says what is wrong */ }
  }
  tickCountdowns();
  $('pop').hidden = !v.valid;
  $('challenge-box').hidden = true;
  $('pop-result').hidden = true;
  $('record').hidden = false;
  box.focus?.();
}

// ---- proof of possession -----------------------------------------------------------------

function newChallenge() {
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  try {
    state.challenge = issueChallenge(nonce, AUDIENCE, now(), CHALLENGE_TTL_SECS);
  } catch (e) {
    showPop(false, `Cannot create a challenge: ${errorText(e)}`);
    return;
  }
  $('challenge-token').value = state.challenge.token;
  $('signature').value = '';
  const qr = qrcode(0, 'M');
  qr.addData(state.challenge.token);
  qr.make();
  $('qr').innerHTML = qr.createSvgTag({ cellSize: 4, margin: 2, scalable: true });
  $('challenge-box').hidden = false;
  $('pop-result').hidden = true;
}

async function sendChallenge() {
  try {
    const r = await fetch(`${deviceBase()}/challenge`, { method: 'POST', body: state.challenge.token, headers: { 'Content-Type': 'text/plain' } });
    const body = await r.text();
    if (!r.ok) throw new Error(`the device answered HTTP ${r.status}: ${body.trim()}`);
    $('signature').value = body.trim();
    await checkSignature();
  } catch (e) {
    showPop(false, `Cannot reach the device: ${errorText(e)}`);
  }
}

function showPop(ok, text, hint) {
  const box = $('pop-result');
  box.hidden = false;
  box.className = `verdict ${ok ? 'ok' : 'bad'}`;
  box.replaceChildren(text);
  if (hint) box.append(el('small', {}, hint));
}

async function checkSignature() {
  if (!state.challenge) return;
  let r;
  try {
    r = await state.verifier.verifyPossessionAsync(state.chain, { at: now() }, AUDIENCE, state.challenge.token, $('signature').value);
  } catch (e) {
    showPop(false, `Cannot check: ${errorText(e)}`);
    return;
  }
  state.pop = { valid: r.valid, reason: r.reason, signature: r.report?.signature ?? null, checked_at: now() };
  if (r.valid) showPop(true, 'DEVICE HOLDS ITS KEY', `Signature ${r.report.signature} over a fresh challenge verified.`);
  else showPop(false, `CHALLENGE FAILED: ${r.error.code}`, `${r.error.message}. ${r.error.hint}`);
}

// ---- installation record -----------------------------------------------------------------

function downloadRecord() {
  const v = state.verdict;
  const report = v.valid ? (v.report.report ?? v.report) : null;
  let leaf = report ? report.chain[0] : null;
  if (!leaf) { try { leaf = inspect(state.chain).certificates[0]; } catch { leaf = null; } }
  const record = {
    kind: 'chainproof-installation-record',
    checked_at: new Date().toISOString(),
    device_id: report?.device_id ?? null,
    subject: leaf?.subject ?? null,
    thumbprints: leaf ? { sha1: leaf.sha1, sha256: leaf.sha256 } : null,
    verdict: { valid: v.valid, reason: v.reason, message: v.error?.message ?? null },
    enrollment: v.valid && v.report.enrollment ? enrollmentText(v.report.enrollment) : null,
    proof_of_possession: state.pop,
    policy: { name: state.policyName, sha256: state.policyHash },
    module_version: version(),
  };
  const blob = new Blob([`${JSON.stringify(record, null, 2)}\n`], { type: 'application/json' });
  const a = el('a', { href: URL.createObjectURL(blob), download: `installation-${record.device_id ?? 'device'}-${record.checked_at.replace(/[:.]/g, '')}.json` });
  document.body.append(a);
  a.click();
  a.remove();
}

// ---- wiring ------------------------------------------------------------------------------

function wire() {
  $('verify').addEventListener('click', verify);
  $('fetch-chain').addEventListener('click', fetchChain);
  $('policy-files').addEventListener('change', onPolicyFiles);
  $('chain-files').addEventListener('change', (e) => addFiles([...e.target.files]));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); addFiles([...e.dataTransfer.files]); });
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('chain-files').click(); } });
  $('new-challenge').addEventListener('click', newChallenge);
  $('send-challenge').addEventListener('click', sendChallenge);
  $('check-signature').addEventListener('click', checkSignature);
  $('copy-challenge').addEventListener('click', () => navigator.clipboard.writeText($('challenge-token').value).catch(() => {}));
  $('download-record').addEventListener('click', downloadRecord);
  setInterval(tickCountdowns, 1000);
  const online = () => { $('offline-status').textContent = navigator.onLine ? 'online' : 'offline (cached copy)'; };
  addEventListener('online', online); addEventListener('offline', online); online();
}

async function main() {
  wire();
  await init();
  $('module-version').textContent = `chainproof ${version()}`;
  try {
    await loadShippedPolicy();
  } catch (e) {
    $('trust-status').textContent = `The shipped policy cannot be used: ${errorText(e)}. Load a policy file.`;
  }
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js').catch((e) => console.warn('service worker:', e));
  }
  document.body.dataset.ready = 'true';
}

main();
