// One error type for everything that can go wrong talking to a registry. Messages name the
// registry URL, the model and the selector and say what to do next; they never carry credentials.

export type RegistryErrorKind =
    | "invalid-reference"
    | "invalid-url"
    | "not-a-registry"
    | "unknown-model"
    | "unknown-alias"
    | "unknown-version"
    | "empty-stage"
    | "no-versions"
    | "unauthenticated"
    | "forbidden"
    | "rate-limited"
    | "unavailable"
    | "timeout"
    | "connection"
    | "bad-response"
    | "bad-request"
    | "registration-failed"
    | "registration-timeout";

export class RegistryError extends Error {
    constructor(
        readonly kind: RegistryErrorKind,
        message: string,
        /** The HTTP status, when the registry answered. */
        readonly status?: number,
    ) {
        super(message);
        // Set explicitly: Pulumi's closure serialization turns `super(message)` into
        // `Error.call(this, message)`, which leaves `message` unset in the dynamic provider.
        this.message = message;
        this.name = "RegistryError";
    }
}

/** Kinds that mean "the registry could not be reached or could not answer now", not "the answer is no". */
export const UNREACHABLE_KINDS: readonly RegistryErrorKind[] = ["connection", "timeout", "unavailable", "rate-limited"];

export function isRegistryUnreachable(err: unknown): err is RegistryError {
    // By name and kind, not instanceof: Pulumi's closure serialization may copy the class.
    const kind = (err as { kind?: unknown } | null)?.kind;
    return (err as Error | null)?.name === "RegistryError" && UNREACHABLE_KINDS.includes(kind as RegistryErrorKind);
}

/** Secrets shorter than this are not redacted: replacing every "a" would garble messages. */
const MIN_SECRET_LENGTH = 4;
/** A truncated excerpt ending in this many characters of a secret's start still hides them. */
const MIN_CUT_PREFIX = 2;

/**
 * The forms a secret can take in a message: as written, inside JSON text (a body excerpt
 * JSON-encodes objects, escaping quotes and backslashes), percent-encoded (inside a URL), and, for
 * base64 text such as a Basic credential's `user:password`, without padding and in base64url.
 */
function secretForms(secret: string): string[] {
    const forms = new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]);
    const unpadded = /^([A-Za-z0-9+/]+)=*$/.exec(secret)?.[1];
    if (unpadded !== undefined && secret.length % 4 === 0) {
        forms.add(unpadded);
        forms.add(unpadded.replace(/\+/g, "-").replace(/\//g, "_"));
    }
    return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * Replaces every occurrence of each secret in `text` with `***`, in each form it may take
 * (longest first, so a secret inside another is not left half visible). The start of a secret
 * that an excerpt cut off just before its "…" is replaced too, so text shortened before it was
 * redacted still shows no part of it.
 */
export function redact(text: string, secrets: readonly string[]): string {
    const forms = [...new Set(secrets.filter((s) => typeof s === "string" && s.length >= MIN_SECRET_LENGTH).flatMap(secretForms))].sort((a, b) => b.length - a.length);
    const out = forms.reduce((acc, form) => acc.split(form).join("***"), text);
    // A text without "…" is returned as it is. Whole forms are gone by now; trying the whole length keeps the loop plain.
    return out.replace(/([^…]*)…/g, (match, before: string) => {
        for (const form of forms) {
            for (let cut = form.length; cut >= MIN_CUT_PREFIX; cut--) {
                if (before.endsWith(form.slice(0, cut))) return `${before.slice(0, before.length - cut)}***…`;
            }
        }
        return match;
    });
}

/**
 * The readable start of a non-JSON body (HTML tags stripped, whitespace folded), at most `max`
 * characters. `secrets` are redacted before it is shortened, so a secret cut in half by the
 * shortening cannot survive partly.
 */
export function bodyExcerpt(body: unknown, max = 120, secrets: readonly string[] = []): string {
    const text = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
    const plain = redact(redact(text, secrets).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim(), secrets);
    return plain.length > max ? `${plain.slice(0, max)}…` : plain;
}

/**
 * A URL as messages may show it: scheme and host only. Credentials, path, query and fragment are
 * replaced by "…", since a pasted address may carry a token in any of them.
 */
export function urlForMessage(url: string): string {
    // Matches every string from its start (each part may be empty, and the last takes the rest).
    const [, scheme = "", authority, rest] = /([a-z][a-z0-9+.-]*:\/\/)?([^/?#]*)(.*)/is.exec(url.trim()) as RegExpExecArray;
    const host = authority.includes("@") ? `…@${authority.slice(authority.lastIndexOf("@") + 1)}` : authority;
    return `${scheme}${host}${rest && rest !== "/" ? "/…" : rest}`;
}
