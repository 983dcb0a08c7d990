// Tests that need a program this machine may lack (prometheus, promtool). `pnpm test`
// installs them where it can (install-test-tools.mjs); where it could not, such a test
// says in one line what is missing and how to get it and is skipped, except in CI (env
// CI set): there it runs and fails with that line, so nothing is skipped unnoticed.
import fs from 'node:fs';
import path from 'node:path';
import { it, type TestFunction } from 'vitest';

const HOW_TO_GET: Record<string, string> = {
  prometheus: 'Debian/Ubuntu: apt-get install prometheus; elsewhere: https://prometheus.io/download/',
  promtool: 'Debian/Ubuntu: apt-get install prometheus (it brings promtool); elsewhere: https://prometheus.io/download/',
};

export function isOnPath(program: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir || '.', program), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** One line naming the missing programs and how to get them, or undefined if all are there. */
export function missingTools(programs: string[]): string | undefined {
  const missing = programs.filter((p) => !isOnPath(p));
  if (missing.length === 0) return undefined;
  const how = missing.map((p) => `${p}: ${HOW_TO_GET[p] ?? 'install it'}`).join('; ');
  return `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed (${how})`;
}

/** `it` for a test that runs `programs`: see the file comment for what happens without them. */
export function itWithTools(programs: string[]) {
  return (name: string, fn: TestFunction, timeout?: number) => {
    const missing = missingTools(programs);
    if (missing && !process.env.CI) {
      console.warn(`skipped "${name}": ${missing}`);
      return it.skip(`${name} (skipped: ${missing})`, fn, timeout);
    }
    return it(name, (ctx) => {
      if (missing) throw new Error(`cannot run this test: ${missing}`);
      return fn(ctx);
    }, timeout);
  };
}
