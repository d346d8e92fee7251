/**
 * The console page's entry: asks who it is (namespace, backend, the CSRF token), draws the
 * header and the navigation, and shows one page at a time by the URL's fragment: #tokens
 * (the default), #keys, #audit.
 */
import { auditPage } from './audit.js';
import { describe, getJson, setCsrf } from './client.js';
import { h, put } from './dom.js';
import { keysPage } from './keys.js';
import { tokensPage } from './tokens.js';

interface About {
  namespace: string;
  backend: string;
  actor: string;
  usage: boolean;
  seal?: boolean;
  csrf: string;
}

const PAGES = [
  ['tokens', 'Tokens'],
  ['keys', 'Provider keys'],
  ['audit', 'Audit trail'],
] as const;
type PageId = (typeof PAGES)[number][0];

async function start() {
  const main = h('main', { id: 'main', tabindex: -1 });
  let about: About;
  try {
    about = await getJson<About>('/api/about');
  } catch (error) {
    document.body.append(
      h('p', { class: 'status error' }, `The console could not start: ${describe(error)}`),
    );
    return;
  }
  setCsrf(about.csrf);
  const links = PAGES.map(([id, label]) => h('a', { href: `#${id}`, 'data-page': id }, label));
  document.body.append(
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    h(
      'header',
      {},
      h('h1', {}, 'egg console'),
      h(
        'dl',
        { class: 'about' },
        h('dt', {}, 'Namespace'),
        h('dd', { 'data-namespace': true }, about.namespace),
        h('dt', {}, 'Backend'),
        h('dd', {}, about.backend),
        h('dt', {}, 'Acting as'),
        h('dd', {}, about.actor),
      ),
      h('nav', { 'aria-label': 'Pages' }, h('ul', {}, ...links.map((a) => h('li', {}, a)))),
    ),
    main,
  );

  let stop = () => {};
  const show = () => {
    const wanted = location.hash.slice(1);
    const id: PageId = PAGES.some(([p]) => p === wanted) ? (wanted as PageId) : 'tokens';
    stop();
    stop = () => {};
    for (const a of links) {
      if (a.dataset.page === id) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${PAGES.find(([p]) => p === id)?.[1]} · ${about.namespace} · egg console`;
    if (id === 'tokens') {
      const page = tokensPage(about.namespace, about.usage);
      stop = page.stop;
      put(main, page.element);
    } else if (id === 'keys') put(main, keysPage(about.namespace, about.seal === true));
    else put(main, auditPage(about.namespace));
  };
  window.addEventListener('hashchange', () => {
    show();
    main.focus();
  });
  show();
}

void start();
