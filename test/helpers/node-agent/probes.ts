// Container probes (readiness, liveness, startup) as the kubelet runs them: httpGet against the pod
// IP (2xx/3xx is success), tcpSocket (a connection is success), exec (exit 0 is success), every
// periodSeconds after initialDelaySeconds, with success and failure thresholds.
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

export interface ProbeResult {
  ok: boolean;
  /** Why it failed, in the kubelet's words ("HTTP probe failed with statuscode: 404"). */
  message: string;
}

export interface ProbeTarget {
  podIP: string;
  container: V1Container;
  env: Record<string, string>;
  cwd: string;
}

export async function runProbe(probe: V1Probe, target: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = Math.max(1, probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const port = resolvePort(probe.httpGet.port, target.container);
    const scheme = (probe.httpGet.scheme ?? 'HTTP').toLowerCase();
    const host = probe.httpGet.host || target.podIP;
    const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${probe.httpGet.path ?? '/'}`;
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.35', accept: '*/*' };
    for (const h of probe.httpGet.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    return new Promise<ProbeResult>((resolve) => {
      const send = scheme === 'https' ? httpsRequest : httpRequest;
      const req = send(url, { method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
      });
      req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)));
      req.on('error', (err) => resolve({ ok: false, message: `Get "${url}": ${describe(err)}` }));
      req.end();
    });
  }
  if (probe.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port, target.container);
    const host = probe.tcpSocket.host || target.podIP;
    return new Promise<ProbeResult>((resolve) => {
      const socket = connect({ host, port, timeout: timeoutMs });
      socket.once('connect', () => {
        socket.destroy();
        resolve({ ok: true, message: '' });
      });
      socket.once('timeout', () => socket.destroy(new Error('i/o timeout')));
      socket.once('error', (err) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${describe(err)}` }));
    });
  }
  if (probe.exec) {
    const [file, ...args] = probe.exec.command ?? [];
    if (!file) return { ok: false, message: 'exec probe has no command' };
    return new Promise<ProbeResult>((resolve) => {
      const child = spawn(file, args, { env: target.env, cwd: target.cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      child.once('error', (err) => resolve({ ok: false, message: describe(err) }));
      child.once('exit', (code) => resolve(code === 0 ? { ok: true, message: '' } : { ok: false, message: output.trim() || `command exited with ${code}` }));
    });
  }
  return { ok: false, message: 'probe type not supported by the node agent (use httpGet, tcpSocket or exec)' };
}

/** A named port ("http") is looked up in the container's ports. */
function resolvePort(port: number | string | object, container: V1Container): number {
  if (typeof port === 'number') return port;
  const asNumber = Number(port);
  if (String(port) !== '' && Number.isInteger(asNumber)) return asNumber;
  const named = (container.ports ?? []).find((p) => p.name === String(port));
  return named?.containerPort ?? 0;
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connect: connection refused';
  return err.message;
}

/**
 * Runs one probe of one container on its period, reporting each transition of its verdict (after
 * the thresholds). Readiness starts out failed, liveness passed; a startup probe reports once.
 */
export class ProbeLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  private verdict: boolean;

  constructor(
    private readonly kind: 'Readiness' | 'Liveness' | 'Startup',
    private readonly probe: V1Probe,
    private readonly target: ProbeTarget,
    private readonly onChange: (passing: boolean, lastFailure: string) => void,
    private readonly onFailure: (message: string) => void,
  ) {
    this.verdict = kind === 'Liveness';
  }

  start(): void {
    this.schedule(Math.max(0, this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    const result = await runProbe(this.probe, this.target);
    if (this.stopped) return;
    if (result.ok) {
      this.successes += 1;
      this.failures = 0;
    } else {
      this.failures += 1;
      this.successes = 0;
      this.onFailure(`${this.kind} probe failed: ${result.message}`);
    }
    const failureThreshold = this.probe.failureThreshold ?? 3;
    if (this.kind === 'Startup') {
      // Passes once and is done (then readiness and liveness begin), or fails for good.
      if (result.ok) return this.onChange(true, '');
      if (this.failures >= failureThreshold) return this.onChange(false, result.message);
    } else {
      const successThreshold = this.kind === 'Readiness' ? (this.probe.successThreshold ?? 1) : 1;
      if (!this.verdict && this.successes >= successThreshold) {
        this.verdict = true;
        this.onChange(true, '');
      } else if (this.verdict && this.failures >= failureThreshold) {
        this.verdict = false;
        this.onChange(false, result.message);
      }
    }
    this.schedule(Math.max(1, this.probe.periodSeconds ?? 10) * 1000);
  }
}
