import { parseWith, policySchema, ProtocolError, type PolicyExpr } from '../protocol/index.js';

/**
 * Parses a policy as a person writes it on a command line (`config propose --policy` and `bench
 * --policy`): Fabric's syntax
 * (`AND('org1', 'org2')`, `OR('org1', OutOf(2, 'org2', 'org3', 'org4'))`, a bare `org1`; quotes
 * optional, keywords case-insensitive) or the configuration's JSON form (`{"org": "org1"}`).
 * Throws an Error naming the position of the first problem.
 */
export function parsePolicy(text: string): PolicyExpr {
  const source = text.trim();
  if (source === '') throw new Error('the policy is empty');
  let expr: unknown;
  if (source.startsWith('{')) {
    try {
      expr = JSON.parse(source) as unknown;
    } catch (e) {
      throw new Error(`the policy is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    expr = new PolicyParser(source).parse();
  }
  try {
    return parseWith(policySchema, expr, 'policy');
  } catch (e) {
    if (e instanceof ProtocolError) throw new Error(`invalid policy "${source}": ${e.message}`);
    throw e;
  }
}

type Token =
  | { kind: 'name'; value: string; at: number; quoted: boolean }
  | { kind: 'number'; value: number; at: number }
  | { kind: '(' | ')' | ','; at: number };

class PolicyParser {
  private readonly tokens: Token[];
  private next = 0;

  constructor(private readonly source: string) {
    this.tokens = tokenize(source);
  }

  parse(): PolicyExpr {
    const expr = this.expr();
    const extra = this.tokens[this.next];
    if (extra !== undefined) this.fail(extra.at, 'unexpected text after the policy');
    return expr;
  }

  private expr(): PolicyExpr {
    const token = this.take();
    if (token.kind === 'number')
      this.fail(token.at, `expected an organisation or AND/OR/OutOf, got ${token.value}`);
    if (token.kind !== 'name')
      this.fail(token.at, `expected an organisation or AND/OR/OutOf, got "${token.kind}"`);
    const keyword = token.quoted ? undefined : token.value.toLowerCase();
    const open = this.tokens[this.next];
    if (keyword !== undefined && ['and', 'or', 'outof'].includes(keyword) && open?.kind === '(') {
      this.next += 1;
      let k: number | undefined;
      if (keyword === 'outof') {
        const count = this.take();
        if (count.kind !== 'number') this.fail(count.at, 'OutOf needs a count first: OutOf(2, ...)');
        k = count.value;
        this.expect(',');
      }
      const terms: PolicyExpr[] = [this.expr()];
      for (;;) {
        const t = this.take();
        if (t.kind === ')') break;
        if (t.kind !== ',') this.fail(t.at, 'expected "," or ")"');
        terms.push(this.expr());
      }
      if (keyword === 'and') return { and: terms };
      if (keyword === 'or') return { or: terms };
      return { outOf: { k: k ?? 0, of: terms } };
    }
    if (open?.kind === '(')
      this.fail(open.at, `unknown policy operator ${token.value} (use AND, OR or OutOf)`);
    const dot = token.value.indexOf('.');
    if (dot !== -1) {
      this.fail(
        token.at,
        `"${token.value}": name the organisation alone (policies here are over organisations, not roles)`,
      );
    }
    return { org: token.value } as PolicyExpr;
  }

  private take(): Token {
    const token = this.tokens[this.next];
    if (token === undefined) this.fail(this.source.length, 'the policy ends too early');
    this.next += 1;
    return token;
  }

  private expect(kind: ',' | ')'): void {
    const token = this.take();
    if (token.kind !== kind) this.fail(token.at, `expected "${kind}"`);
  }

  private fail(at: number, message: string): never {
    throw new Error(`invalid policy "${this.source}" at character ${at + 1}: ${message}`);
  }
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source.charAt(i);
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c, at: i });
      i += 1;
    } else if (c === "'" || c === '"') {
      const end = source.indexOf(c, i + 1);
      if (end === -1) throw new Error(`invalid policy "${source}" at character ${i + 1}: unterminated quote`);
      tokens.push({ kind: 'name', value: source.slice(i + 1, end), at: i, quoted: true });
      i = end + 1;
    } else {
      const match = /^[A-Za-z0-9_.-]+/.exec(source.slice(i));
      if (match === null)
        throw new Error(`invalid policy "${source}" at character ${i + 1}: unexpected "${c}"`);
      const word = match[0];
      if (/^\d+$/.test(word)) tokens.push({ kind: 'number', value: Number(word), at: i });
      else tokens.push({ kind: 'name', value: word, at: i, quoted: false });
      i += word.length;
    }
  }
  return tokens;
}
