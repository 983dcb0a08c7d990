// Preloaded with `node -r`: no mmap binary loads, as on a platform without a prebuilt
// binary and without a source build (node-gyp-build's own error).
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'node-gyp-build') {
    return () => {
      throw new Error('No native build was found for platform=linux arch=x64 runtime=node abi=115 uv=1 libc=glibc node=20.20.2 (simulated)');
    };
  }
  return load.call(this, request, ...rest);
};
