// Validate an AsyncAPI document with the official parser (@asyncapi/parser, installed from the
// npm registry into docs/node_modules by `make docs-deps`).
//
//   node docs/asyncapi/validate.mjs path/to/asyncapi.yaml
//
// Relative $refs (./schemas/...) are resolved against the file's folder. Every diagnostic is
// printed; the exit status is 1 when the parser reports an error or a warning, or cannot
// produce a document, so `make test` fails on any finding.
import { Parser, fromFile } from '@asyncapi/parser';

const SEVERITY = ['error', 'warning', 'information', 'hint'];

const source = process.argv[2];
if (!source) {
  console.error('usage: node validate.mjs <asyncapi document>');
  process.exit(2);
}

const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, source).parse();
let failures = 0;
for (const diagnostic of diagnostics) {
  const level = SEVERITY[diagnostic.severity] ?? String(diagnostic.severity);
  const where = (diagnostic.path ?? []).join('/');
  console.log(`${level}: ${diagnostic.code}: ${diagnostic.message} (at /${where})`);
  if (diagnostic.severity <= 1) failures += 1;
}
if (!document) {
  console.error(`${source}: the parser produced no document`);
  process.exit(1);
}
if (failures > 0) {
  console.error(`${source}: ${failures} error(s)/warning(s)`);
  process.exit(1);
}
const channels = document.channels().length;
const operations = document.operations().length;
const messages = document.allMessages().length;
console.log(
  `${source}: valid AsyncAPI ${document.version()} ` +
    `(${channels} channels, ${operations} operations, ${messages} messages)`,
);
