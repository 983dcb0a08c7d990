// Bundles the module with everything it runs (the core collector, proper-lockfile, tdigest)
// into dist/, so the packed tarball has no dependencies: `pm2 install ./x.tgz` runs
// `npm install` on it, which can neither fetch our unpublished core nor needs the network.
// PM2 itself is not bundled: the module loads the PM2 that runs it (src/pm2.ts). The mmap
// addon and its loader are not bundled either: the collector only read()s files, and core
// loads the addon lazily, only when a process writes metrics (checked below).
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const here = new URL('.', import.meta.url);
fs.rmSync(new URL('dist', here), { recursive: true, force: true });
const result = await build({
  entryPoints: { module: 'src/module.ts', index: 'src/index.ts' },
  absWorkingDir: here.pathname,
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // CommonJS dependencies call require() for node's built-ins; an ES module has none.
  banner: { js: "import { createRequire as __pmpCreateRequire } from 'node:module';\nconst require = __pmpCreateRequire(import.meta.url);" },
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
const inputs = Object.keys(result.metafile.inputs);
const native = inputs.filter((f) => /node-gyp-build|\.node$|native\/mmap/.test(f));
if (native.length > 0) throw new Error(`the bundle must not contain the mmap addon: ${native.join(', ')}`);
// Core loads its collector side on first use through literal require()s (lazy/heavy-modules.js),
// which esbuild follows: the collector must be in the bundle, not looked for at run time.
if (!inputs.some((f) => f.endsWith('collect/collector.js'))) throw new Error('the bundle must contain core\'s collector (lazy/heavy-modules.js)');

// The bundled packages' licenses travel with the bundle.
const packages = new Map();
for (const input of inputs) {
  const match = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
  // By folder: two versions of one package (signal-exit 3 and 4) are both bundled.
  if (match) packages.set(path.resolve(here.pathname, match[1]), match[2]);
}
let notices = 'Third-party packages bundled into dist/ by build.mjs, with their licenses.\n';
for (const [dir, name] of [...packages].sort((a, b) => (a[1] + a[0] < b[1] + b[0] ? -1 : 1))) {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const licenseFile = fs.readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
  const text = licenseFile ? fs.readFileSync(path.join(dir, licenseFile), 'utf8').trim() : `License: ${pkg.license ?? 'see the package'}`;
  notices += `\n${'='.repeat(78)}\n${name}@${pkg.version} (${pkg.license ?? 'unknown'})\n${'='.repeat(78)}\n${text}\n`;
}
fs.writeFileSync(new URL('dist/THIRD_PARTY_LICENSES.txt', here), notices);

for (const [file, out] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith('.js')) console.log(`${file}: ${(out.bytes / 1024).toFixed(0)} KiB`);
}
