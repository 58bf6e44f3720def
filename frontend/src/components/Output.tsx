/** A generation's images and meshes: inline ones as data URLs, artifacts fetched with the key (an `<img>` cannot
 * send it) and shown from object URLs. */

import type { Output as OutputData } from "@pluggably/client";
import { useEffect, useState } from "preact/hooks";

import { useApp } from "../context";
import { errorMessage } from "../errors";
import { Alert } from "./Alert";
import { MeshViewer } from "./MeshViewer";

interface Shown { url: string; mime: string; name: string }

const EXTENSIONS: Record<string, string> = { "model/gltf-binary": "glb", "model/x-ply": "ply", "model/obj": "obj",
  "image/png": "png" };

export function Output({ output, prompt }: { output: OutputData; prompt: string }) {
  const { client } = useApp();
  const [artifacts, setArtifacts] = useState<Shown[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    const urls: string[] = [];
    Promise.all((output.artifacts ?? []).map(async (ref) => {
      const blob = await client.artifacts.get(ref.url, { signal: controller.signal });
      const url = URL.createObjectURL(new Blob([blob], { type: ref.mime_type }));
      urls.push(url);
      return { url, mime: ref.mime_type, name: `${ref.id}.${EXTENSIONS[ref.mime_type] ?? "bin"}` };
    })).then((shown) => !controller.signal.aborted && setArtifacts(shown),
      (e: unknown) => !controller.signal.aborted && setError(errorMessage(e)));
    return () => {
      controller.abort();
      urls.forEach((url) => URL.revokeObjectURL(url));
    };
  }, [output]);
  const images = [
    ...(output.images ?? []).map((b64) => `data:image/png;base64,${b64}`),
    ...artifacts.filter((a) => a.mime.startsWith("image/")).map((a) => a.url),
  ];
  const meshes = artifacts.filter((a) => a.mime.startsWith("model/"));
  return (
    <div class="output">
      {images.map((src, i) => <img key={src} src={src} alt={`Generated image ${i + 1} for “${prompt}”`} />)}
      {meshes.map((mesh) => mesh.mime === "model/gltf-binary"
        ? <MeshViewer key={mesh.url} src={mesh.url} filename={mesh.name} />
        : <a key={mesh.url} href={mesh.url} download={mesh.name}>Download the mesh ({mesh.name})</a>)}
      <Alert message={error} />
    </div>
  );
}
