// The whole stack file's schema, combined from the sections' (each in its own file): the keys in
// the order Pulumi.yaml lists them, and the subset the cross-field rules read.
import { z } from "zod";
import { boolean, ENVIRONMENTS, oneOf } from "./common";
import { closeMatch } from "./text";
import { AZURE_REGIONS } from "./regions";
import { STORAGE_KEYS } from "./storage";
import { databricksSku } from "./databricks";
import { registrySchema } from "./registry";
import { accessFields } from "./access";
import { modelsSchema } from "./models";
import { servingFields } from "./serving";
import { observabilityCrossFields, observabilityFields } from "./observability";

export const LOCATION_KEY = "azure-native:location";

const location = z.string({ error: "must be an Azure region name, such as westeurope" }).superRefine((value, ctx) => {
    if (AZURE_REGIONS.includes(value)) return;
    const squashed = value.toLowerCase().replace(/[\s_-]/g, "");
    const suggestion = AZURE_REGIONS.includes(squashed) ? squashed : closeMatch(squashed, AZURE_REGIONS);
    ctx.addIssue({
        code: "custom",
        message:
            `must be an Azure region name in lowercase without spaces, such as westeurope` +
            (suggestion ? `: did you mean ${suggestion}?` : ` (\`az account list-locations -o table\` lists them; lib/config/regions.ts says how to update the list)`),
    });
});

/**
 * The project keys this program reads, exactly as they appear after the `mlflow-platform:` prefix,
 * plus the provider key `azure-native:location`. Pulumi.yaml declares the same project keys with
 * their types and defaults; a test keeps the two in step.
 */
export const configSchema = z
    .object({
        [LOCATION_KEY]: location,
        environment: oneOf(ENVIRONMENTS),
        ...STORAGE_KEYS,
        databricksSku,
        protect: boolean(),
        registry: registrySchema,
        access: accessFields.strict(),
        models: modelsSchema,
        serving: servingFields.strict(),
        observability: observabilityFields.strict().optional(),
    })
    .strict();

/** What the cross-field rules read: each parsed on its own, so a rule runs even when an unrelated key is wrong. */
export const crossFieldSchema = z.object({
    environment: oneOf(ENVIRONMENTS),
    databricksSku,
    access: accessFields,
    registry: registrySchema,
    models: modelsSchema,
    serving: servingFields,
    observability: observabilityCrossFields.optional(),
});

/** The project keys the program reads (without the project prefix). */
export const PROJECT_CONFIG_KEYS: readonly string[] = Object.keys(configSchema.shape).filter((key) => !key.includes(":"));
