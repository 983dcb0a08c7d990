// Preloaded with `node --import`: prints the URL of every module the process loads
// through the ES module loader ("loaded <url>", on stderr), built-ins and CommonJS
// packages imported from ES modules included.
import { register } from 'node:module';

const hooks = `export async function load(url, context, next) {
  process.stderr.write('loaded ' + url + '\\n');
  return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
