import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { RegistryKind } from "../../lib/registry/types";
import { JOB_PARAMETERS } from "../../lib/registration/jobs";

import type { DatabricksPrincipal } from "../../lib/registration/placement";

/** A Databricks principal as job permissions and run_as name them (lib/registration/placement.ts). */
export type { DatabricksPrincipal };

/** The script the job runs, shipped as a workspace file. */
export const REGISTRATION_SCRIPT = path.join(__dirname, "..", "..", "jobs", "register_model.py");

/**
 * The serverless environment the script runs in. Pickles load best with the library versions
 * they were made with: pin scikit-learn (and any other model library) to your training versions.
 */
export const REGISTRATION_ENVIRONMENT = {
    // Serverless environment versions fix the Python version and the preinstalled libraries.
    version: "4",
    dependencies: ["mlflow>=2.16,<4", "scikit-learn", "pandas", "pyarrow"],
};

export interface RegistrationJobArgs {
    /** The `databricks` provider of the workspace that holds the registry. */
    provider: pulumi.ProviderResource;
    registryKind: RegistryKind;
    /** Unity Catalog: the `catalog.schema` models are registered into (the dev schema). */
    schema?: string;
    /** Who may start runs (CAN_MANAGE_RUN): the data scientists. */
    runners: DatabricksPrincipal[];
    /**
     * The identity the job registers as; the job's owner (the deploying identity) when absent. In
     * the registry's stack, the registration principal UnityCatalogAccess declares (or a configured one).
     */
    runAs?: { servicePrincipalName: pulumi.Input<string> } | { userName: pulumi.Input<string> };
    /** What must exist before run_as may name `runAs` (its Service Principal User rule set). */
    runAsReady?: pulumi.Resource[];
    /** Workspace folder for the script, such as /Shared/mlflow-platform. */
    workspaceFolder: string;
    /** The experiment the logging runs go into (a workspace path). */
    experiment: string;
    environment?: { version: string; dependencies: string[] };
    /** A run that takes longer is stopped by Databricks. */
    timeoutSeconds?: number;
    tags: Record<string, string>;
}

/** The MLflow registry URI the script is given for each registry kind. */
function registryUri(kind: RegistryKind): string {
    // A kind `mlflow` registry without a host is this workspace's own MLflow server.
    return kind === "unity-catalog" ? "databricks-uc" : "databricks";
}

/**
 * The registration step as a Databricks job: the script as a workspace file, and a job that runs
 * it on serverless compute with the parameters pickle, model, sample and alias. Data scientists
 * may run it (CAN_MANAGE_RUN) but not change it; in Unity Catalog it registers into one schema.
 */
export class RegistrationJob extends pulumi.ComponentResource {
    readonly jobId: pulumi.Output<string>;
    readonly jobUrl: pulumi.Output<string>;
    readonly scriptPath: pulumi.Output<string>;

    constructor(name: string, args: RegistrationJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:jobs:RegistrationJob", name, {}, opts);
        if (args.registryKind === "unity-catalog" && !args.schema) {
            throw new Error(`${name}: a Unity Catalog registry needs the schema models are registered into (catalog.schema)`);
        }
        const children: pulumi.CustomResourceOptions = { parent: this, provider: args.provider };
        const environment = args.environment ?? REGISTRATION_ENVIRONMENT;

        const script = new databricks.WorkspaceFile(
            `${name}-script`,
            {
                path: `${args.workspaceFolder.replace(/\/+$/, "")}/register_model.py`,
                // The provider uploads the file and notices content changes (md5 of the source); the
                // path is relative to the project, where Pulumi runs the program and its providers.
                source: path.relative(process.cwd(), REGISTRATION_SCRIPT) || REGISTRATION_SCRIPT,
            },
            children,
        );

        // One `--name=value` token each, so an empty value (no sample, no alias) stays one argument.
        const parameters = JOB_PARAMETERS.map((p) => `--${p}={{job.parameters.${p}}}`);
        const fixed = ["--registry", registryUri(args.registryKind), "--experiment", args.experiment, ...(args.schema ? ["--schema", args.schema] : [])];

        const job = new databricks.Job(
            `${name}-job`,
            {
                name,
                description: "Registers a pickled model from Blob Storage as a model version: npm run register",
                // Overridable per run with run-now's job_parameters; the registry and schema are not.
                parameters: JOB_PARAMETERS.map((p) => ({ name: p, default: "" })),
                // Python script tasks on serverless compute need an environment (environment_key).
                environments: [{ environmentKey: "register", spec: { environmentVersion: environment.version, dependencies: environment.dependencies } }],
                tasks: [
                    {
                        taskKey: "register",
                        environmentKey: "register",
                        sparkPythonTask: { pythonFile: script.path, source: "WORKSPACE", parameters: [...parameters, ...fixed] },
                        maxRetries: 0,
                    },
                ],
                timeoutSeconds: args.timeoutSeconds ?? 3600,
                maxConcurrentRuns: 5,
                queue: { enabled: true },
                runAs: args.runAs,
                tags: args.tags,
            },
            // Setting run_as to a service principal needs its Service Principal User role first.
            { ...children, dependsOn: args.runAsReady ?? [] },
        );

        if (args.runners.length > 0) {
            new databricks.Permissions(
                `${name}-runners`,
                { jobId: job.id, accessControls: args.runners.map((principal) => ({ ...principal, permissionLevel: "CAN_MANAGE_RUN" })) },
                children,
            );
        }
        if (args.runAs) {
            // The job reads the script as the run_as identity.
            new databricks.Permissions(`${name}-script-readers`, { workspaceFilePath: script.path, accessControls: [{ ...args.runAs, permissionLevel: "CAN_READ" }] }, children);
            // The logging runs go into an experiment declared here, which the run_as identity may
            // manage explicitly rather than through the Shared folder's defaults. `mlflow.set_experiment`
            // then finds it instead of creating it (jobs/register_model.py).
            // After the script, whose upload creates the workspace folder the experiment's path is in.
            const experiment = new databricks.MlflowExperiment(`${name}-experiment`, { name: args.experiment, description: "Logging runs of the registration job" }, { ...children, dependsOn: [script] });
            new databricks.Permissions(`${name}-experiment-users`, { experimentId: experiment.id, accessControls: [{ ...args.runAs, permissionLevel: "CAN_MANAGE" }] }, children);
        }

        this.jobId = job.id;
        this.jobUrl = job.url;
        this.scriptPath = script.path;
        this.registerOutputs({ jobId: this.jobId, jobUrl: this.jobUrl, scriptPath: this.scriptPath });
    }
}
