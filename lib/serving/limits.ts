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
