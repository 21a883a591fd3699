// ESLint for the project (run by `npm run lint` / `make lint` from the repository root). typescript-eslint
// with type information: the strict type-checked rules, minus those that fight the project's style (each
// turned off below says why).
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'tools/**', '.tools/**', '.build/**', 'src/policysync/gen/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: join(root, 'tsconfig.json'), tsconfigRootDir: root },
    },
    rules: {
      // Numbers and booleans in messages print as expected; objects and nullish values still may not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowRegExp: true }],
      // node:test's test/it/describe return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      // `(x) => void f(x)` is the project's way to say "a callback whose result is dropped".
      // ... and `return f()` in a function that returns nothing is an early exit, not a value.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidOperator: true, ignoreVoidReturningFunctions: true }],
      // Caught errors and abort reasons are typed `unknown` but are Errors; rejecting with them is fine.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
      // `const { dropped: _x, ...rest } = o` is how a key is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, varsIgnorePattern: '^_', argsIgnorePattern: '^_' }],
      // Protobuf enums are wire numbers: the encoders and tests write Felix's numbers (FELIX-PROTOCOL.md),
      // including ones no enum names (an unknown route type must be refused, so tests send one).
      '@typescript-eslint/no-unsafe-enum-assignment': 'off',
      // Ports return promises; their in-memory fakes answer at once with `async` methods that await nothing.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests, benchmarks and the demo: a failed non-null assertion or a detached method fails the run
    // loudly, which is what a test wants; destructured `close()` helpers are plain closures.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'demo/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Parsed YAML and JSON (the chart's output, the seed manifest, buildah's image config) has no type
    // until a test asserts its shape.
    files: ['test/chart/**/*.ts', 'test/image/**/*.ts', 'test/unit/seed-manifest.test.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
