// An in-process Azure Resource Manager for one container app, answering the routes
// lib/azure/containerApps.ts calls, and behaving as ../shared/azure-pulumi-facts.md describes:
// - a PUT creates a revision for a new template suffix; re-using an inactive revision's suffix
//   silently does nothing; re-using an existing suffix with a different template is rejected;
// - a PUT (and a PATCH) applies its traffic weights at once, whether or not a revision is ready;
// - a revision that gets 0% stays active until it is deactivated;
// - a traffic PATCH answers 202 with an Azure-AsyncOperation URL and applies when that operation
//   finishes; while it runs, other changes to the app answer 409 ContainerAppLockConflict (changes
//   to one app are serialized);
// - with `scaleToZero`, a new revision is provisioned with no replica until a request reaches its
//   own address (`wake`);
// - a revision may fail to start (`failStarts`); a restart starts it again under the same name.
// Revisions become ready after `readyAfterPolls` reads of the revision list (or never). Faults
// (429, 5xx, 409, a reset connection, an answer that comes too late) can be queued to test retries.
// - deactivating a revision that still has traffic is accepted and its entry stays in the app's
//   traffic table (microsoft/azure-container-apps#410, #1345: Azure refuses neither), so that share of
//   the requests reaches a revision with no replica: the fake records each such moment in
//   `deactivatedWithTraffic` and `history[].inactiveWithTraffic` for tests to assert it never happens;
// - `authConfigs/current` does not exist until `putAuthConfig` (what azure-native's PUT of the
//   ContainerAppsAuthConfig does); a GET of it answers 404 with a *NotFound code until then (the
//   exact code is not documented; the client takes any *NotFound code as "absent");
// - until the first PUT, the app does not exist: its routes answer 404 ResourceNotFound, as ARM
//   answers for any resource that is not there;
// - with `startsUnhealthy`, a starting revision already reports Running with replicas, but an
//   Unhealthy health state (its readiness probe has not passed yet).
import * as http from "http";
import type { AddressInfo } from "net";
import { CONTAINER_APPS_API_VERSION } from "../../lib/azure/containerApps";

export interface FakeRevision {
    name: string;
    template: string;
    active: boolean;
    ready: boolean;
    pollsLeft: number;
    failed?: boolean;
    /** Scaled to zero and not woken: provisioned, no replica. */
    asleep?: boolean;
}

export interface ArmFault {
    method?: string;
    path?: RegExp;
    status?: number;
    code?: string;
    retryAfter?: string;
    /** Destroy the connection without answering. */
    reset?: boolean;
    /** Answer only after this long (longer than the client's timeout: a timeout). */
    delayMs?: number;
}

export class FakeContainerApps {
    readonly appId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/prd-fraud";
    revisions = new Map<string, FakeRevision>();
    /** Created by the first `put`. */
    exists = false;
    traffic: { revisionName: string; weight: number }[] = [];
    /** The app's ingress IP rules, as the last PUT or PATCH set them. */
    ipSecurityRestrictions: { name: string; ipAddressRange: string; action: string }[] = [];
    /** Every traffic table applied, with the revisions it gave traffic that were not ready, or not active, at that moment. */
    readonly history: {
        table: { revisionName: string; weight: number }[];
        notReadyWithTraffic: string[];
        inactiveWithTraffic: string[];
        /** The ingress IP rules and whether the auth config existed, at that moment. */
        ipSecurityRestrictions: { name: string; ipAddressRange: string; action: string }[];
        authConfigured: boolean;
    }[] = [];
    /** The app's `authConfigs/current` properties; undefined until `putAuthConfig`. */
    authConfig?: Record<string, unknown>;
    /** Revisions per page of the list (the rest follows at `nextLink`, as ARM pages lists); default all. */
    pageSize?: number;
    /** Starting revisions report Running with replicas but Unhealthy until they are ready. */
    startsUnhealthy = false;
    readyAfterPolls = 1;
    /** Azure Monitor's Metrics - List of the app (api-version 2023-10-01); unset: 404. */
    metricsAnswer?: (query: URLSearchParams) => { status: number; body: unknown };
    /** Revisions (by suffix) that never become ready. */
    neverReady = new Set<string>();
    /** New revisions start with no replica, until a request reaches their address. */
    scaleToZero = false;
    /** Revisions (by suffix) whose next N starts fail. */
    failStarts = new Map<string, number>();
    /** Reads of an operation's status before it finishes. */
    operationPolls = 1;
    readonly faults: ArmFault[] = [];
    /** The origin operation URLs name (default: the one the request came to). */
    operationOrigin?: string;
    /** Revisions deactivated while they still had a share of the traffic. */
    readonly deactivatedWithTraffic: string[] = [];
    /** Requests that found the app locked by a running operation. */
    readonly lockConflicts: string[] = [];
    readonly calls: string[] = [];
    private readonly operations = new Map<string, { pollsLeft: number; apply: () => void }>();
    private operationCount = 0;
    private readonly server = http.createServer((req, res) => this.handle(req, res));

    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    stop(): Promise<void> {
        this.server.closeAllConnections();
        return new Promise((resolve) => this.server.close(() => resolve()));
    }

    /** What azure-native's PUT of the app does: template (a revision suffix) and traffic. */
    put(suffix: string, template: string, traffic: { revisionName: string; weight: number }[], ipSecurityRestrictions?: { name: string; ipAddressRange: string; action: string }[]): void {
        const name = `prd-fraud--${suffix}`;
        const existing = this.revisions.get(name);
        if (existing && existing.template !== template) throw new Error(`revision with suffix ${suffix} already exists`);
        if (!existing) {
            const revision: FakeRevision = { name, template, active: true, ready: false, pollsLeft: this.neverReady.has(suffix) ? Infinity : this.readyAfterPolls, asleep: this.scaleToZero };
            this.revisions.set(name, revision);
            this.boot(revision);
        }
        for (const entry of traffic.filter((t) => t.weight > 0)) {
            if (!this.revisions.has(entry.revisionName)) throw new Error(`traffic names revision ${entry.revisionName}, which does not exist`);
        }
        this.exists = true;
        // A PUT replaces the ingress: its IP rules are the ones it carries (none: any address).
        if (ipSecurityRestrictions) this.ipSecurityRestrictions = ipSecurityRestrictions.map((r) => ({ ...r }));
        this.applyTraffic(traffic);
    }

    /** What azure-native's PUT of ContainerAppsAuthConfig `current` does (Entra on, 401 without a token by default). */
    putAuthConfig(properties: Record<string, unknown> = { platform: { enabled: true }, globalValidation: { unauthenticatedClientAction: "Return401" }, identityProviders: { azureActiveDirectory: { enabled: true } } }): void {
        this.authConfig = properties;
    }

    /** A request to a revision's own address: a revision scaled to zero starts a replica. */
    wake(fqdn: string): string {
        const revision = [...this.revisions.values()].find((r) => this.fqdn(r) === fqdn);
        if (!revision) return "no answer (ENOTFOUND)";
        if (revision.asleep) {
            revision.asleep = false;
            revision.pollsLeft = this.readyAfterPolls;
        }
        return "HTTP 401";
    }

    fqdn(revision: FakeRevision): string {
        return `${revision.name}.calmsea-12345678.westeurope.azurecontainerapps.io`;
    }

    private boot(revision: FakeRevision): void {
        const suffix = revision.name.slice(revision.name.indexOf("--") + 2);
        const failures = this.failStarts.get(suffix) ?? 0;
        revision.failed = failures > 0;
        if (failures > 0) this.failStarts.set(suffix, failures - 1);
    }

    private applyTraffic(traffic: { revisionName: string; weight: number }[]): void {
        this.traffic = traffic.map((t) => ({ revisionName: t.revisionName, weight: t.weight }));
        const notReadyWithTraffic = this.traffic.filter((t) => t.weight > 0 && !this.revisions.get(t.revisionName)?.ready).map((t) => t.revisionName);
        const inactiveWithTraffic = this.traffic.filter((t) => t.weight > 0 && this.revisions.get(t.revisionName)?.active === false).map((t) => t.revisionName);
        this.history.push({ table: this.traffic, notReadyWithTraffic, inactiveWithTraffic, ipSecurityRestrictions: this.ipSecurityRestrictions.map((r) => ({ ...r })), authConfigured: this.authConfig !== undefined });
    }

    private revisionProperties(r: FakeRevision): Record<string, unknown> {
        const starting = r.active && !r.ready && !r.failed && !r.asleep;
        const unhealthy = starting && this.startsUnhealthy;
        return {
            active: r.active,
            fqdn: this.fqdn(r),
            trafficWeight: this.traffic.find((t) => t.revisionName === r.name)?.weight ?? 0,
            provisioningState: r.failed ? "Failed" : r.ready || r.asleep || unhealthy ? "Provisioned" : "Provisioning",
            runningState: !r.active ? "Stopped" : r.failed ? "Failed" : r.ready || unhealthy ? "Running" : r.asleep ? "Stopped" : "Processing",
            healthState: r.ready ? "Healthy" : unhealthy ? "Unhealthy" : "None",
            replicas: r.active && !r.asleep && !r.failed ? 2 : 0,
        };
    }

    private json(res: http.ServerResponse, status: number, body: unknown): void {
        res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
        res.end(JSON.stringify(body));
    }

    private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => {
            const url = new URL(req.url ?? "/", "http://fake");
            this.calls.push(`${req.method} ${url.pathname}`);
            const faultAt = this.faults.findIndex((f) => (!f.method || f.method === req.method) && (!f.path || f.path.test(url.pathname)));
            if (faultAt >= 0) {
                const [fault] = this.faults.splice(faultAt, 1);
                if (fault.reset) return req.socket.destroy();
                if (fault.delayMs) {
                    // Answered too late: the client has given up by then.
                    const timer = setTimeout(() => !res.writableEnded && this.json(res, 503, { error: { code: "ServiceUnavailable", message: "late" } }), fault.delayMs);
                    res.on("close", () => clearTimeout(timer));
                    return;
                }
                res.writeHead(fault.status ?? 503, { "Content-Type": "application/json; charset=utf-8", ...(fault.retryAfter ? { "Retry-After": fault.retryAfter } : {}) });
                return res.end(JSON.stringify({ error: { code: fault.code ?? "ServiceUnavailable", message: "fault injected by the test" } }));
            }
            if (req.method === "GET" && url.pathname === `${this.appId}/providers/Microsoft.Insights/metrics`) {
                if (url.searchParams.get("api-version") !== "2023-10-01") return this.json(res, 400, { error: { code: "InvalidApiVersionParameter", message: "bad api-version" } });
                if (!this.metricsAnswer) return this.json(res, 404, { error: { code: "ResourceNotFound", message: "no metrics here" } });
                const answer = this.metricsAnswer(url.searchParams);
                return this.json(res, answer.status, answer.body);
            }
            if (url.searchParams.get("api-version") !== CONTAINER_APPS_API_VERSION) return this.json(res, 400, { error: { code: "InvalidApiVersionParameter", message: "bad api-version" } });
            if (!req.headers.authorization?.startsWith("Bearer ")) return this.json(res, 401, { error: { code: "AuthenticationFailed", message: "no token" } });
            const operation = /\/containerappOperationStatuses\/([^/]+)$/.exec(url.pathname);
            if (req.method === "GET" && operation) {
                const pending = this.operations.get(operation[1]);
                if (!pending) return this.json(res, 404, { error: { code: "NotFound", message: "no such operation" } });
                if (--pending.pollsLeft > 0) return this.json(res, 200, { id: url.pathname, name: operation[1], status: "InProgress" });
                pending.apply();
                this.operations.delete(operation[1]);
                return this.json(res, 200, { id: url.pathname, name: operation[1], status: "Succeeded" });
            }
            if (!this.exists && (url.pathname === this.appId || url.pathname.startsWith(`${this.appId}/`))) {
                return this.json(res, 404, { error: { code: "ResourceNotFound", message: "The Resource 'Microsoft.App/containerApps/prd-fraud' under resource group 'rg' was not found." } });
            }
            if (req.method === "GET" && url.pathname === `${this.appId}/revisions`) {
                for (const r of this.revisions.values()) {
                    if (r.active && !r.ready && !r.failed && !r.asleep && --r.pollsLeft <= 0) r.ready = true;
                }
                const all = [...this.revisions.values()];
                const from = Number(url.searchParams.get("$skiptoken") ?? 0);
                const page = this.pageSize ? all.slice(from, from + this.pageSize) : all;
                const more = this.pageSize !== undefined && from + this.pageSize < all.length;
                return this.json(res, 200, {
                    value: page.map((r) => ({ name: r.name, properties: this.revisionProperties(r) })),
                    nextLink: more ? `http://${req.headers.host}${url.pathname}?api-version=${CONTAINER_APPS_API_VERSION}&$skiptoken=${from + this.pageSize!}` : null,
                });
            }
            if (req.method === "GET" && url.pathname === `${this.appId}/authConfigs/current`) {
                if (!this.authConfig) return this.json(res, 404, { error: { code: "AuthConfigNotFound", message: "The auth config 'current' was not found." } });
                return this.json(res, 200, { id: url.pathname, name: "current", type: "Microsoft.App/containerApps/authConfigs", properties: this.authConfig });
            }
            // Changes to one app are serialized: nothing else changes it while an operation runs.
            if (req.method !== "GET" && this.operations.size > 0) {
                this.lockConflicts.push(`${req.method} ${url.pathname}`);
                return this.json(res, 409, { error: { code: "ContainerAppLockConflict", message: "Another operation is in progress on this container app." } });
            }
            const action = /^(.*)\/revisions\/([^/]+)\/(activate|deactivate|restart)$/.exec(url.pathname);
            if (req.method === "POST" && action && action[1] === this.appId) {
                const revision = this.revisions.get(action[2]);
                if (!revision) return this.json(res, 404, { error: { code: "ContainerAppRevisionNotFound", message: "not found" } });
                if (action[3] === "restart") {
                    revision.ready = false;
                    revision.pollsLeft = this.readyAfterPolls;
                    this.boot(revision);
                    return this.json(res, 200, {});
                }
                revision.active = action[3] === "activate";
                // An activated revision starts its replicas again.
                if (revision.active) {
                    revision.pollsLeft = this.readyAfterPolls;
                    revision.asleep = this.scaleToZero;
                }
                revision.ready = false;
                if (!revision.active && this.traffic.some((t) => t.revisionName === revision.name && t.weight > 0)) {
                    // Accepted, and the entry stays (see the top of this file): that share now reaches no replica.
                    this.deactivatedWithTraffic.push(revision.name);
                    this.applyTraffic(this.traffic);
                }
                return this.json(res, 200, {});
            }
            if (req.method === "PATCH" && url.pathname === this.appId) {
                const ingress = JSON.parse(body)?.properties?.configuration?.ingress;
                const id = `op-${++this.operationCount}`;
                // The patch finishes asynchronously: its weights apply when the operation succeeds.
                this.operations.set(id, {
                    pollsLeft: this.operationPolls,
                    apply: () => {
                        // A merge patch: a list given replaces the app's list; an absent one leaves it.
                        if (ingress?.ipSecurityRestrictions) this.ipSecurityRestrictions = ingress.ipSecurityRestrictions;
                        // An ingress change alone is a moment too.
                        if (!ingress?.traffic) return this.applyTraffic(this.traffic);
                        this.applyTraffic(ingress?.traffic);
                    },
                });
                const origin = this.operationOrigin ?? `http://${req.headers.host}`;
                res.writeHead(202, {
                    "Content-Type": "application/json; charset=utf-8",
                    "Azure-AsyncOperation": `${origin}/subscriptions/s/providers/Microsoft.App/locations/westeurope/containerappOperationStatuses/${id}?api-version=${CONTAINER_APPS_API_VERSION}`,
                    "Retry-After": "1",
                });
                return res.end("");
            }
            if (url.pathname === this.appId || url.pathname.startsWith(`${this.appId}/`)) return this.json(res, 404, { error: { code: "NotFound", message: "no route" } });
            return this.json(res, 404, { error: { code: "ResourceNotFound", message: `The Resource was not found.` } });
        });
    }
}
