// Assemble the page's generated parts: the QR library from node_modules into vendor/ (no CDN),
// and with `--demo-policy DEMO_DIR` a demo trust policy in policy/ from `chainproof fixtures`'
// demo fleet. The module itself (pkg/) is written by wasm-bindgen (`cargo xtask test`).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Copy the vendored QR code generator into web/vendor/. */
export function vendor() {
  mkdirSync(join(web, 'vendor'), { recursive: true });
  copyFileSync(join(web, 'node_modules/qrcode-generator/dist/qrcode.mjs'), join(web, 'vendor/qrcode.mjs'));
}

/** The demo policy: the demo root as the one enrollment group, the manufacturing CA's CRL. */
export const DEMO_POLICY = `# Demo trust policy generated from chainproof's test fixtures (docs/policy.md).
# A deployer replaces this folder with the manufacturer's policy and lists its files in
# manifest.json.
version = 1

[[group]]
id = "acme-devices"
anchors_file = "root.pem"
device_id_pattern = "sensor-*"
route = "telemetry"
tags = ["demo"]

[revocation]
crl_files = ["crl.pem"]
`;

/** Write policy.toml, manifest.json and the files it names into `out` from a demo fleet dir. */
export function writeDemoPolicy(demoDir, out) {
  mkdirSync(out, { recursive: true });
  copyFileSync(join(demoDir, 'root.pem'), join(out, 'root.pem'));
  copyFileSync(join(demoDir, 'crl.pem'), join(out, 'crl.pem'));
  writeFileSync(join(out, 'policy.toml'), DEMO_POLICY);
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ policy: 'policy.toml', files: ['root.pem', 'crl.pem'] }, null, 2)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  vendor();
  const i = process.argv.indexOf('--demo-policy');
  if (i > 0) writeDemoPolicy(process.argv[i + 1], join(web, 'policy'));
}
