// Run by `pnpm test` before the tests: brings the programs the end-to-end tests run
// (prometheus and promtool: Debian package `prometheus`; chromium for the landing-page
// test) when they are missing and this is Debian as root, as a fresh CI machine is.
// Elsewhere it says in one line what is missing and how to get it; the prometheus and
// promtool tests then say so too (test/helpers/tools.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const onPath = (program) =>
  (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir || '.', program), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

const PACKAGE_OF = { prometheus: 'prometheus', promtool: 'prometheus', chromium: 'chromium' };
const missing = Object.keys(PACKAGE_OF).filter((p) => !onPath(p));
const packages = [...new Set(missing.map((p) => PACKAGE_OF[p]))];
if (missing.length > 0) {
  const debianRoot = process.getuid?.() === 0 && fs.existsSync('/etc/debian_version') && onPath('apt-get');
  if (debianRoot) {
    console.log(`== installing Debian packages ${packages.join(' ')} (${missing.join(', ')}: for the end-to-end tests)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const run = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
    if (!run(['update', '-qq']) || !run(['install', '-y', '-qq', '--no-install-recommends', ...packages])) {
      console.log(`== apt-get install ${packages.join(' ')} failed: the tests that need them will fail or say so`);
    }
  } else {
    console.log(
      `== ${missing.join(', ')} not installed, and this is not Debian with apt-get as root to install them: the tests that need them will say so. ` +
        `Get them with \`apt-get install ${packages.join(' ')}\` (Debian/Ubuntu); prometheus and promtool also from https://prometheus.io/download/`,
    );
  }
}
