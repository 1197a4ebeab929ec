/**
 * The scenario options form is generated from the scenario's JSON Schema (`scenarios.schema`,
 * made by the host from core's zod schema): these helpers decide how a schema node is edited,
 * pick the variant of a `oneOf` by its `kind`, build defaults, and check a value the way the
 * schema says (the host's `scenarios.validate` has the last word).
 */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  /** A person's name for the field (the host adds them from core/scenarioDocs.ts). */
  title?: string;
  description?: string;
}

export type FieldKind = 'object' | 'variant' | 'enum' | 'boolean' | 'integer' | 'number' | 'string' | 'list' | 'json';

/** How the form edits a node. Arrays of objects are lists of sub-forms; anything else complex is JSON text. */
export function fieldKind(node: JsonSchema): FieldKind {
  if (node.oneOf && node.oneOf.every((v) => v.properties && Object.values(v.properties).some((p) => p.const !== undefined))) return 'variant';
  if (node.enum) return 'enum';
  if (node.type === 'object' && node.properties) return 'object';
  if (node.type === 'boolean') return 'boolean';
  if (node.type === 'integer') return 'integer';
  if (node.type === 'number') return 'number';
  if (node.type === 'string') return 'string';
  if (node.type === 'array' && node.items && node.items.type === 'object' && node.items.properties) return 'list';
  return 'json';
}

/** The discriminating property of a variant node (the one whose value is a `const` in every variant). */
export function discriminator(node: JsonSchema): string | undefined {
  const first = node.oneOf?.[0]?.properties;
  if (!first) return undefined;
  return Object.keys(first).find((k) => node.oneOf!.every((v) => v.properties?.[k]?.const !== undefined));
}

/** The variant of `node` that `value` is (by its discriminator), or the first one. */
export function variantOf(node: JsonSchema, value: unknown): JsonSchema | undefined {
  const key = discriminator(node);
  const tag = key && value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return node.oneOf?.find((v) => key && v.properties?.[key]?.const === tag) ?? node.oneOf?.[0];
}

/** A value for a node: its default, else the smallest value the schema allows. */
export function defaultFor(node: JsonSchema): unknown {
  if (node.default !== undefined) return structuredClone(node.default);
  if (node.const !== undefined) return node.const;
  switch (fieldKind(node)) {
    case 'variant': {
      const v = node.oneOf![0]!;
      return defaultFor(v);
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, p] of Object.entries(node.properties ?? {})) if (node.required?.includes(k) || p.const !== undefined) out[k] = defaultFor(p);
      return out;
    }
    case 'enum':
      return node.enum![0];
    case 'boolean':
      return false;
    case 'integer':
    case 'number':
      return node.minimum ?? 0;
    case 'string':
      return '';
    default:
      return node.type === 'array' ? [] : undefined;
  }
}

export interface FieldError {
  /** Dotted path of the field, as the scenario docs name options (`vms[0].mmu.mode`). */
  path: string;
  message: string;
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

/** What is wrong with `value` against `node`, one message per field. */
export function check(node: JsonSchema, value: unknown, path = ''): FieldError[] {
  const out: FieldError[] = [];
  const here = path || 'scenario';
  if (value === undefined) return out;
  switch (fieldKind(node)) {
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return [{ path: here, message: 'must be a number' }];
      if (fieldKind(node) === 'integer' && !Number.isInteger(value)) out.push({ path: here, message: 'must be a whole number' });
      if (node.minimum !== undefined && value < node.minimum) out.push({ path: here, message: `must be at least ${node.minimum}` });
      if (node.maximum !== undefined && value > node.maximum) out.push({ path: here, message: `must be at most ${node.maximum}` });
      return out;
    }
    case 'string':
      if (typeof value !== 'string') return [{ path: here, message: 'must be text' }];
      if (node.minLength !== undefined && value.length < node.minLength) out.push({ path: here, message: node.minLength === 1 ? 'must not be empty' : `needs at least ${node.minLength} characters` });
      if (node.maxLength !== undefined && value.length > node.maxLength) out.push({ path: here, message: `may have at most ${node.maxLength} characters` });
      return out;
    case 'enum':
      return node.enum!.includes(value) ? [] : [{ path: here, message: `must be one of ${node.enum!.join(', ')}` }];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [{ path: here, message: 'must be on or off' }];
    case 'variant': {
      const v = variantOf(node, value);
      return v ? check(v, value, path) : [];
    }
    case 'object': {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return [{ path: here, message: 'must be an object' }];
      const obj = value as Record<string, unknown>;
      for (const k of node.required ?? []) if (obj[k] === undefined) out.push({ path: join(path, k), message: 'is required' });
      for (const [k, p] of Object.entries(node.properties ?? {})) out.push(...check(p, obj[k], join(path, k)));
      return out;
    }
    case 'list': {
      if (!Array.isArray(value)) return [{ path: here, message: 'must be a list' }];
      if (node.minItems !== undefined && value.length < node.minItems) out.push({ path: here, message: `needs at least ${node.minItems}` });
      if (node.maxItems !== undefined && value.length > node.maxItems) out.push({ path: here, message: `may have at most ${node.maxItems}` });
      value.forEach((item, i) => out.push(...check(node.items!, item, join(path, i))));
      return out;
    }
    default:
      return out;
  }
}

/** A copy of `root` with the value at `path` (keys and indexes) replaced. */
export function setAt(root: unknown, path: readonly (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (typeof head === 'number') {
    const list = Array.isArray(root) ? [...root] : [];
    list[head] = setAt(list[head], rest, value);
    return list;
  }
  const obj = root && typeof root === 'object' && !Array.isArray(root) ? { ...(root as Record<string, unknown>) } : {};
  obj[head!] = setAt(obj[head!], rest, value);
  return obj;
}
