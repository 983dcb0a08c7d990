// require() relative to this package, for the native addon it depends on. The CommonJS
// build has no import.meta: tshy compiles package-require-cjs.cts in its place there,
// and type-checks this file as CommonJS too, hence the ts-ignore.
import { createRequire } from 'node:module';

// An app bundled to CommonJS from our ES module build (esbuild, format 'cjs') has no
// import.meta.url: the bundle's own file stands in, as the place to resolve from.
// @ts-ignore TS1470 in the CommonJS pass; this file is only emitted in the ESM build
export const packageRequire: NodeJS.Require = createRequire(import.meta.url ?? __filename);
