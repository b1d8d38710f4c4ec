/** What the hub stores about a server pod, and how it reads it back. */
import type { SpawnerState } from '../spawner.js';

export interface KubeServerState extends SpawnerState {
  backend: 'kubernetes';
  namespace: string;
  /** Absent for a Secret left without its pod (the reconciler removes it). */
  pod?: string;
  uid?: string;
  secret: string;
  user: string;
  server: string;
}

export function parseKubeState(state: SpawnerState | null | undefined): KubeServerState | null {
  if (!state || state.backend !== 'kubernetes') return null;
  const s = state as Record<string, unknown>;
  const str = (v: unknown): v is string => typeof v === 'string';
  if (!str(s.namespace) || !str(s.secret) || !str(s.user) || !str(s.server)) return null;
  if (s.pod !== undefined && !str(s.pod)) return null;
  if (s.uid !== undefined && !str(s.uid)) return null;
  return state as KubeServerState;
}
