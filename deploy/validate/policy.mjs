// Cross-checks and policies over one rendered overlay (what a schema cannot say):
//   node policy.mjs RENDERED.yaml OVERLAY [--bin NAME=PATH]...
// - selectors ↔ labels: workload selectors match their pod templates; every Service, NetworkPolicy
//   peer, PodDisruptionBudget and scale target finds what it names;
// - probe ports ↔ container ports, Service targetPorts ↔ the selected pods' ports;
// - flags ↔ the binaries' --help (with --bin), $(VAR) references ↔ the container's environment;
// - every pod non-root, read-only root filesystem, no privilege escalation, all capabilities
//   dropped; requests and limits set; startup and gRPC readiness probes; image tags pinned;
//   every pod selected by a NetworkPolicy besides the default deny;
// - what the overlay promises (gpu: one nvidia.com/gpu per worker, tolerations, read-only weights;
//   ha: >= 2 gateways on PostgreSQL with the DSN from a Secret, a PDB, anti-affinity).
import {execFileSync} from "node:child_process";
import {readFileSync} from "node:fs";
import {parseAllDocuments} from "yaml";

// Flags the manifests use that a branch not yet merged adds (shown, not failed, while --help lacks
// them); empty when every branch is in.
const PENDING_FLAGS = {};
// Secrets the operator creates (deploy/README.md); everything else a manifest names must be rendered.
const EXTERNAL_SECRETS = new Set(["reel-tokens", "reel-worker-token", "reel-postgres"]);

const [file, overlay, ...rest] = process.argv.slice(2);
const bins = {};
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === "--bin") {
    const [name, path] = rest[++i].split("=");
    bins[name] = path;
  }
}
const objects = parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS()).filter(Boolean);
const problems = [];
const notes = [];
const fail = (where, what) => problems.push(`${where}: ${what}`);
const name = (o) => `${o.kind}/${o.metadata.name}`;
const ofKind = (...kinds) => objects.filter((o) => kinds.includes(o.kind));

const workloads = ofKind("Deployment", "StatefulSet", "DaemonSet", "Job");
const pods = workloads.map((w) => ({owner: w, labels: w.spec.template.metadata?.labels ?? {}, spec: w.spec.template.spec}));

// A LabelSelector (matchLabels + matchExpressions) or a plain map (Service.spec.selector).
function matches(selector, labels) {
  if (!selector) return false;
  const plain = !("matchLabels" in selector) && !("matchExpressions" in selector);
  const matchLabels = plain ? selector : selector.matchLabels ?? {};
  for (const [k, v] of Object.entries(matchLabels)) if (labels[k] !== v) return false;
  for (const e of plain ? [] : selector.matchExpressions ?? []) {
    const has = e.key in labels;
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}
const selectedPods = (selector) => pods.filter((p) => matches(selector, p.labels));
const isEmptySelector = (s) => !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);

// --- selectors ↔ labels
for (const w of workloads) {
  if (!matches(w.spec.selector, w.spec.template.metadata?.labels ?? {})) fail(name(w), "selector does not match its pod template's labels");
  if (w.kind === "StatefulSet" && !ofKind("Service").some((s) => s.metadata.name === w.spec.serviceName && s.spec.clusterIP === "None")) {
    fail(name(w), `serviceName ${w.spec.serviceName} is not a headless Service here`);
  }
}
for (const s of ofKind("Service")) {
  const selected = selectedPods(s.spec.selector);
  if (!selected.length) fail(name(s), "selects no pod");
  for (const port of s.spec.ports ?? []) {
    const target = port.targetPort ?? port.port;
    for (const p of selected) {
      const ok = p.spec.containers.some((c) => (c.ports ?? []).some((cp) => cp.name === target || cp.containerPort === target));
      if (!ok) fail(name(s), `targetPort ${target} is not a port of ${name(p.owner)}`);
    }
  }
}
for (const np of ofKind("NetworkPolicy")) {
  if (!isEmptySelector(np.spec.podSelector) && !selectedPods(np.spec.podSelector).length) fail(name(np), "podSelector selects no pod");
  for (const rule of [...(np.spec.ingress ?? []).flatMap((r) => r.from ?? []), ...(np.spec.egress ?? []).flatMap((r) => r.to ?? [])]) {
    if (rule.podSelector && !rule.namespaceSelector && !isEmptySelector(rule.podSelector) && !selectedPods(rule.podSelector).length) {
      fail(name(np), `peer podSelector ${JSON.stringify(rule.podSelector)} selects no pod`);
    }
  }
}
for (const pdb of ofKind("PodDisruptionBudget")) if (!selectedPods(pdb.spec.selector).length) fail(name(pdb), "selects no pod");
for (const scaler of ofKind("HorizontalPodAutoscaler", "ScaledObject")) {
  const ref = scaler.spec.scaleTargetRef;
  if (!workloads.some((w) => w.kind === (ref.kind ?? "Deployment") && w.metadata.name === ref.name)) fail(name(scaler), `scale target ${ref.kind}/${ref.name} is not here`);
}
for (const p of pods) {
  const policies = ofKind("NetworkPolicy").filter((np) => !isEmptySelector(np.spec.podSelector) && matches(np.spec.podSelector, p.labels));
  if (!policies.length) fail(name(p.owner), "no NetworkPolicy of its own selects its pods");
}
if (!ofKind("NetworkPolicy").some((np) => isEmptySelector(np.spec.podSelector) && (np.spec.policyTypes ?? []).includes("Ingress"))) {
  fail(overlay, "no default-deny NetworkPolicy");
}

// --- per pod and container
const claims = new Set(ofKind("PersistentVolumeClaim").map((c) => c.metadata.name));
const configMaps = new Map(ofKind("ConfigMap").map((c) => [c.metadata.name, c]));
const helpCache = {};
function run(binary, flag) {
  try {
    return execFileSync(bins[binary], [flag], {encoding: "utf8", stdio: ["ignore", "pipe", "pipe"]});
  } catch (e) {
    return `${e.stdout ?? ""}${e.stderr ?? ""}`;  // absl's --help exits 1
  }
}
// The flags a binary lists, one per indented line ("  --listen  ..." from reel's FlagSet,
// "    --listen (...)" from absl, whose --help shows only the main file's flags when the program
// is named like it, hence --helpfull); the usage line is not indented, so it does not count.
function help(binary) {
  if (!(binary in helpCache)) {
    let text = run(binary, "--help");
    if (text.includes("--helpfull")) text = run(binary, "--helpfull");
    helpCache[binary] = new Set([...text.matchAll(/^\s+(--[A-Za-z0-9_]+)/gm)].map((m) => m[1]));
  }
  return helpCache[binary];
}
for (const p of pods) {
  const where = name(p.owner);
  const psc = p.spec.securityContext ?? {};
  if (psc.runAsNonRoot !== true) fail(where, "pod securityContext.runAsNonRoot is not true");
  if (!(psc.runAsUser > 0)) fail(where, "pod securityContext.runAsUser is not a non-zero uid");
  if (p.spec.hostNetwork || p.spec.hostPID || p.spec.hostIPC) fail(where, "uses a host namespace");
  const volumes = new Map((p.spec.volumes ?? []).map((v) => [v.name, v]));
  for (const v of volumes.values()) {
    if (v.persistentVolumeClaim && !claims.has(v.persistentVolumeClaim.claimName)) fail(where, `volume ${v.name}: PVC ${v.persistentVolumeClaim.claimName} is not here`);
    if (v.secret && !EXTERNAL_SECRETS.has(v.secret.secretName)) fail(where, `volume ${v.name}: Secret ${v.secret.secretName} is not documented`);
    if (v.hostPath) fail(where, `volume ${v.name} is a hostPath`);
  }
  for (const c of [...(p.spec.initContainers ?? []), ...p.spec.containers]) {
    const cw = `${where} container ${c.name}`;
    const sc = c.securityContext ?? {};
    if (sc.runAsUser === 0 || sc.runAsNonRoot === false) fail(cw, "runs as root");
    if (sc.privileged) fail(cw, "is privileged");
    if (sc.allowPrivilegeEscalation !== false) fail(cw, "allowPrivilegeEscalation is not false");
    if (sc.readOnlyRootFilesystem !== true) fail(cw, "root filesystem is not read-only");
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) fail(cw, "does not drop ALL capabilities");
    if ((sc.capabilities?.add ?? []).length) fail(cw, `adds capabilities ${sc.capabilities.add}`);
    for (const kind of ["requests", "limits"]) {
      for (const r of ["cpu", "memory"]) if (!c.resources?.[kind]?.[r]) fail(cw, `resources.${kind}.${r} not set`);
    }
    // Pinned: a tag that is not "latest", or a digest.
    const image = c.image ?? "";
    const tag = image.includes("@") ? "digest" : image.slice(image.lastIndexOf("/") + 1).split(":")[1];
    if (!tag || tag === "latest") fail(cw, `image ${image} is not pinned to a tag or digest`);
    // Probes: a startup probe (model loading, store opening) and readiness on gRPC health.
    if (!c.startupProbe) fail(cw, "no startupProbe");
    if (!c.readinessProbe?.grpc) fail(cw, "readinessProbe is not a gRPC health check");
    const ports = c.ports ?? [];
    for (const probeName of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      const probe = c[probeName];
      if (!probe) continue;
      const port = probe.grpc?.port ?? probe.httpGet?.port ?? probe.tcpSocket?.port;
      if (port !== undefined && !ports.some((cp) => cp.containerPort === port || cp.name === port)) fail(cw, `${probeName} port ${port} is not a container port`);
    }
    for (const m of c.volumeMounts ?? []) {
      if (!volumes.has(m.name)) fail(cw, `mounts volume ${m.name}, which the pod does not have`);
    }
    // $(VAR) in command/args must be defined: env, or a key of a ConfigMap in envFrom.
    const env = new Set((c.env ?? []).map((e) => e.name));
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef) {
        const cm = configMaps.get(from.configMapRef.name);
        if (!cm) fail(cw, `envFrom ConfigMap ${from.configMapRef.name} is not here`);
        for (const k of Object.keys(cm?.data ?? {})) env.add(k);
      }
    }
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref && !EXTERNAL_SECRETS.has(ref.name)) fail(cw, `env ${e.name}: Secret ${ref.name} is not documented`);
    }
    const words = [...(c.command ?? []), ...(c.args ?? [])];
    for (const w of words) {
      for (const m of String(w).matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) if (!env.has(m[1])) fail(cw, `${w}: $(${m[1]}) is not in the container's environment`);
    }
    // Flags ↔ --help.
    const binary = (c.command ?? [])[0];
    if (binary && bins[binary]) {
      const listedFlags = help(binary);
      if (!listedFlags.size) fail(cw, `${binary} --help listed no flags`);
      for (const w of c.args ?? []) {
        const flag = String(w).match(/^(--[A-Za-z0-9_]+)/)?.[1];
        if (!flag) continue;
        if (listedFlags.has(flag)) continue;
        const pending = PENDING_FLAGS[binary]?.[flag];
        if (pending) notes.push(`${cw}: ${flag} is not in ${binary} --help yet: ${pending}`);
        else fail(cw, `${flag} is not a flag of ${binary} (its --help)`);
      }
    } else if (binary && Object.keys(bins).length) {
      fail(cw, `command ${binary} is not one of the checked binaries (${Object.keys(bins)})`);
    }
  }
}

// --- what each overlay promises
const workerSets = ofKind("StatefulSet").filter((s) => String(s.metadata.labels?.component).startsWith("worker"));
const gateway = ofKind("Deployment").find((d) => d.metadata.name === "reel-gateway");
if (!gateway) fail(overlay, "no reel-gateway Deployment");
if (overlay.startsWith("gpu")) {
  for (const s of workerSets) {
    const spec = s.spec.template.spec;
    const c = spec.containers[0];
    if (String(c.resources?.limits?.["nvidia.com/gpu"]) !== "1") fail(name(s), "not one nvidia.com/gpu per worker pod");
    if (!(spec.tolerations ?? []).some((t) => t.key === "nvidia.com/gpu")) fail(name(s), "no toleration for GPU nodes");
    if (!spec.nodeSelector) fail(name(s), "no GPU node selector");
    if (!/cuda/.test(c.image)) fail(name(s), `image ${c.image} is not the CUDA image`);
    const models = (spec.volumes ?? []).find((v) => v.name === "models");
    const mount = (c.volumeMounts ?? []).find((m) => m.name === "models");
    if (!models?.persistentVolumeClaim?.readOnly || !mount?.readOnly) fail(name(s), "model weights are not on a read-only volume");
  }
}
if (overlay === "ha" && gateway) {
  const spec = gateway.spec.template.spec;
  if (!(gateway.spec.replicas >= 2)) fail(name(gateway), "fewer than 2 replicas");
  if (gateway.spec.strategy?.type !== "RollingUpdate") fail(name(gateway), "not a RollingUpdate");
  if (!spec.affinity?.podAntiAffinity) fail(name(gateway), "no pod anti-affinity");
  if (!ofKind("PodDisruptionBudget").some((pdb) => matches(pdb.spec.selector, gateway.spec.template.metadata.labels))) fail(name(gateway), "no PodDisruptionBudget");
  const c = spec.containers[0];
  const dsn = (c.env ?? []).find((e) => (c.args ?? []).includes(`--store=$(${e.name})`));
  if (!dsn?.valueFrom?.secretKeyRef) fail(name(gateway), "--store is not given a DSN from a Secret");
  if (spec.volumes.some((v) => v.persistentVolumeClaim?.claimName === "reel-jobs")) fail(name(gateway), "still on the SQLite volume");
}
if (!overlay.startsWith("gpu") && overlay !== "ha" && gateway && gateway.spec.replicas !== 1) fail(name(gateway), "SQLite allows one gateway");

for (const n of notes) console.log(`note: ${n}`);
for (const p of problems) console.log(p);
console.log(`${overlay}: ${objects.length} objects, ${pods.length} pod templates, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
