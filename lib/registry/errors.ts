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

/** Replaces every occurrence of each secret in `text` with `***`. */
export function redact(text: string, secrets: readonly string[]): string {
    return secrets.filter((s) => s.length >= 4).reduce((out, secret) => out.split(secret).join("***"), text);
}

/** The readable start of a non-JSON body (HTML tags stripped, whitespace folded). */
export function bodyExcerpt(body: unknown, max = 120): string {
    const text = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
    const plain = text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
    return plain.length > max ? `${plain.slice(0, max)}…` : plain;
}
