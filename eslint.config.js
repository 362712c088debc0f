import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Architecture boundaries (docs/architecture.md, "Layout") are enforced with no-restricted-imports.
const onlySdk = {
  patterns: [
    {
      group: [
        '**/src/engine/**',
        '**/src/outbox/**',
        '**/src/runtime/**',
        '**/src/cli/**',
        '**/src/config/**',
        '**/src/registry/**',
      ],
      message: 'Connectors and transforms import only src/sdk and their own client library.',
    },
  ],
  paths: [{ name: 'bullmq', message: 'Only src/outbox imports bullmq.' }],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.bench/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.name='eval']", message: 'No eval: use the expression language.' },
      ],
    },
  },
  {
    // The status page's script runs in the browser.
    files: ['src/runtime/console/assets/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        window: 'readonly',
        fetch: 'readonly',
        sessionStorage: 'readonly',
        URLSearchParams: 'readonly',
        confirm: 'readonly',
        uPlot: 'readonly',
        ResizeObserver: 'readonly',
      },
    },
  },
  {
    files: ['connectors/**/*.ts', 'src/transforms/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', onlySdk] },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/connectors/**'], message: 'The engine never imports connectors.' }],
          paths: [{ name: 'bullmq', message: 'Only src/outbox imports bullmq.' }],
        },
      ],
    },
  },
  {
    // Ticks of scheduled pipelines are BullMQ job schedulers (docs/scheduling.md).
    files: ['src/engine/schedule/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/connectors/**'], message: 'The engine never imports connectors.' }] },
      ],
    },
  },
  {
    files: [
      'src/sdk/**/*.ts',
      'src/config/**/*.ts',
      'src/runtime/**/*.ts',
      'src/cli/**/*.ts',
      'src/registry/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'bullmq', message: 'Only src/outbox imports bullmq.' }] },
      ],
    },
  },
);
