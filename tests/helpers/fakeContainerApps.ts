// An in-process Azure Resource Manager for one container app, answering the routes
// lib/azure/containerApps.ts calls, and behaving as ../shared/azure-pulumi-facts.md describes:
// - a PUT creates a revision for a new template suffix; re-using an inactive revision's suffix
//   silently does nothing; re-using an existing suffix with a different template is rejected;
// - a PUT (and a PATCH) applies its traffic weights at once, whether or not a revision is ready;
// - a revision that gets 0% stays active until it is deactivated.
// Revisions become ready after `readyAfterPolls` reads of the revision list (or never).
import * as http from "http";
import type { AddressInfo } from "net";

export interface FakeRevision {
    name: string;
    template: string;
    active: boolean;
    ready: boolean;
    pollsLeft: number;
    failed?: boolean;
}

export class FakeContainerApps {
    readonly appId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/prd-fraud";
    revisions = new Map<string, FakeRevision>();
    traffic: { revisionName: string; weight: number }[] = [];
    /** The app's ingress IP rules, as the last PUT or PATCH set them. */
    ipSecurityRestrictions: { name: string; ipAddressRange: string; action: string }[] = [];
    /** Every traffic table applied, with the readiness of each revision it named at that moment. */
    readonly history: { table: { revisionName: string; weight: number }[]; notReadyWithTraffic: string[] }[] = [];
    readyAfterPolls = 1;
    /** Revisions (by suffix) that never become ready. */
    neverReady = new Set<string>();
    readonly calls: string[] = [];
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
    put(suffix: string, template: string, traffic: { revisionName: string; weight: number }[]): void {
        const name = `prd-fraud--${suffix}`;
        const existing = this.revisions.get(name);
        if (existing && existing.template !== template) throw new Error(`revision with suffix ${suffix} already exists`);
        if (!existing) {
            this.revisions.set(name, { name, template, active: true, ready: false, pollsLeft: this.neverReady.has(suffix) ? Infinity : this.readyAfterPolls });
        }
        for (const entry of traffic.filter((t) => t.weight > 0)) {
            if (!this.revisions.has(entry.revisionName)) throw new Error(`traffic names revision ${entry.revisionName}, which does not exist`);
        }
        this.applyTraffic(traffic);
    }

    private applyTraffic(traffic: { revisionName: string; weight: number }[]): void {
        this.traffic = traffic.map((t) => ({ revisionName: t.revisionName, weight: t.weight }));
        const notReadyWithTraffic = this.traffic.filter((t) => t.weight > 0 && !this.revisions.get(t.revisionName)?.ready).map((t) => t.revisionName);
        this.history.push({ table: this.traffic, notReadyWithTraffic });
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
            if (url.searchParams.get("api-version") !== "2024-03-01") return this.json(res, 400, { error: { code: "InvalidApiVersionParameter", message: "bad api-version" } });
            if (!req.headers.authorization?.startsWith("Bearer ")) return this.json(res, 401, { error: { code: "AuthenticationFailed", message: "no token" } });
            if (req.method === "GET" && url.pathname === `${this.appId}/revisions`) {
                for (const r of this.revisions.values()) {
                    if (r.active && !r.ready && --r.pollsLeft <= 0) r.ready = true;
                }
                return this.json(res, 200, {
                    value: [...this.revisions.values()].map((r) => ({
                        name: r.name,
                        properties: {
                            active: r.active,
                            trafficWeight: this.traffic.find((t) => t.revisionName === r.name)?.weight ?? 0,
                            provisioningState: r.failed ? "Failed" : r.ready ? "Provisioned" : "Provisioning",
                            runningState: !r.active ? "Stopped" : r.ready ? "Running" : "Processing",
                            healthState: r.ready ? "Healthy" : "None",
                            replicas: r.active ? 2 : 0,
                        },
                    })),
                });
            }
            const action = /^(.*)\/revisions\/([^/]+)\/(activate|deactivate)$/.exec(url.pathname);
            if (req.method === "POST" && action && action[1] === this.appId) {
                const revision = this.revisions.get(action[2]);
                if (!revision) return this.json(res, 404, { error: { code: "ContainerAppRevisionNotFound", message: "not found" } });
                revision.active = action[3] === "activate";
                // An activated revision starts its replicas again.
                if (revision.active) revision.pollsLeft = this.readyAfterPolls;
                revision.ready = false;
                if (!revision.active) this.traffic = this.traffic.filter((t) => t.revisionName !== revision.name);
                return this.json(res, 200, {});
            }
            if (req.method === "PATCH" && url.pathname === this.appId) {
                const ingress = JSON.parse(body)?.properties?.configuration?.ingress;
                // A merge patch: a list given replaces the app's list; an absent one leaves it.
                if (ingress?.ipSecurityRestrictions) this.ipSecurityRestrictions = ingress.ipSecurityRestrictions;
                this.applyTraffic(ingress?.traffic);
                return this.json(res, 202, {});
            }
            if (url.pathname === this.appId || url.pathname.startsWith(`${this.appId}/`)) return this.json(res, 404, { error: { code: "NotFound", message: "no route" } });
            return this.json(res, 404, { error: { code: "ResourceNotFound", message: `The Resource was not found.` } });
        });
    }
}
