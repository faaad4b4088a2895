'use strict';
/** Jest transform: compiles an ES module of node_modules to CommonJS (see jest.config.js). */
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const { code } = transformSync(source, {
      loader: 'js',
      format: 'cjs',
      target: 'node20',
      sourcefile: filename,
      sourcemap: 'inline',
    });
    return { code };
  },
};
