import { policySchema, type PolicyExpr } from '../protocol/index.js';

/**
 * An endorsement policy as a person writes it on the command line: Fabric's form
 * `AND(org1, OR('org2', 'org3'))`, `OutOf(2, org1, org2, org3)`, a bare `org1`, or the JSON that
 * `contract deploy --policy` takes (`{"and":[{"org":"org1"},{"org":"org2"}]}`). The result is
 * checked against the protocol's policy schema, so it is exactly what a deployment accepts.
 */
export function parsePolicy(text: string): PolicyExpr {
  const trimmed = text.trim();
  let raw: unknown;
  if (trimmed.startsWith('{')) {
    try {
      raw = JSON.parse(trimmed) as unknown;
    } catch {
      throw new Error(`policy is not valid JSON: ${text}`);
    }
  } else {
    const parser = new PolicyParser(trimmed);
    raw = parser.term();
    parser.end();
  }
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`invalid policy "${text}": ${parsed.error.issues[0]?.message ?? 'not a policy'}`);
  }
  return parsed.data;
}

class PolicyParser {
  private at = 0;

  constructor(private readonly text: string) {}

  term(): unknown {
    const word = this.word();
    this.space();
    if (this.text[this.at] !== '(') return { org: word };
    this.at += 1;
    const op = word.toLowerCase();
    if (op === 'outof') {
      const k = Number(this.word());
      if (!Number.isInteger(k)) throw this.error('OutOf needs a whole number first');
      this.expect(',');
      return { outOf: { k, of: this.list() } };
    }
    if (op === 'and') return { and: this.list() };
    if (op === 'or') return { or: this.list() };
    throw this.error(`unknown policy operator ${word} (AND, OR, OutOf)`);
  }

  end(): void {
    this.space();
    if (this.at !== this.text.length) throw this.error('unexpected text');
  }

  private list(): unknown[] {
    const terms = [this.term()];
    for (;;) {
      this.space();
      const c = this.text[this.at];
      this.at += 1;
      if (c === ')') return terms;
      if (c !== ',') throw this.error('expected "," or ")"');
      terms.push(this.term());
    }
  }

  private word(): string {
    this.space();
    const quote = this.text[this.at];
    if (quote === "'" || quote === '"') {
      const close = this.text.indexOf(quote, this.at + 1);
      if (close === -1) throw this.error('unterminated quote');
      const w = this.text.slice(this.at + 1, close);
      this.at = close + 1;
      return w;
    }
    const m = /^[A-Za-z0-9_.-]+/.exec(this.text.slice(this.at));
    if (m === null) throw this.error('expected an organisation or an operator');
    this.at += m[0].length;
    return m[0];
  }

  private expect(c: string): void {
    this.space();
    if (this.text[this.at] !== c) throw this.error(`expected "${c}"`);
    this.at += 1;
  }

  private space(): void {
    while (this.text[this.at] === ' ') this.at += 1;
  }

  private error(message: string): Error {
    return new Error(`invalid policy "${this.text}" at character ${this.at + 1}: ${message}`);
  }
}
