// How configuration values and keys are shown in messages: values as the operator wrote them
// (`.nan`, `.inf`), never a credential, and suggestions only for keys that are really close.

import { urlForMessage } from "../registry/errors";

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@?#]*@/gi;
const URLS = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"']+/gi;

/** True when the text holds a URL with a user name or password (`https://user:token@host`). */
export function hasUrlCredentials(text: string): boolean {
    URL_CREDENTIALS.lastIndex = 0;
    return URL_CREDENTIALS.test(text);
}

/** The text with any URL's user name and password replaced by `***`. */
export function redactUrlCredentials(text: string): string {
    return text.replace(URL_CREDENTIALS, "$1***@");
}

/**
 * The text with every URL in it shown as scheme and host only: a user name, password, path, query
 * or fragment pasted with it may carry a token, so none of them is repeated.
 */
export function redactUrls(text: string): string {
    // A value that is one URL is cut at its host even if it holds a space (`https://a b/?t=…`).
    if (/^\s*[a-z][a-z0-9+.-]*:\/\//i.test(text)) return urlForMessage(text);
    return text.replace(URLS, (url) => urlForMessage(url));
}

/** True when any string inside `value` looks like a secret. */
export function holdsSecret(value: unknown): boolean {
    return stringLeaves(value).some((leaf) => looksLikeSecret(leaf.text));
}

/** Every string inside a value, with its path. */
export function stringLeaves(value: unknown, path: (string | number)[] = []): { path: (string | number)[]; text: string }[] {
    if (typeof value === "string") return [{ path, text: value }];
    if (Array.isArray(value)) return value.flatMap((item, i) => stringLeaves(item, [...path, i]));
    if (typeof value === "object" && value !== null) return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, [...path, k]));
    return [];
}

const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * True for text that looks like a credential rather than a name or id: a Microsoft Entra client
 * secret (`abc8Q~…`, 40 characters), a Databricks, GitHub or similar token by its prefix, a JWT, or
 * a long run of mixed letters and digits. Such a value is never repeated in a message.
 */
export function looksLikeSecret(text: string): boolean {
    const t = text.trim();
    if (t.length < 16 || /\s/.test(t) || GUID_TEXT.test(t) || /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(t)) return false;
    if (/^(dapi|dkea|dose|ghp_|gho_|ghs_|ghu_|github_pat_|glpat-|xox[abpr]-|sk-|AKIA)[\w-]{8,}/.test(t)) return true;
    if (/^eyJ[\w-]{8,}\.[\w-]*\.?/.test(t)) return true;
    // Entra client secrets: three characters, a digit, "Q~", then the rest (40 in all).
    if (/^[\w.~-]{3}\dQ~[\w.~-]{20,}$/.test(t) || (t.includes("~") && t.length >= 30)) return true;
    const classes = [/[a-z]/, /[A-Z]/, /\d/].filter((r) => r.test(t)).length;
    return t.length >= 32 && classes === 3 && /^[\w+/=~.-]+$/.test(t);
}

/** What a message shows instead of a value that looks like a secret. */
export const HIDDEN_SECRET = "(not shown: it looks like a secret)";

const MAX_SHOWN = 160;

/**
 * A value for a message: JSON-like, with YAML's `.nan`/`.inf` as written, URLs shown without
 * credentials, path, query or fragment, text that looks like a secret not shown, and long values
 * shortened (after the rest, so no cut can leave part of a secret).
 */
export function displayValue(value: unknown): string {
    const render = (v: unknown): string => {
        if (typeof v === "number") return Number.isNaN(v) ? ".nan" : v === Infinity ? ".inf" : v === -Infinity ? "-.inf" : JSON.stringify(v);
        if (typeof v === "string") return looksLikeSecret(v) ? HIDDEN_SECRET : JSON.stringify(redactUrls(v));
        if (Array.isArray(v)) return `[${v.map(render).join(",")}]`;
        if (typeof v === "object" && v !== null) return `{${Object.entries(v).map(([k, item]) => `${JSON.stringify(k)}:${render(item)}`).join(",")}}`;
        return v === undefined ? "(unset)" : String(v);
    };
    const text = render(value);
    return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

/** Edit distance counting a swap of two neighbouring letters as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
    // Row i starts as [i]; the loop fills the rest of it in order.
    const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
            const cost = a[i - 1] === b[j - 1] ? 0 : 1;
            d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            // At i = 1 or j = 1, a[-1] or b[-1] is undefined, so no swap is seen there.
            if (a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.length][b.length];
}

/**
 * The candidate a mistyped word most probably meant, or undefined when none is close: at most one
 * edit for words up to 4 letters, two up to 10, three beyond (case is ignored).
 */
export function closeMatch(word: string, candidates: readonly string[]): string | undefined {
    const lower = word.toLowerCase();
    const allowed = lower.length <= 4 ? 1 : lower.length <= 10 ? 2 : 3;
    let best: { candidate: string; distance: number } | undefined;
    for (const candidate of candidates) {
        const distance = editDistance(lower, candidate.toLowerCase());
        if (distance <= allowed && (!best || distance < best.distance)) best = { candidate, distance };
    }
    return best?.candidate;
}
