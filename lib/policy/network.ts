// IPv4 allow-list arithmetic shared by config validation and the policy rules: how much of the
// internet a list of ranges lets in, and which ranges look like placeholders.

const IPV4_CIDR = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)(\/(3[0-2]|[12]?\d))?$/;
const ADDRESSES_IN_IPV4 = 2 ** 32;

/**
 * Most of the internet: more addresses than one /8 (16,777,216) counts as open to anyone, whether
 * written as `0.0.0.0/0`, its halves `0.0.0.0/1` + `128.0.0.0/1`, any prefix shorter than /8, or
 * many entries that add up to it.
 */
export const MAX_ALLOWED_ADDRESSES = 2 ** 24;

export interface Ipv4Range {
    /** First address as an unsigned 32-bit number. */
    start: number;
    /** Number of addresses. */
    size: number;
    text: string;
}

export function isIpv4Cidr(text: string): boolean {
    return IPV4_CIDR.test(text);
}

/** `203.0.113.0/24` or `203.0.113.7` as a range; undefined when not IPv4 CIDR notation. */
export function parseIpv4Range(text: string): Ipv4Range | undefined {
    if (!IPV4_CIDR.test(text)) return undefined;
    const [address, prefixText] = text.split("/");
    const prefix = prefixText === undefined ? 32 : Number(prefixText);
    const value = address.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
    const size = 2 ** (32 - prefix);
    // Azure (like most tools) treats the host bits of a CIDR as zero.
    return { start: Math.floor(value / size) * size, size, text };
}

/** Addresses covered by the union of `ranges` (overlaps counted once). */
export function coveredAddresses(ranges: readonly Ipv4Range[]): number {
    const sorted = [...ranges].sort((a, b) => a.start - b.start);
    let total = 0;
    let end = 0; // exclusive end of the union so far
    for (const r of sorted) {
        const rEnd = r.start + r.size;
        if (rEnd <= end) continue;
        total += rEnd - Math.max(r.start, end);
        end = rEnd;
    }
    return total;
}

/** How a list of entries fares as a gate to the internet; `open` when it lets most of it in. */
export function allowListReach(entries: readonly string[]): { open: boolean; addresses: number; describe: string } {
    const ranges = entries.map(parseIpv4Range).filter((r): r is Ipv4Range => r !== undefined);
    const addresses = coveredAddresses(ranges);
    const share = addresses / ADDRESSES_IN_IPV4;
    const describe =
        addresses === ADDRESSES_IN_IPV4
            ? "the whole internet"
            : share >= 0.01
              ? `${Math.round(share * 100)}% of the internet (${addresses} addresses)`
              : `${addresses} addresses`;
    return { open: addresses > MAX_ALLOWED_ADDRESSES, addresses, describe };
}

/** Ranges reserved for documentation (RFC 5737) or private and local use (RFC 1918, 6598, 3927, loopback). */
const PLACEHOLDER_RANGES: readonly [string, string][] = [
    ["192.0.2.0/24", "documentation"],
    ["198.51.100.0/24", "documentation"],
    ["203.0.113.0/24", "documentation"],
    ["10.0.0.0/8", "private"],
    ["172.16.0.0/12", "private"],
    ["192.168.0.0/16", "private"],
    ["100.64.0.0/10", "carrier-grade NAT"],
    ["127.0.0.0/8", "loopback"],
    ["169.254.0.0/16", "link-local"],
    ["0.0.0.0/8", "unspecified"],
];

/**
 * Why an entry cannot be a real client range on the internet (documentation-only or private),
 * or undefined when it can.
 */
export function placeholderKind(entry: string): string | undefined {
    const range = parseIpv4Range(entry);
    if (!range) return undefined;
    for (const [cidr, kind] of PLACEHOLDER_RANGES) {
        const reserved = parseIpv4Range(cidr)!;
        if (range.start >= reserved.start && range.start + range.size <= reserved.start + reserved.size) return kind;
    }
    return undefined;
}
