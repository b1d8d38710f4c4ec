// What the hub's launchers put in the environment of the processes they start, to find them again.

/** Environment variables that mark a process as started by a LocalSpawner (inherited by all its descendants). */
export const MARKER_ENV = {
  dataDir: 'REFINERY_SPAWNER_DATA_DIR',
  spawnId: 'REFINERY_SPAWN_ID',
  user: 'REFINERY_USER',
  server: 'REFINERY_SERVER_NAME',
} as const;
