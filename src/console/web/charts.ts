/**
 * The token list's small charts, drawn as inline SVG by this code: requests per minute over
 * the last half hour (bars, errors stacked in their own colours), and spend against its cap.
 */
import { svg } from './dom.js';

export interface Point {
  window: number;
  requests: number;
  clientErrors: number;
  serverErrors: number;
}

const WIDTH = 180;
const HEIGHT = 40;
const MINUTES = 30;

/** Requests per minute for the 30 windows up to `now` (seconds); an empty window draws nothing. */
export function requestsChart(points: readonly Point[], now: number): SVGElement {
  const last = Math.floor(now / 60) * 60;
  const first = last - (MINUTES - 1) * 60;
  const max = Math.max(1, ...points.map((p) => p.requests));
  const bar = WIDTH / MINUTES;
  const total = points.reduce((sum, p) => sum + p.requests, 0);
  const chart = svg('svg', {
    class: 'chart',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    width: WIDTH,
    height: HEIGHT,
    role: 'img',
    'aria-label': `${total} requests in the last ${MINUTES} minutes`,
    'data-requests': total,
  });
  chart.append(svg('line', { x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5, class: 'axis' }));
  for (const p of points) {
    if (p.window < first || p.window > last) continue;
    const x = ((p.window - first) / 60) * bar;
    const scale = (n: number) => (n / max) * (HEIGHT - 2);
    const ok = Math.max(0, p.requests - p.clientErrors - p.serverErrors);
    let y = HEIGHT - 1;
    for (const [count, cls] of [
      [ok, 'ok'],
      [p.clientErrors, 'client'],
      [p.serverErrors, 'server'],
    ] as const) {
      if (count === 0) continue;
      const height = Math.max(1, scale(count));
      y -= height;
      chart.append(
        svg(
          'rect',
          { x: x + 0.5, y, width: bar - 1, height, class: `bar ${cls}` },
          svg('title', {}, `${new Date(p.window * 1000).toLocaleTimeString()}: ${count} ${cls}`),
        ),
      );
    }
  }
  return chart;
}

/** Spend against the cap: a bar that turns amber past 80 % and red at the cap. */
export function spendMeter(spent: number, cap: number): SVGElement {
  const share = cap > 0 ? Math.min(1, spent / cap) : 0;
  const level = share >= 1 ? 'full' : share >= 0.8 ? 'high' : 'fine';
  return svg(
    'svg',
    {
      class: `meter ${level}`,
      viewBox: `0 0 ${WIDTH} 10`,
      width: WIDTH,
      height: 10,
      role: 'img',
      'aria-label': `spent ${spent} of ${cap}`,
    },
    svg('rect', { x: 0, y: 0, width: WIDTH, height: 10, class: 'track', rx: 3 }),
    svg('rect', {
      x: 0,
      y: 0,
      width: Math.max(share > 0 ? 2 : 0, share * WIDTH),
      height: 10,
      class: 'fill',
      rx: 3,
    }),
  );
}
