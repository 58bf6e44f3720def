/** The combobox `Model`: the catalogue (`GET /v1/models`) grouped by provider and modality. */

import type { CatalogEntry } from "@pluggably/client";

import { providerName } from "../format";

const MODALITY = { text: "text", image: "image", "3d": "3D" } as const;

export function groupOf(model: CatalogEntry): string {
  const provider = model.local ? "local" : (model.runtime ?? model.id.split(":")[0] ?? "other");
  return `${providerName(provider)} · ${MODALITY[model.modality]}`;
}

export function ModelPicker({ models, value, onChange, id = "model" }: {
  models: CatalogEntry[]; value: string; onChange(id: string): void; id?: string;
}) {
  const groups = new Map<string, CatalogEntry[]>();
  for (const model of models.filter((m) => m.status === "available")) {
    const group = groupOf(model);
    groups.set(group, [...(groups.get(group) ?? []), model]);
  }
  return (
    <div class="field inline-field">
      <label for={id}>Model</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {groups.size === 0 && <option value="">No model available</option>}
        {[...groups].map(([group, entries]) => (
          <optgroup key={group} label={group}>
            {entries.map((m) => <option key={m.id} value={m.id}>{m.local ? m.name : m.id}</option>)}
          </optgroup>
        ))}
      </select>
    </div>
  );
}
