import { readFileSync, writeFileSync } from 'node:fs';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import type { EgressPolicyConfig } from '../egress/config.js';
import { UsageError } from '../errors.js';
import type { BottlePlan } from '../plan/schema.js';
import type { Component } from './audit.js';
import { describeSource } from '../manifest/sentinel.js';

/**
 * "Save to the bottle file": write an approved egress or route change into
 * the YAML front matter of the bottle's own Markdown file (the last one of
 * its extends chain), so the next launch has it too. Only what changed is
 * touched: added entries are appended, removed ones deleted, comments and
 * the Markdown body stay as they were.
 */

type PlanRoute = BottlePlan['egress']['routes'][number];

/** The value source as a bottle file writes it (`?` asks at launch). */
function sourceText(s: PlanRoute['headers'][number]['source']): string {
  if (s.kind === 'literal') {
    throw new UsageError('a literal route value cannot be written into a bottle file');
  }
  return s.kind === 'prompt' ? '?' : describeSource(s);
}

function bottleFile(plan: BottlePlan): string {
  const file = plan.bottles.at(-1)?.chain.at(-1)?.file;
  if (file?.endsWith('.md') !== true) {
    throw new UsageError(
      `this bottle is not defined in a Markdown bottle file (${file ?? 'none'}), so the change was kept for this bottle only`,
      'add it to the file by hand',
    );
  }
  return file;
}

function list(doc: Document, path: string[]): string[] {
  const node = doc.getIn(path);
  return isSeq(node) ? node.items.map((i) => String((i as { value?: unknown }).value ?? i)) : [];
}

export function saveToBottleFile(
  plan: BottlePlan,
  component: Component,
  before: EgressPolicyConfig,
  after: EgressPolicyConfig,
  routes: PlanRoute[],
): string[] {
  const file = bottleFile(plan);
  const text = readFileSync(file, 'utf8');
  const m = /^---[ \t]*\r?\n([\s\S]*?)^---[ \t]*\r?$/m.exec(text);
  if (m?.index !== 0) {
    throw new UsageError(`${file} has no front matter to write the change into`);
  }
  const doc = parseDocument(m[1] ?? '');
  if (!isMap(doc.contents) && doc.contents !== null) {
    throw new UsageError(`${file}: its front matter is not a mapping`);
  }
  const notes: string[] = [];
  if (component === 'egress') {
    for (const key of ['allow', 'deny', 'passthrough'] as const) {
      const added = after[key].filter((h) => !before[key].includes(h));
      const removed = before[key].filter((h) => !after[key].includes(h));
      if (added.length === 0 && removed.length === 0) continue;
      const own = list(doc, ['egress', key]);
      for (const h of removed.filter((r) => !own.includes(r))) {
        notes.push(`${key} ${h} comes from a parent bottle file; it is not removed there`);
      }
      doc.setIn(
        ['egress', key],
        [...own.filter((h) => !removed.includes(h)), ...added.filter((h) => !own.includes(h))],
      );
    }
    if (JSON.stringify(before.rules) !== JSON.stringify(after.rules)) {
      notes.push('method/path rules changed for this bottle only; add them to the file by hand');
    }
  } else {
    doc.setIn(
      ['egress', 'routes'],
      routes.map((r) => ({
        host: r.host,
        headers: Object.fromEntries(
          r.headers.map((h) => [
            h.name,
            h.prefix === null && h.basicUser === null
              ? sourceText(h.source)
              : {
                  secret: sourceText(h.source),
                  ...(h.prefix === null ? {} : { prefix: h.prefix }),
                  ...(h.basicUser === null ? {} : { basicUser: h.basicUser }),
                },
          ]),
        ),
      })),
    );
  }
  const yaml = doc.toString().trimEnd();
  writeFileSync(file, `---\n${yaml}\n${text.slice(m[0].length).replace(/^\r?\n?/, '---\n')}`);
  notes.push(`saved to ${file}`);
  return notes;
}
