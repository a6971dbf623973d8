// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'client/dist/', 'node_modules/', 'coverage/', 'bench/results/', 'eslint.config.mjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // The wire protocol depends on nothing: services, the SDK and the page import their wire types from it.
    files: ['src/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./)',
              message: 'src/protocol/ imports only its own files: define the wire type here.',
            },
          ],
        },
      ],
    },
  },
  {
    // The SDK takes only its wire types from the service, with `import type`: nothing is bundled.
    files: ['client/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+src/(?!protocol/)',
              message: 'The SDK imports from the service only the wire types of src/protocol/.',
            },
            {
              regex: '^(\\.\\./)+src/protocol/',
              allowTypeImports: true,
              message: 'Types only (import type): the SDK bundles nothing of the service.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['public/**/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'module' },
  },
  {
    files: [
      'bench/**/*.js',
      'bench/**/*.mjs',
      'client/scripts/**/*.mjs',
      'examples/**/*.js',
      'examples/**/*.mjs',
      'scripts/**/*.js',
      'scripts/**/*.mjs',
      'test/support/**/*.mjs',
      '*.js',
    ],
    languageOptions: { globals: globals.node },
  },
);
