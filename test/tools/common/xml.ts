/** A small XML reader for the SVG charts the tools write: enough to assert on their elements. */

export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Character data directly inside this element, entities decoded. */
  text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(s: string, at: number): string {
  return s.replace(/&([^;\s]*);|&/g, (m, name: string | undefined) => {
    if (name === undefined) throw new Error(`bare & at ${at}`);
    if (ENTITIES[name]) return ENTITIES[name];
    const code = /^#x([0-9a-f]+)$/i.exec(name) ?? /^#(\d+)$/.exec(name);
    if (code) return String.fromCodePoint(Number.parseInt(code[1]!, name[1] === "x" ? 16 : 10));
    throw new Error(`unknown entity ${m} at ${at}`);
  });
}

/**
 * A strict parser for the XML subset the charts are written in (elements,
 * double-quoted attributes, character data, entities): throws at the first
 * thing that is not well-formed, so a test can rely on "it parses".
 */
export function parseXml(source: string): XmlElement {
  const s = source.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  const tag = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*="[^"<]*")*)\s*(\/?)>/y;
  while (i < s.length) {
    const lt = s.indexOf("<", i);
    const chunk = s.slice(i, lt < 0 ? s.length : lt);
    if (chunk.trim() !== "") {
      const parent = stack.at(-1);
      if (!parent) throw new Error(`text outside the root element at ${i}`);
      parent.text += decode(chunk, i);
    }
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(s);
    if (!m) throw new Error(`malformed tag at ${lt}: ${JSON.stringify(s.slice(lt, lt + 40))}`);
    const [, closing, name, rawAttrs, selfClosing] = m as unknown as [string, string, string, string, string];
    if (closing) {
      const open = stack.pop();
      if (open?.name !== name) throw new Error(`</${name}> closes <${open?.name ?? "nothing"}> at ${lt}`);
    } else {
      const attrs: Record<string, string> = {};
      for (const a of rawAttrs.matchAll(/([A-Za-z_][\w.:-]*)="([^"]*)"/g)) {
        if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]} at ${lt}`);
        attrs[a[1]!] = decode(a[2]!, lt);
      }
      const el: XmlElement = { name, attrs, children: [], text: "" };
      const parent = stack.at(-1);
      if (parent) parent.children.push(el);
      else if (root) throw new Error(`second root element <${name}> at ${lt}`);
      else root = el;
      if (!selfClosing) stack.push(el);
    }
    i = tag.lastIndex;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.at(-1)!.name}>`);
  if (!root) throw new Error("no root element");
  return root;
}

/** Every element named `name` in document order. */
export function findAll(root: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const visit = (e: XmlElement) => {
    if (e.name === name) out.push(e);
    for (const c of e.children) visit(c);
  };
  visit(root);
  return out;
}
