import type { z } from 'zod';
import type { catalogSchema } from './schema.js';

/**
 * The catalog Refinery ships with: three local images built by `scripts/setup-python.sh`, three
 * sizes, and profiles that give the spark and dask images a private cluster. A configuration that
 * lists `images`, `sizes` or `profiles` replaces these (the built-in profiles go with the built-in
 * images only: see catalog.ts).
 * Environment paths are relative to the Refinery checkout.
 */
export const DEFAULT_CATALOG: z.input<typeof catalogSchema> = {
  images: [
    {
      name: 'python',
      display_name: 'Python',
      description: 'JupyterLab with a Python kernel: the essentials for scripts, notebooks and small analyses.',
      contents: ['Python 3.11', { name: 'JupyterLab', version: '4.6' }, { name: 'IPython kernel', version: '7.4' }],
      order: 10,
      default: true,
      // no environment of its own: the spawner's command (spawner.command, else envs/base's jupyterhub-singleuser)
      local: {},
    },
    {
      name: 'spark',
      display_name: 'Spark',
      description: 'PySpark on Java 17, for data that does not fit in one machine’s memory. Use SparkSession.builder.getOrCreate().',
      contents: ['Python 3.11', { name: 'JupyterLab', version: '4.6' }, { name: 'PySpark', version: '4.3' }, 'Spark Connect client', 'Java 17'],
      order: 20,
      recommended: true,
      local: { environment: 'envs/spark' },
      env: { PYSPARK_PYTHON: 'python3' },
    },
    {
      name: 'dask',
      display_name: 'Dask',
      description: 'Dask and distributed for parallel pandas-style work, with the dashboard.',
      contents: ['Python 3.11', { name: 'JupyterLab', version: '4.6' }, { name: 'Dask', version: '2026.8' }, { name: 'distributed', version: '2026.8' }, { name: 'pandas', version: '3.1' }, 'pyarrow', 'Dask JupyterLab extension'],
      order: 30,
      local: { environment: 'envs/dask' },
      // dashboard links point through the server's own proxy, so they work behind Refinery's
      env: { DASK_DISTRIBUTED__DASHBOARD__LINK: '{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status' },
    },
  ],
  sizes: [
    { name: 'small', display_name: 'Small', description: 'For editing notebooks and light work.', default: true, cpu: { guarantee: 0.5, limit: 1 }, memory: { guarantee: '1G', limit: '2G' } },
    { name: 'medium', display_name: 'Medium', description: 'For most analyses.', cpu: { guarantee: 1, limit: 2 }, memory: { guarantee: '2G', limit: '4G' } },
    { name: 'large', display_name: 'Large', description: 'For big data frames in memory.', cpu: { guarantee: 2, limit: 4 }, memory: { guarantee: '4G', limit: '8G' } },
  ],
  // Each cluster image comes with a small private cluster, sized to fit a small machine twice over
  // (the machine quota in src/clusters/quota.ts); people resize it on the spawn form within their quota.
  profiles: [
    {
      name: 'spark-cluster',
      description: 'A private Spark cluster with the server; SparkSession.builder.getOrCreate() returns a Spark Connect session on it.',
      images: ['spark'],
      // Connect: the cluster's driver is already running when the server is, so a new kernel's first
      // action does not wait for a driver JVM and its executors
      clusters: [{ kind: 'spark', workers: 2, worker: { cores: 1, memory: '1Gi' }, master: { cores: 1, memory: '512Mi' }, connect: true }],
    },
    {
      name: 'dask-cluster',
      description: 'A private Dask cluster with the server; distributed.Client() connects to it.',
      images: ['dask'],
      clusters: [{ kind: 'dask', workers: 2, worker: { cores: 1, memory: '1Gi' }, scheduler: { cores: 1, memory: '512Mi' } }],
    },
  ],
  profile_list: [],
};
