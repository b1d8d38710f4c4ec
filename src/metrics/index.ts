import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics under JupyterHub's names where JupyterHub has one, so existing dashboards keep working. */
export class Metrics {
  readonly registry = new Registry();

  readonly totalUsers = new Gauge({ name: 'jupyterhub_total_users', help: 'Total number of users', registers: [this.registry] });
  readonly runningServers = new Gauge({ name: 'jupyterhub_running_servers', help: 'The number of user servers currently running', registers: [this.registry] });
  readonly pendingOps = new Gauge({
    name: 'jupyterhub_pending_ops', help: 'Number of pending server operations', labelNames: ['operation'] as const, registers: [this.registry],
  });
  // Bucket lists end at the last finite bound: prom-client adds the +Inf bucket itself (an explicit
  // Infinity would be exported a second time, as le="Infinity").
  readonly spawnDuration = new Histogram({
    name: 'jupyterhub_server_spawn_duration_seconds', help: 'Time taken for server spawning operation',
    labelNames: ['status'] as const, buckets: [0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 180, 300, 600], registers: [this.registry],
  });
  readonly stopDuration = new Histogram({
    name: 'jupyterhub_server_stop_seconds', help: 'Time taken for server stopping operation',
    labelNames: ['status'] as const, buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60], registers: [this.registry],
  });
  readonly pollDuration = new Histogram({
    name: 'jupyterhub_server_poll_duration_seconds', help: 'Time taken to poll if server is running',
    labelNames: ['status'] as const, buckets: [0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'jupyterhub_request_duration_seconds', help: 'Request duration for all HTTP requests',
    labelNames: ['method', 'handler', 'code'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  readonly proxiedRequests = new Counter({
    name: 'refinery_proxy_requests_total', help: 'Requests forwarded to single-user servers', labelNames: ['code'] as const, registers: [this.registry],
  });
  readonly startupDuration = new Gauge({ name: 'jupyterhub_hub_startup_duration_seconds', help: 'Time taken for Hub to start', registers: [this.registry] });
  readonly loginFailures = new Counter({ name: 'refinery_login_failures_total', help: 'Failed sign-in attempts', registers: [this.registry] });
  readonly notebookRenders = new Counter({
    name: 'refinery_notebook_renders_total', help: 'Published notebook pages rendered, when published or when first read', labelNames: ['when'] as const, registers: [this.registry],
  });
  /** Where the render queue's load is read at each scrape (app.ts points it at the engine). */
  notebookJobsLoad: () => { active: number; queued: number } = () => ({ active: 0, queued: 0 });
  readonly notebookJobs: Gauge<'state'> = new Gauge({
    name: 'refinery_notebook_jobs', help: 'Notebook checks and renders running in render threads, and waiting for one', labelNames: ['state'] as const, registers: [this.registry],
    collect: () => {
      const load = this.notebookJobsLoad();
      this.notebookJobs.set({ state: 'running' }, load.active);
      this.notebookJobs.set({ state: 'waiting' }, load.queued);
    },
  });
  readonly busyRefusals = new Counter({
    name: 'refinery_busy_refusals_total', help: 'Requests refused with 503 because a bounded queue was full', labelNames: ['queue'] as const, registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'refinery_process_' });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
