// Accuracy and cost of the input-token estimator (src/egress/estimate.ts)
// against o200k_base (gpt-tokenizer), over requests built from this
// repository's own source, docs and JSON, plus non-English text.
// Run: npm run build && node bench/estimator.mjs
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { countTokens as count } from 'gpt-tokenizer/encoding/o200k_base';
const countTokens = (s) => count(s, { disallowedSpecial: new Set() });
import { estimateInput } from '../dist/egress/estimate.js';

const root = new URL('..', import.meta.url).pathname;
const files = [];
const walk = (d) => {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (n === 'node_modules' || n === 'dist' || n.startsWith('.')) continue;
    const s = statSync(p);
    if (s.isDirectory()) walk(p);
    else if (/\.(ts|md|json|mjs|yml)$/.test(n) && s.size < 200_000) files.push(p);
  }
};
for (const d of ['src', 'docs', 'test', 'bench/corpus', 'schema', 'README.md']) {
  const p = join(root, d);
  if (statSync(p).isDirectory()) walk(p);
  else files.push(p);
}
const texts = files.map((f) => readFileSync(f, 'utf8'));
// Non-English prose and symbols: o200k spends more tokens per byte on these.
const intl = [
  '日本語のテキストはトークンが多くなります。これは東京の天気についての文章です。'.repeat(40),
  'Съешь же ещё этих мягких французских булок, да выпей чаю. '.repeat(60),
  'Ελληνικά κείμενα για δοκιμή του εκτιμητή συμβόλων. '.repeat(60),
  '中文文本测试，估计器应该高估而不是低估。'.repeat(80),
  '🙂🚀✅ emoji 🧪🔥 mixed ✨ '.repeat(80),
  'مرحبا بالعالم، هذا نص عربي لاختبار التقدير. '.repeat(60),
];
let seed = 7;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const pick = (a) => a[Math.floor(rand() * a.length)];
const tools = JSON.parse(
  readFileSync(join(root, 'schema', readdirSync(join(root, 'schema'))[0]), 'utf8'),
);

/** What the API counts as o200k: the text of every input string, tools as JSON, 4 per message. */
function truth(api, body) {
  let n = 0;
  const strings = (v) => {
    if (typeof v === 'string') n += countTokens(v);
    else if (Array.isArray(v)) v.forEach(strings);
    else if (v && typeof v === 'object') Object.values(v).forEach(strings);
  };
  const msgs = api === 'openai-responses' ? body.input : body.messages;
  strings(api === 'openai-responses' ? body.instructions : body.system);
  strings(msgs);
  n += 4 * msgs.length;
  if (body.tools) n += countTokens(JSON.stringify(body.tools));
  return n;
}

function request(api, parts) {
  const content = parts.map((t, i) => ({ role: i % 2 ? 'assistant' : 'user', content: t }));
  if (api === 'anthropic-messages') {
    return {
      model: 'm',
      max_tokens: 32000,
      system: parts[0],
      messages: content,
      tools: [{ name: 'schema', input_schema: tools }],
    };
  }
  return {
    model: 'm',
    instructions: parts[0],
    input: content.map((m) => ({
      type: 'message',
      role: m.role,
      content: [{ type: 'input_text', text: m.content }],
    })),
    tools: [{ type: 'function', name: 'schema', parameters: tools }],
  };
}

const out = {};
for (const api of ['openai-responses', 'anthropic-messages']) {
  const ratios = [];
  let bytes = 0;
  let ms = 0;
  for (let i = 0; i < 300; i++) {
    const pool = i % 10 === 0 ? intl : texts;
    const parts = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => pick(pool));
    const body = request(api, parts);
    const raw = JSON.stringify(body);
    const t0 = performance.now();
    const est = estimateInput(api, JSON.parse(raw));
    ms += performance.now() - t0;
    bytes += raw.length;
    ratios.push(est / truth(api, body));
  }
  ratios.sort((a, b) => a - b);
  const q = (p) => ratios[Math.min(ratios.length - 1, Math.floor(p * ratios.length))].toFixed(3);
  // The tokenizer's own cost, for comparison.
  const big = JSON.stringify(request(api, texts.slice(0, 40)));
  const t1 = performance.now();
  countTokens(big);
  const tokMs = ((performance.now() - t1) / big.length) * 100_000;
  out[api] = {
    requests: ratios.length,
    'estimate/o200k min': q(0),
    p1: q(0.01),
    p50: q(0.5),
    p99: q(0.99),
    max: q(1),
    'estimator ms per 100 KB (parse + estimate)': ((ms / bytes) * 100_000).toFixed(3),
    'o200k tokenizer ms per 100 KB': tokMs.toFixed(1),
  };
}
console.log(JSON.stringify(out, null, 2));
