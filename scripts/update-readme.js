#!/usr/bin/env node
'use strict';
// Rewrites the README's environment table from src/config/variables.ts (run after `make build`).
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { variablesMarkdownTable } = require('../dist/src/config/variables.js');

const readme = join(__dirname, '..', 'README.md');
const begin = '<!-- env-table:begin (generated from src/config/variables.ts by scripts/update-readme.js) -->';
const end = '<!-- env-table:end -->';
const text = readFileSync(readme, 'utf8');
const from = text.indexOf(begin);
const to = text.indexOf(end);
if (from < 0 || to < from) throw new Error('README.md has no env-table markers');
writeFileSync(readme, `${text.slice(0, from + begin.length)}\n${variablesMarkdownTable()}${text.slice(to)}`);
