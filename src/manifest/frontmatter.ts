import { parseDocument } from 'yaml';
import { ConfigError, type ConfigLocation } from '../errors.js';

export interface FrontMatterDoc {
  data: unknown;
  body: string;
}

/**
 * Split `---\n<yaml>\n---\n<body>` by hand and parse the YAML with `yaml`.
 * Deliberately not gray-matter: it evaluates `---js` blocks from user files.
 * A file without a leading `---` has no settings and is all body.
 */
export function parseFrontMatter(text: string, loc: ConfigLocation): FrontMatterDoc {
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const firstLineEnd = src.indexOf('\n');
  const firstLine = (firstLineEnd === -1 ? src : src.slice(0, firstLineEnd)).replace(/\r$/, '');
  if (firstLine.trim() !== '---') {
    if (/^---\s*\S/.test(firstLine)) {
      throw new ConfigError(
        loc,
        `front matter must open with a line holding only '---' (found ${JSON.stringify(firstLine)})`,
      );
    }
    return { data: {}, body: src };
  }
  const rest = src.slice(firstLineEnd + 1);
  const close = /^---[ \t]*\r?$/m.exec(rest);
  if (close === null) {
    throw new ConfigError(loc, "front matter opened with '---' is never closed by a '---' line");
  }
  const yamlText = rest.slice(0, close.index);
  let body = rest.slice(close.index + close[0].length);
  if (body.startsWith('\n')) body = body.slice(1);
  return { data: parseYaml(yamlText, loc, 1), body };
}

/**
 * Parse YAML strictly: duplicate keys and syntax errors are errors, aliases
 * are capped so a hostile file cannot expand into gigabytes.
 */
export function parseYaml(text: string, loc: ConfigLocation, lineOffset = 0): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = first.linePos?.[0].line;
    const where = line === undefined ? '' : ` (line ${line + lineOffset})`;
    const msg = first.message.split('\n')[0] ?? first.message;
    throw new ConfigError(loc, `invalid YAML${where}: ${msg}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (e) {
    throw new ConfigError(loc, `invalid YAML: ${(e as Error).message}`);
  }
}
