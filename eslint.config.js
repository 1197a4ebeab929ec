// Lint, plus the layering rules of the design: each folder is a runtime environment and may
// import only from the folders below it (renderer → API contract ← electron → sessions → core).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import vue from 'eslint-plugin-vue';
import globals from 'globals';

const nodeBuiltins = { group: ['node:*', 'fs', 'path', 'os', 'child_process', 'worker_threads', 'http', 'net', 'crypto', 'url', 'zlib', 'stream'], message: 'core/ and renderer/ are pure: no Node imports.' };
const noElectron = { regex: '^electron(/|$)', message: 'Only electron/main and electron/preload may import Electron.' };
const layer = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'playwright-report/**', 'artifacts/**', '.tmp/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'] } },
  },
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
    },
  },
  {
    files: ['core/**/*.ts'],
    ignores: ['core/**/*.test.ts'],
    rules: layer([nodeBuiltins, noElectron, { group: ['**/sessions/**', '**/electron/**', '**/renderer/**'], message: 'core/ depends on nothing else in the project.' }]),
  },
  {
    files: ['sessions/**/*.ts'],
    rules: layer([noElectron, { group: ['**/electron/**', '**/renderer/**'], message: 'sessions/ depends only on core/.' }]),
  },
  {
    files: ['electron/api/**/*.ts'],
    rules: layer([nodeBuiltins, noElectron, { group: ['**/sessions/**', '**/renderer/**', '**/host/**', '**/main/**'], message: 'The API contract is pure: zod and core definitions only.' }]),
  },
  {
    files: ['electron/host/**/*.ts'],
    rules: layer([noElectron, { group: ['**/renderer/**', '**/main/**', '**/preload/**'], message: 'The host is shared by Electron, the browser host and the CLI: no Electron, no renderer.' }]),
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.vue'],
    languageOptions: { globals: { ...globals.browser } },
    rules: layer([nodeBuiltins, noElectron, { group: ['**/core/**', '**/sessions/**', '**/host/**', '**/main/**', '**/preload/**'], message: 'The renderer talks to the host only through electron/api.' }]),
  },
);
