/** A real TCP proxy to the gateway; `cutNext(n)` drops the next connection after `n` bytes of the gateway's
 * answer were passed on (both sockets closed, like a network failure). */

import { connect, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export class CuttingProxy {
  url = "";
  cutsDone = 0;
  connections = 0;
  private readonly waiting: { count: number; resolve: () => void }[] = [];
  private readonly cuts: number[] = [];
  private readonly sockets = new Set<Socket>();
  private server!: Server;

  constructor(private readonly upstream: string) {}

  async start(): Promise<this> {
    const target = new URL(this.upstream);
    this.server = createServer((downstream) => {
      this.connections += 1;
      for (const w of this.waiting.filter((w) => w.count <= this.connections)) w.resolve();
      const cut = this.cuts.shift();
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [downstream, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      downstream.pipe(upstream);
      let passed = 0;
      upstream.on("data", (chunk: Buffer) => {
        if (cut !== undefined && passed + chunk.length >= cut) {
          downstream.write(chunk.subarray(0, cut - passed), () => {
            this.cutsDone += 1;
            downstream.destroy();
            upstream.destroy();
          });
          passed = Number.POSITIVE_INFINITY;
          return;
        }
        if (passed !== Number.POSITIVE_INFINITY) {
          passed += chunk.length;
          downstream.write(chunk);
        }
      });
      upstream.on("end", () => downstream.end());
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Resolves once `count` connections were accepted. */
  connected(count: number): Promise<void> {
    if (this.connections >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ count, resolve }));
  }

  cutNext(afterBytes: number): void {
    this.cuts.push(afterBytes);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
