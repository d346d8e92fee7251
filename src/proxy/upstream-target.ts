/**
 * Where a provider key is sent: its pinned upstream origin (src/tokens/upstream.ts), parsed
 * once into what `http.request` needs. Nothing of the client's request takes part: the
 * `Host` header sent is the origin's own host.
 */

export interface UpstreamTarget {
  secure: boolean;
  protocol: string;
  /** Without the brackets of an IPv6 literal (what `net.connect` takes). */
  hostname: string;
  port: number;
  /** The `Host` header sent: the origin's host exactly. */
  host: string;
  /** The TLS server name (SNI). */
  servername: string;
}

/** Pinned origins are few; a bound all the same. */
const MAX_TARGETS = 256;

/**
 * A function from a pinned origin to its target, each origin parsed once (the cache holds
 * at most MAX_TARGETS, then starts again). Throws `TypeError` for a string that is not a URL.
 */
export function upstreamTargets(): (upstream: string) => UpstreamTarget {
  const targets = new Map<string, UpstreamTarget>();
  return (upstream) => {
    let target = targets.get(upstream);
    if (target === undefined) {
      target = parseUpstreamTarget(upstream);
      if (targets.size >= MAX_TARGETS) targets.clear();
      targets.set(upstream, target);
    }
    return target;
  };
}

/** The target of one pinned origin, `https://api.example.com` or `http://[::1]:8080`. */
export function parseUpstreamTarget(upstream: string): UpstreamTarget {
  const url = new URL(upstream);
  const secure = url.protocol === 'https:';
  return {
    secure,
    protocol: url.protocol,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    host: url.host,
    servername: url.hostname,
  };
}
