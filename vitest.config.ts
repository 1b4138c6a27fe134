import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (main) and ESM (module) builds without an exports map: Node loads the CJS one for
    // Apollo, Vite would pick the ESM one for our sources. One copy, as in production, keeps `instanceof` honest.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file starts its own server on its own database, so files run in parallel safely.
    fileParallelism: true,
    reporters: ['default'],
  },
});
