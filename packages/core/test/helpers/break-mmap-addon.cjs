// Preloaded with `node -r`: makes the mmap addon fail to load, as an unbuilt addon does.
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === '@riaskov/mmap-io') throw new Error("Cannot find module 'mmap_io.node' (simulated unbuilt addon)");
  return load.call(this, request, ...rest);
};
