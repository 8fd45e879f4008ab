// The in-page half of the browser benchmark (driven by run.mjs): full validation of one device
// chain per operation by chainproof's module and by the JavaScript validators a page would use
// instead (PKI.js and @peculiar/x509, both on WebCrypto). Timing happens here, with
// performance.now() around batches of operations, so no round trip to node is measured.
import init, { Verifier } from '../pkg/chainproof_web.js';
import * as pkijs from 'pkijs';

const x509 = globalThis.x509;
x509.cryptoProvider.set(globalThis.crypto);

const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const NONE = new Uint8Array();

/**
 * Each peer prepares what a page would keep between devices (the trust anchor, parsed once) and
 * returns `run()`: one full validation of the device chain (DER bytes: leaf, then
 * intermediates) from bytes to verdict, true when valid. `sync` peers are timed without awaits.
 */
const PEERS = {
  // The page's path: `verifyAsync`, the certificate signatures checked by WebCrypto (natively)
  // and everything else by the core. Full validation with nothing kept between operations: a
  // new Verifier each time, so no remembered signature, key table or imported CryptoKey.
  chainproof(fx) {
    const chain = concat(fx.certs);
    const options = { at: fx.at };
    return {
      sync: false,
      run: async () => {
        const verifier = Verifier.fromAnchors(fx.root, NONE);
        try { return (await verifier.verifyAsync(chain, NONE, options)).valid === true; } finally { verifier.free(); }
      },
    };
  },
  // The same with `verify`: both signatures checked by the core in wasm (no wide multiplication).
  'chainproof, software only'(fx) {
    const chain = concat(fx.certs);
    const options = { at: fx.at };
    return {
      sync: true,
      run: () => {
        const verifier = Verifier.fromAnchors(fx.root, NONE);
        try { return verifier.verify(chain, NONE, options).valid === true; } finally { verifier.free(); }
      },
    };
  },
  // The page's Verifier kept across operations on the same chain: both signatures are
  // remembered, so this is a repeat check (or a gateway's steady state), not a full validation;
  // shown for scale, not used for the ratios.
  'chainproof (Verifier kept, same chain)'(fx) {
    const verifier = Verifier.fromAnchors(fx.root, NONE);
    const chain = concat(fx.certs);
    const options = { at: fx.at };
    return { sync: false, run: async () => (await verifier.verifyAsync(chain, NONE, options)).valid === true };
  },
  // PKI.js: CertificateChainValidationEngine (path building, signatures, validity, basic
  // constraints, key usage) with its WebCrypto engine; the device certificate goes last.
  pkijs(fx) {
    const root = pkijs.Certificate.fromBER(fx.root);
    const checkDate = new Date(fx.at * 1000);
    return {
      sync: false,
      run: async () => {
        const certs = fx.certs.map((d) => pkijs.Certificate.fromBER(d)).reverse();
        const engine = new pkijs.CertificateChainValidationEngine({ trustedCerts: [root], certs, checkDate });
        try { return (await engine.verify()).result === true; } catch { return false; }
      },
    };
  },
  // @peculiar/x509: X509ChainBuilder (finds each issuer and checks the link's signature with
  // WebCrypto), then the chain must end at the trusted root and every certificate be within its
  // validity at the time.
  'peculiar-x509'(fx) {
    const root = new x509.X509Certificate(fx.root);
    const date = new Date(fx.at * 1000);
    return {
      sync: false,
      run: async () => {
        const [leaf, ...rest] = fx.certs.map((d) => new x509.X509Certificate(d));
        let chain;
        try {
          chain = await new x509.X509ChainBuilder({ certificates: [...rest, root] }).build(leaf);
        } catch { return false; }
        if (chain.length !== fx.certs.length + 1 || !chain[chain.length - 1].equal(root)) return false;
        return chain.every((c) => c.notBefore <= date && date <= c.notAfter);
      },
    };
  },
};

let chains = {};

/** Decode the fixtures ({name: {root, certs, at}} with base64 DER) and load the module. */
async function setup(fixtures) {
  await init();
  chains = Object.fromEntries(Object.entries(fixtures).map(([name, fx]) => [name, {
    root: b64(fx.root), certs: fx.certs.map(b64), at: fx.at,
  }]));
  return Object.keys(PEERS);
}

/** One run of a peer on a chain, counting WebCrypto signature checks. */
async function once(peer, fx) {
  const subtle = globalThis.crypto.subtle;
  const verify = subtle.verify;
  let calls = 0;
  subtle.verify = function counted(...args) { calls += 1; return verify.apply(this, args); };
  try {
    const { run } = PEERS[peer](fx);
    return { valid: await run(), webcryptoVerifies: calls };
  } finally {
    delete subtle.verify;
  }
}

/**
 * Before timing: the peer accepts the chain, and rejects it with one byte of the device
 * certificate's signature changed (so it really checks signatures).
 */
async function check(chainName, peer) {
  const fx = chains[chainName];
  const good = await once(peer, fx);
  const leaf = fx.certs[0].slice();
  leaf[leaf.length - 1] ^= 0x01;
  const bad = await once(peer, { ...fx, certs: [leaf, ...fx.certs.slice(1)] });
  return { valid: good.valid, rejectsCorrupted: bad.valid === false, webcryptoVerifies: good.webcryptoVerifies };
}

/** Milliseconds per operation over `k` back-to-back operations. */
async function batch({ run, sync }, k) {
  const t0 = performance.now();
  if (sync) {
    for (let i = 0; i < k; i++) if (!run()) throw new Error('a timed run was not valid');
  } else {
    for (let i = 0; i < k; i++) if (!(await run())) throw new Error('a timed run was not valid');
  }
  return (performance.now() - t0) / k;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/**
 * Time every peer on one chain. Batches are long enough (`minBatchMs`) that the timer's
 * coarseness (100 µs without cross-origin isolation) does not matter; the peers take turns
 * batch by batch, so background load on the machine falls on all of them alike.
 */
async function measure(chainName, peers, { samples = 31, minBatchMs = 40, warmupMs = 300 } = {}) {
  const fx = chains[chainName];
  const runners = peers.map((p) => ({ peer: p, runner: PEERS[p](fx), times: [] }));
  for (const r of runners) {
    const until = performance.now() + warmupMs;
    while (performance.now() < until) await batch(r.runner, 1);
    let k = 1;
    while (await batch(r.runner, k) * k < minBatchMs) k *= 2;
    r.k = k;
  }
  for (let s = 0; s < samples; s++) {
    for (const r of runners) r.times.push(await batch(r.runner, r.k));
  }
  return runners.map(({ peer, k, times }) => {
    const sorted = times.slice().sort((a, b) => a - b);
    const ns = (ms) => Math.round(ms * 1e6);
    return {
      peer, batch: k, samples: times.length,
      median_ns: ns(quantile(sorted, 0.5)), p25_ns: ns(quantile(sorted, 0.25)), p75_ns: ns(quantile(sorted, 0.75)),
    };
  });
}

globalThis.chainproofBench = { setup, check, measure };
document.getElementById('status').textContent = 'ready';
