/** Named request and response types, all from the generated `schema.ts` (never written by hand). */

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

type Schemas = components["schemas"];
type Json<Op extends keyof operations, Status extends number = 200> =
  operations[Op]["responses"] extends Record<Status, { content: { "application/json": infer T } }> ? T : never;

export type ErrorObject = Schemas["ErrorObject"];
export type Modality = Schemas["Modality"];
export type ProviderName = Schemas["ProviderName"];
export type GenerateRequest = Schemas["GenerateRequest"];
export type GenerateInput = Schemas["GenerateInput"];
export type Message = Schemas["Message"];
export type TextParameters = Schemas["TextParameters"];
export type ImageParameters = Schemas["ImageParameters"];
export type MeshParameters = Schemas["MeshParameters"];
export type GenerateResponse = Schemas["GenerateResponse"];
export type Output = Schemas["Output"];
export type ArtifactRef = Schemas["ArtifactRef"];
export type Usage = Schemas["Usage"];
export type Generation = Schemas["Generation"];
export type GenerationStatus = Schemas["GenerationStatus"];
export type SessionCreate = Schemas["SessionCreate"];
export type Session = Schemas["Session"];
export type SessionSummary = Schemas["SessionSummary"];
export type SessionMessage = Schemas["SessionMessage"];
export type SessionDetail = Schemas["SessionDetail"];
export type SessionAsOf = Schemas["SessionAsOf"];
export type History = Schemas["History"];
export type HistoryEvent = History["events"][number];
export type Provider = Schemas["Provider"];
export type UsageCounts = Schemas["UsageCounts"];
export type UsageReport = Schemas["UsageReport"];
export type UsageRow = UsageReport["usage"][number];
export type CatalogEntry = Schemas["CatalogEntry"];
export type HubModel = Schemas["HubModel"];
export type DownloadRequest = Schemas["DownloadRequest"];
export type Job = Schemas["Job"];
export type JobStatus = Schemas["JobStatus"];
export type ApiKeyInfo = Schemas["ApiKeyInfo"];
export type UserCreate = Schemas["UserCreate"];
export type UserInfo = Schemas["UserInfo"];
export type CredentialIn = Schemas["CredentialIn"];
export type CredentialInfo = Schemas["CredentialInfo"];
export type LoginRequest = Schemas["LoginRequest"];
export type LoginResponse = Schemas["LoginResponse"];

export type Me = Json<"me">;
export type NewApiKey = Json<"issueKey", 201>;
export type NewUser = Json<"createUser", 201>;
export type DisabledUser = Json<"disableUser">;
export type SearchPage = Json<"searchModels">;
export type SavedCredential = Json<"setCredential">;
export type CancelledGeneration = Json<"cancelGeneration">;
export type RemovedModel = Json<"removeModel">;
