/**
 * Building the page without markup: elements from a tag, attributes and children, where a
 * string child is always a text node. Nothing here (nor anywhere in the console's page) sets
 * innerHTML, so a stored name can only ever show as text.
 */

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | number | undefined>;

function fill(element: Element, attrs: Attrs, children: Child[]): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** An HTML element. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  fill(element, attrs, children);
  return element;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element. */
export function svg(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const element = document.createElementNS(SVG, tag) as SVGElement;
  fill(element, attrs, children);
  return element;
}

/** Replace `parent`'s children. */
export function put(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  fill(parent, {}, children);
}

/** A labelled form field: the label wraps the control, so a click and a screen reader both find it. */
export function field(label: string, control: HTMLElement, help?: string): HTMLElement {
  return h(
    'label',
    { class: 'field' },
    h('span', { class: 'label' }, label),
    control,
    help && h('small', {}, help),
  );
}

/** A time as the reader's locale writes it, the ISO form in its tooltip. */
export function time(iso: string): HTMLElement {
  return h('time', { datetime: iso, title: iso }, new Date(iso).toLocaleString());
}
