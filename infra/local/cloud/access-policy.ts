/**
 * Who may talk to the local cloud. SDKs and CLIs send no `Origin` and name a loopback `Host`; a web page the
 * developer has open sends its own `Origin` (a form POST needs no CORS preflight), and DNS rebinding sends a
 * foreign `Host`. Both are refused unless the developer widened the lists, as LocalStack does with
 * EXTRA_CORS_ALLOWED_ORIGINS / DISABLE_CORS_CHECKS.
 */

/** Comma-separated origins that may call the local cloud besides loopback ones; `*` allows every origin. */
export const ALLOWED_ORIGINS_ENV = "LOCAL_CLOUD_ALLOWED_ORIGINS";
/** Comma-separated host names the local cloud answers to besides loopback ones; `*` allows every host. */
export const ALLOWED_HOSTS_ENV = "LOCAL_CLOUD_ALLOWED_HOSTS";

export interface AccessPolicy {
  /** Extra origins (`scheme://host[:port]`), or `*`. */
  readonly allowedOrigins: readonly string[];
  /** Extra host names (no port), or `*`. */
  readonly allowedHosts: readonly string[];
}

export type AccessDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: string };

export function accessPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): AccessPolicy {
  return {
    allowedOrigins: splitList(env[ALLOWED_ORIGINS_ENV]),
    allowedHosts: splitList(env[ALLOWED_HOSTS_ENV]),
  };
}

/** Loopback names: localhost and its subdomains (RFC 6761), 127.0.0.0/8 and ::1. */
export function isLoopbackHostname(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return (
    name === "localhost" ||
    name.endsWith(".localhost") ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) ||
    name === "::1" ||
    name === "::ffff:127.0.0.1"
  );
}

/** Whether an `Origin` header (absent: an SDK or CLI) may call the local cloud. */
export function isAllowedOrigin(origin: string | undefined, policy: AccessPolicy): boolean {
  if (origin === undefined) return true;
  if (policy.allowedOrigins.includes("*")) return true;
  if (
    policy.allowedOrigins.some((allowed) => allowed.replace(/\/$/, "").toLowerCase() === origin.toLowerCase())
  )
    return true;
  // "null" (sandboxed frames, file: pages) and anything unparsable are foreign.
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && isLoopbackHostname(url.hostname);
  } catch {
    return false;
  }
}

/** Whether a `Host` header names this machine. An HTTP/1.0 request without one comes from a local tool. */
export function isAllowedHost(host: string | undefined, policy: AccessPolicy): boolean {
  if (host === undefined || host === "") return true;
  if (policy.allowedHosts.includes("*")) return true;
  const hostname = hostnameOf(host);
  return (
    isLoopbackHostname(hostname) || policy.allowedHosts.some((allowed) => allowed.toLowerCase() === hostname)
  );
}

/** The verdict on one request, with a reason that names the setting that would let it in. */
export function decideAccess(
  headers: { readonly origin?: string; readonly host?: string },
  policy: AccessPolicy,
): AccessDecision {
  if (!isAllowedHost(headers.host, policy))
    return {
      allowed: false,
      reason:
        `The local cloud answers only to loopback host names, not to Host "${headers.host}" (a DNS-rebinding ` +
        `page would send one). To allow it, set ${ALLOWED_HOSTS_ENV}=${hostnameOf(headers.host ?? "")} ` +
        "(comma-separated; * allows any).",
    };
  if (!isAllowedOrigin(headers.origin, policy))
    return {
      allowed: false,
      reason:
        `The local cloud refuses requests from the web origin "${headers.origin}": a page open in your browser ` +
        `could otherwise drive it. To allow it, set ${ALLOWED_ORIGINS_ENV}=${headers.origin} ` +
        "(comma-separated; * allows any, like LocalStack's DISABLE_CORS_CHECKS).",
    };
  return { allowed: true };
}

function hostnameOf(host: string): string {
  const trimmed = host.trim().toLowerCase();
  if (trimmed.startsWith("[")) return trimmed.slice(0, trimmed.indexOf("]") + 1);
  const colon = trimmed.lastIndexOf(":");
  return colon >= 0 && trimmed.indexOf(":") === colon ? trimmed.slice(0, colon) : trimmed;
}

function splitList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}
