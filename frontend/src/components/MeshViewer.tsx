/** A GLB mesh in an interactive viewer (`<model-viewer>`, loaded on first use), with a download link. */

import { useEffect, useState } from "preact/hooks";

declare module "preact" {
  namespace JSX {
    interface IntrinsicElements {
      "model-viewer": HTMLAttributes<HTMLElement> & {
        src: string; alt: string; "camera-controls"?: boolean; "auto-rotate"?: boolean; "touch-action"?: string;
      };
    }
  }
}

export function MeshViewer({ src, filename }: { src: string; filename: string }) {
  const [ready, setReady] = useState(() => customElements.get("model-viewer") !== undefined);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    if (!ready) import("@google/model-viewer").then(() => setReady(true), () => setFailed(true));
  }, []);
  return (
    <figure class="mesh">
      {ready ? <model-viewer src={src} alt="The generated 3D model" camera-controls auto-rotate touch-action="pan-y" />
        : <p class="muted">{failed ? "The 3D viewer could not load; download the mesh instead." : "Loading the 3D viewer…"}</p>}
      <figcaption><a href={src} download={filename}>Download the mesh ({filename})</a></figcaption>
    </figure>
  );
}
