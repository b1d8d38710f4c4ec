import { z } from 'zod';

/**
 * A value that is a secret: given inline, or read from an environment variable or a file at load
 * time, so config files can be committed without the secret in them.
 */
export const secretRef = z.union([
  z.string().min(1),
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
]);
export type SecretRef = z.infer<typeof secretRef>;
