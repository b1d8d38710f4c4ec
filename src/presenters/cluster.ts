import type { ClusterRow } from '../db/clusters.js';
import type { ClusterAddresses, ClusterRequest } from '../clusters/backend.js';
import { serverPrefix } from '../auth/names.js';
import { serverUrlOn, type UserHosts } from '../servers/user-hosts.js';

/** Addresses worth showing: where the notebook connects. Paths on the hub's machine are left out. */
const SHOWN_ENV = ['SPARK_MASTER_URL', 'SPARK_REMOTE', 'DASK_SCHEDULER_ADDRESS'];

export function presentCluster(row: ClusterRow, user: string, registeredWorkers: number, userHosts?: UserHosts): Record<string, unknown> {
  const request = JSON.parse(row.request) as ClusterRequest;
  const addresses = JSON.parse(row.addresses) as ClusterAddresses;
  const prefix = serverUrlOn(userHosts, user, serverPrefix(user, row.server_name));
  return {
    name: row.name,
    server: row.server_name,
    kind: row.kind,
    state: row.phase,
    workers: { requested: request.workers, registered: registeredWorkers },
    worker: request.worker,
    head: request.head,
    connect: request.connect,
    addresses: Object.fromEntries(SHOWN_ENV.filter((k) => addresses.env?.[k]).map((k) => [k, addresses.env[k]])),
    // web UIs through the user's own server (its /proxy/<port>/), so only those who may use the server see them
    ui: Object.fromEntries(Object.entries(addresses.ui ?? {}).map(([label, ui]) => [label, `${prefix}proxy/${ui.port}${ui.path.startsWith('/') ? ui.path : `/${ui.path}`}`])),
    created: row.created,
    started: row.started,
    last_error: row.last_error,
  };
}
