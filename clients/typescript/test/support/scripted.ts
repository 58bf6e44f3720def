/** A real HTTP server answering from a script, for the unit tests: `answer(...)` queues one answer; with the
 * script empty it answers 200 `{}`. `requests` records what arrived. */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Recorded { method: string; url: string; headers: IncomingMessage["headers"]; body: string }

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

export class ScriptedServer {
  readonly requests: Recorded[] = [];
  private readonly script: Handler[] = [];
  private server!: Server;
  url = "";

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        this.requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
        const next = this.script.shift() ?? json(200, {});
        void next(req, res, body);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  answer(...handlers: Handler[]): void {
    this.script.push(...handlers);
  }

  reset(): void {
    this.script.length = 0;
    this.requests.length = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}, delayMs = 0): Handler {
  return (_req, res) => {
    setTimeout(() => {
      const payload = status === 204 ? "" : JSON.stringify(body);
      res.writeHead(status, { "Content-Type": "application/json", "X-Request-ID": "req-1", ...headers });
      res.end(payload);
    }, delayMs);
  };
}

/** An SSE answer of `events` (`[name, id, data]`); with `cut`, the connection is destroyed after that many. */
export function sse(events: [string, number | null, unknown][], options: { cut?: number; headers?: Record<string, string> } = {},
): Handler {
  return (_req, res) => {
    res.writeHead(200, { "Content-Type": "text/event-stream", ...options.headers });
    res.write(": stream open\n\n");
    events.forEach(([name, id, data], index) => {
      if (options.cut !== undefined && index >= options.cut) return;
      res.write(`event: ${name}\n${id === null ? "" : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
    });
    if (options.cut !== undefined) res.socket?.end(); // no last chunk: the body is cut short
    else res.end();
  };
}
