// The CommonJS build's package-require.ts (see there): a CommonJS module has require itself.
export const packageRequire: NodeJS.Require = require;
