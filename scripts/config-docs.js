// npm run config:docs: regenerates the README's configuration table and .env.example from the schema.
import { writeConfigDocs } from '../dist/config/config-docs.js';

const changed = writeConfigDocs();
console.log(
  changed.length ? `Updated ${changed.join(' and ')}` : 'README.md and .env.example are up to date',
);
