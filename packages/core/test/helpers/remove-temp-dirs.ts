// Set-up file of every test file (vitest.config.ts): the temp dirs a file made through
// tempDir() go when the file ends, passed or failed, so a run leaves none behind in /tmp.
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp-dirs.js';

afterAll(removeTempDirs);
