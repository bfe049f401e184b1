// What each serving platform accepts for a model's size, in one place so config validation,
// the components and the docs agree.

/** Azure Container Instances, Linux container group without GPU (the standard regional limits). */
export const ACI_LIMITS = {
    cpu: { min: 0.1, max: 4, step: 0.1 },
    memoryGb: { min: 0.1, max: 16, step: 0.1 },
} as const;

export const WORKER_LIMITS = { min: 1, max: 32 } as const;

/** True when `value` is a whole number of `step`s (0.1-steps compared without float noise). */
export function isMultipleOf(value: number, step: number): boolean {
    const scaled = value / step;
    return Math.abs(scaled - Math.round(scaled)) < 1e-9;
}

/** Problems with a size on ACI; empty when it fits. */
export function aciSizeProblems(cpu: number, memoryGb: number): { field: "cpu" | "memoryGb"; value: number; reason: string }[] {
    const problems: { field: "cpu" | "memoryGb"; value: number; reason: string }[] = [];
    const { cpu: c, memoryGb: m } = ACI_LIMITS;
    if (cpu < c.min || cpu > c.max || !isMultipleOf(cpu, c.step)) {
        problems.push({ field: "cpu", value: cpu, reason: `must be ${c.min}-${c.max} cores in steps of ${c.step} (Azure Container Instances, Linux)` });
    }
    if (memoryGb < m.min || memoryGb > m.max || !isMultipleOf(memoryGb, m.step)) {
        problems.push({ field: "memoryGb", value: memoryGb, reason: `must be ${m.min}-${m.max} GB in steps of ${m.step} (Azure Container Instances, Linux)` });
    }
    return problems;
}

/**
 * Azure Container Apps, Consumption workload profile: CPU in steps of 0.25 up to 4 cores, and
 * memory fixed at twice the CPU (0.25 cores / 0.5 GiB … 4 cores / 8 GiB).
 */
export const CONTAINER_APP_LIMITS = {
    cpu: { min: 0.25, max: 4, step: 0.25 },
    memoryPerCpuGb: 2,
    replicas: { min: 0, max: 30 },
    concurrentRequests: { min: 1, max: 1000 },
} as const;

export function containerAppSizeProblems(cpu: number, memoryGb: number): { field: "cpu" | "memoryGb"; value: number; reason: string }[] {
    const { cpu: c, memoryPerCpuGb } = CONTAINER_APP_LIMITS;
    if (cpu < c.min || cpu > c.max || !isMultipleOf(cpu, c.step)) {
        return [{ field: "cpu", value: cpu, reason: `must be ${c.min}-${c.max} cores in steps of ${c.step} (Azure Container Apps, Consumption)` }];
    }
    if (Math.abs(memoryGb - cpu * memoryPerCpuGb) > 1e-9) {
        return [
            {
                field: "memoryGb",
                value: memoryGb,
                reason: `must be ${cpu * memoryPerCpuGb} for cpu ${cpu}: Azure Container Apps pairs each 0.25 cores with 0.5 GB (0.25/0.5, 0.5/1, 1/2, 2/4, 4/8)`,
            },
        ];
    }
    return [];
}
