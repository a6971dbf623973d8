// npm run config:docs: regenerates docs/configuration.md's tables and .env.example from the schema.
import { writeConfigDocs } from '../dist/config/config-docs.js';

const changed = writeConfigDocs();
console.log(
  changed.length ? `Updated ${changed.join(' and ')}` : 'docs/configuration.md and .env.example are up to date',
);
