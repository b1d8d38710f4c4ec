/**
 * `images_from`: where catalog images come from besides the configuration files. Today: OpenShift
 * ImageStreams carrying Open Data Hub's notebook-image annotations (src/profiles/imagestreams.ts).
 */
import { z } from 'zod';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const imagesFromSchema = z.array(z.strictObject({
  imagestreams: z.strictObject({
    /** Default: the Kubernetes spawner's namespace. */
    namespace: z.string().regex(DNS_LABEL, 'a namespace is a DNS-1123 label').optional(),
    /** Which streams are notebook images (a Kubernetes label selector). */
    selector: z.string().min(1).default('opendatahub.io/notebook-image=true'),
  }),
})).default([]);

export type ImagesFromConfig = z.output<typeof imagesFromSchema>;
