"""Artifact storage: large outputs (images, meshes) as files in the data dir, each readable by its owner only.

In production the API and worker hosts share this folder (a volume); see docs/ops/deployment.md.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Artifact:
    id: str
    owner_id: str
    mime_type: str
    size_bytes: int
    path: Path

    def ref(self) -> dict[str, object]:
        return {
            "id": self.id,
            "url": f"/v1/artifacts/{self.id}",
            "mime_type": self.mime_type,
            "size_bytes": self.size_bytes,
        }


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, owner_id: str, data: bytes, mime_type: str, extension: str) -> Artifact:
        self.root.mkdir(parents=True, exist_ok=True)
        artifact_id = "art_" + secrets.token_hex(12)
        path = self.root / f"{artifact_id}.{extension}"
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        meta = {"owner_id": owner_id, "mime_type": mime_type, "size_bytes": len(data), "file": path.name}
        (self.root / f"{artifact_id}.json").write_text(json.dumps(meta))
        return Artifact(artifact_id, owner_id, mime_type, len(data), path)

    def get(self, artifact_id: str) -> Artifact | None:
        if not artifact_id.startswith("art_") or not artifact_id[4:].isalnum():
            return None
        meta_path = self.root / f"{artifact_id}.json"
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text())
        return Artifact(artifact_id, meta["owner_id"], meta["mime_type"], meta["size_bytes"], self.root / meta["file"])
