// npm run docs:config: rewrites docs/configuration.md from the schema.
import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../src/config/reference.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigReference());
