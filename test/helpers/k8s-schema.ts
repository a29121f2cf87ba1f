import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Validates rendered objects against the vendored Kubernetes OpenAPI v3
 * documents and the agent-sandbox CRDs, as strictly as `kubectl apply
 * --validate=strict`: an object schema that lists `properties` is closed
 * (unknown fields are errors) unless it is `x-kubernetes-preserve-unknown-fields`,
 * `$ref`s resolve into components.schemas, and int-or-string is an integer
 * or a string. CEL rules (`x-kubernetes-validations`) are not evaluated.
 */

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'k8s');
const ID = 'https://bot-bottle.invalid/k8s.json';

type Schema = Record<string, unknown>;

const isObject = (v: unknown): v is Schema =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** One schema node made strict; the `x-kubernetes-*` keys it used are collected. */
function strict(node: unknown, seen: Set<string>): unknown {
  if (Array.isArray(node)) return node.map((n) => strict(n, seen));
  if (!isObject(node)) return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-')) seen.add(k);
    if (k === '$ref' && typeof v === 'string') {
      out.$ref = v.replace('#/components/schemas/', `${ID}#/definitions/`);
    } else if (k === 'properties' && isObject(v)) {
      out.properties = Object.fromEntries(
        Object.entries(v).map(([name, s]) => [name, strict(s, seen)]),
      );
    } else {
      out[k] = strict(v, seen);
    }
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    delete out.format;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (
    isObject(out.properties) &&
    out.additionalProperties === undefined &&
    out['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out.additionalProperties = false;
  }
  return out;
}

interface Docs {
  definitions: Record<string, unknown>;
  /** `group/version/Kind` -> definition name. */
  kinds: Map<string, string>;
  keywords: Set<string>;
}

function loadOpenApi(docs: Docs, file: string): void {
  const doc = JSON.parse(readFileSync(join(FIXTURES, 'kubernetes', file), 'utf8')) as {
    components: { schemas: Record<string, Schema> };
  };
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    if (name in docs.definitions) continue;
    docs.definitions[name] = strict(schema, docs.keywords);
    const gvks = schema['x-kubernetes-group-version-kind'];
    if (Array.isArray(gvks)) {
      for (const g of gvks as { group: string; version: string; kind: string }[]) {
        docs.kinds.set(`${g.group === '' ? '' : `${g.group}/`}${g.version}/${g.kind}`, name);
      }
    }
  }
}

function loadCrd(docs: Docs, file: string): void {
  const crd = parse(readFileSync(join(FIXTURES, 'agent-sandbox', file), 'utf8')) as {
    spec: {
      group: string;
      names: { kind: string };
      versions: { name: string; schema: { openAPIV3Schema: Schema } }[];
    };
  };
  for (const v of crd.spec.versions) {
    const name = `${crd.spec.group}.${v.name}.${crd.spec.names.kind}`;
    const schema = strict(v.schema.openAPIV3Schema, docs.keywords) as Schema;
    // The API server checks a custom resource's metadata as ObjectMeta.
    (schema.properties as Schema).metadata = {
      $ref: `${ID}#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`,
    };
    docs.definitions[name] = schema;
    docs.kinds.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, name);
  }
}

export interface K8sValidator {
  /** Error lines naming the field (JSON pointer into the object); empty when valid. */
  validate(obj: { apiVersion?: unknown; kind?: unknown }): string[];
}

function describe(e: ErrorObject): string {
  const extra =
    e.keyword === 'additionalProperties'
      ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'`
      : '';
  return `${e.instancePath === '' ? '/' : e.instancePath}: ${e.message ?? e.keyword}${extra}`;
}

let cached: K8sValidator | undefined;

export function k8sValidator(): K8sValidator {
  if (cached !== undefined) return cached;
  const docs: Docs = { definitions: {}, kinds: new Map(), keywords: new Set() };
  loadOpenApi(docs, 'api__v1_openapi.json');
  loadOpenApi(docs, 'apis__apps__v1_openapi.json');
  loadOpenApi(docs, 'apis__networking.k8s.io__v1_openapi.networkpolicy-subset.json');
  for (const f of [
    'agents.x-k8s.io_sandboxes.yaml',
    'extensions.agents.x-k8s.io_sandboxtemplates.yaml',
    'extensions.agents.x-k8s.io_sandboxclaims.yaml',
    'extensions.agents.x-k8s.io_sandboxwarmpools.yaml',
  ]) {
    loadCrd(docs, f);
  }
  // IntOrString is published as a string with a format; either form is valid.
  docs.definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = {
    anyOf: [{ type: 'integer' }, { type: 'string' }],
  };
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, validateFormats: true });
  const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
  addFormats(ajv);
  // Kubernetes' own formats that ajv-formats does not know: checked by the API server, not here.
  for (const f of ['int-or-string', 'quantity']) ajv.addFormat(f, true);
  for (const k of docs.keywords) ajv.addKeyword(k);
  ajv.addSchema({ $id: ID, definitions: docs.definitions });
  const compiled = new Map<string, ValidateFunction>();
  cached = {
    validate(obj) {
      const key = `${String(obj.apiVersion)}/${String(obj.kind)}`;
      const def = docs.kinds.get(key);
      if (def === undefined) return [`no schema for ${key}`];
      let fn = compiled.get(def);
      if (fn === undefined) {
        fn = ajv.compile({ $ref: `${ID}#/definitions/${def}` });
        compiled.set(def, fn);
      }
      return fn(obj) ? [] : (fn.errors ?? []).map(describe);
    },
  };
  return cached;
}
