// What watches the served models (issue 21): alert rules per model and environment, the dashboard's
// tiles, the action group's receivers in words. Plain values; components/observability declares them.
export * from "./alerts";
export * from "./dashboard";
