// node validate.mjs RENDERED.yaml...  — schema-validates every object of each file (the output of
// `kubectl kustomize deploy/overlays/NAME`); exit 1 with one line per problem.
import {readFileSync} from "node:fs";
import {parseAllDocuments} from "yaml";
import {validateObject} from "./schema.mjs";

let problems = 0;
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  let objects = 0;
  for (const doc of docs) {
    if (doc.errors.length) {
      console.log(`${file}: YAML: ${doc.errors[0].message}`);
      problems++;
      continue;
    }
    const object = doc.toJS();
    if (object === null) continue;
    objects++;
    for (const e of await validateObject(object)) {
      console.log(`${file}: ${e}`);
      problems++;
    }
  }
  console.log(`${file}: ${objects} objects checked against the schemas`);
}
process.exit(problems ? 1 : 0);
