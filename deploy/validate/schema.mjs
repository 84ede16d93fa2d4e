// Schema validation of rendered Kubernetes objects with the npm package kubernetes-models (built-in
// kinds) and @kubernetes-models/keda (ScaledObject), offline: the schemas ship inside the packages.
//
// Their validators check types, enums, required fields and formats but accept unknown fields (the
// OpenAPI schemas they are generated from have no additionalProperties: false). Unknown fields are
// caught here by watching the validator: it reads exactly the properties its schema declares (and
// every key of a map-typed field), so a key the validator never read is not in the schema — a typo
// such as `readinesProbe` or a field at the wrong level.

const packages = {"keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1"};

async function modelClass(apiVersion, kind) {
  const dir = packages[apiVersion] ?? `kubernetes-models/${apiVersion}`;
  try {
    const module = await import(`${dir}/${kind}`);
    return module[kind];
  } catch {
    return undefined;
  }
}

// A view of `value` that records which own keys of each object are read.
function watched(value, path, records) {
  if (value === null || typeof value !== "object") return value;
  const read = new Set();
  const children = new Map();
  records.push({path, value, read});
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === "string" && Object.prototype.hasOwnProperty.call(target, key)) {
        read.add(key);
        if (!children.has(key)) children.set(key, watched(target[key], `${path}/${key}`, records));
        return children.get(key);
      }
      return Reflect.get(target, key, receiver);
    },
  });
}

// Returns a list of error strings for one object ([] when it is valid).
export async function validateObject(object) {
  const where = `${object?.kind ?? "?"}/${object?.metadata?.name ?? "?"}`;
  if (!object?.apiVersion || !object?.kind) return [`${where}: no apiVersion or kind`];
  const Model = await modelClass(object.apiVersion, object.kind);
  if (!Model) return [`${where}: no schema for ${object.apiVersion} ${object.kind}`];
  const records = [];
  const errors = [];
  try {
    Model.prototype.validate.call(watched(object, "", records));
  } catch (e) {
    // One line per schema error (ValidationError.errors: ajv's list, localized by the package).
    const list = Array.isArray(e.errors) ? e.errors : [];
    if (!list.length) errors.push(`${where}: ${e.message}`);
    for (const err of list) errors.push(`${where}: data${err.instancePath} ${err.message}`);
  }
  for (const {path, value, read} of records) {
    if (Array.isArray(value)) continue;
    for (const key of Object.keys(value)) {
      if (!read.has(key)) errors.push(`${where}: unknown field ${path}/${key}`);
    }
  }
  return errors;
}
