// Shared by the browser tests and the parity test: the CLI binary, generated fixtures, a static
// server for the page, the device simulator, and Debian's chromium through playwright-core.
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDemoPolicy } from '../scripts/build.mjs';

export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(WEB, '..');
export const BIN = process.env.CHAINPROOF_BIN ?? join(ROOT, 'target/debug/chainproof');
export const ARTIFACTS = process.env.WEB_ARTIFACTS ?? join(ROOT, 'target/web-artifacts');

/** Run the CLI; returns {status, stdout}. A non-zero exit is a result here, not an error. */
export function cli(args) {
  try {
    return { status: 0, stdout: execFileSync(BIN, args, { encoding: 'utf8' }) };
  } catch (e) {
    if (typeof e.status !== 'number') throw e;
    return { status: e.status, stdout: e.stdout };
  }
}

/** `--engine native` when the CLI has engines, so the parity is with the native core. */
export function engineArgs() {
  return cli(['verify', '--help']).stdout.includes('--engine') ? ['--engine', 'native'] : [];
}

/** Fixtures (`chainproof fixtures`) valid now, and the demo policy written from them. */
export function makeFixtures() {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build chainproof-gateway first`);
  const dir = mkdtempSync(join(tmpdir(), 'chainproof-web-'));
  cli(['fixtures', '--out', join(dir, 'fx')]);
  const policy = join(dir, 'policy');
  writeDemoPolicy(join(dir, 'fx/demo'), policy);
  return { dir, fx: join(dir, 'fx'), demo: join(dir, 'fx/demo'), policy };
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm',
  '.toml': 'text/plain; charset=utf-8', '.pem': 'application/x-pem-file', '.ts': 'text/plain',
};

/** Serve web/ with /policy/ taken from `policyDir`. Resolves to {url, close}. */
export function serveSite(policyDir) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const [base, rel] = path.startsWith('/policy/') ? [policyDir, path.slice(8)] : [WEB, path.slice(1) || 'index.html'];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
    createReadStream(file).pipe(res);
  });
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((done) => { for (const s of sockets) s.destroy(); server.close(done); }),
  })));
}

/** Start `chainproof device serve`; resolves to {url, stop} once it prints its address. */
export function startDevice({ cert, key, chain }) {
  const args = ['device', 'serve', '--cert', cert, '--key', key, '--listen', '127.0.0.1:0'];
  if (chain) args.push('--chain', chain);
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) ok({ url: m[1], stop: () => child.kill() });
    });
    child.on('exit', (code) => fail(new Error(`device serve exited ${code}: ${out}`)));
  });
}

/** Debian's chromium with the flags from shared/TOOLCHAIN.md and a fresh profile. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'chainproof-chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
