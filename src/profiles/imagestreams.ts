/**
 * Catalog images from OpenShift ImageStreams annotated the way Open Data Hub annotates notebook
 * images: one card per tag, with the stream's name and description, the tag's software list and
 * its recommended / outdated marks, run from the tag's imported image reference. Pure: the watch
 * that feeds it lives in src/kubernetes/imagestreams.ts.
 */
import type { ImageConfig } from './schema.js';

/** The label that marks a stream as a notebook image. */
export const NOTEBOOK_IMAGE_LABEL = 'opendatahub.io/notebook-image';

const ANNOTATION = {
  name: 'opendatahub.io/notebook-image-name',
  description: 'opendatahub.io/notebook-image-desc',
  order: 'opendatahub.io/notebook-image-order',
  url: 'opendatahub.io/notebook-image-url',
  software: 'opendatahub.io/notebook-software',
  python: 'opendatahub.io/notebook-python-dependencies',
  recommended: 'opendatahub.io/notebook-image-recommended',
  outdated: 'opendatahub.io/image-tag-outdated',
} as const;

/** The parts of an image.openshift.io/v1 ImageStream this reads. */
export interface ImageStream {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: { tags?: { name: string; annotations?: Record<string, string> | null; from?: { kind?: string; name?: string } }[] };
  status?: { tags?: { tag: string; items?: { dockerImageReference?: string }[] | null }[] };
}

export interface DiscoveredImages {
  images: ImageConfig[];
  /** What could not be used, naming stream, tag and annotation, for the log. */
  problems: string[];
}

const SLUG = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** `python-3.11` from stream `python` and tag `3.11`; a name the catalog accepts, or undefined. */
function imageName(stream: string, tag: string): string | undefined {
  const name = `${stream}-${tag}`.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
  return SLUG.test(name) ? name : undefined;
}

/** A `[{name, version}]` annotation; a broken one is a problem, not a failure of the whole stream. */
function softwareList(value: string | undefined, where: string, problems: string[]): { name: string; version?: string }[] {
  if (!value) return [];
  try {
    const parsed: unknown = JSON.parse(value);
    if (!Array.isArray(parsed)) throw new Error('not a list');
    return parsed.flatMap((item: unknown) => {
      if (!item || typeof item !== 'object' || typeof (item as { name?: unknown }).name !== 'string') return [];
      const { name, version } = item as { name: string; version?: unknown };
      return [{ name, ...(typeof version === 'string' && version ? { version } : {}) }];
    });
  } catch (error) {
    problems.push(`${where}: expected a JSON list of {"name", "version"} (${error instanceof Error ? error.message : String(error)})`);
    return [];
  }
}

/** The image a tag runs: the newest imported item, else a tag that points at a registry directly. */
function referenceOf(stream: ImageStream, tag: string): string | undefined {
  const imported = stream.status?.tags?.find((t) => t.tag === tag)?.items?.[0]?.dockerImageReference;
  if (imported) return imported;
  const from = stream.spec?.tags?.find((t) => t.name === tag)?.from;
  return from?.kind === 'DockerImage' && from.name ? from.name : undefined;
}

export function imagesFromStreams(streams: readonly ImageStream[]): DiscoveredImages {
  const images: ImageConfig[] = [];
  const problems: string[] = [];
  for (const stream of streams) {
    const streamName = stream.metadata?.name;
    if (!streamName) continue;
    const where = `imagestream ${stream.metadata?.namespace ? `${stream.metadata.namespace}/` : ''}${streamName}`;
    const annotations = stream.metadata?.annotations ?? {};
    const order = Number(annotations[ANNOTATION.order] ?? 100);
    const tags = stream.spec?.tags ?? [];
    tags.forEach((tag, index) => {
      const name = imageName(streamName, tag.name);
      if (!name) {
        problems.push(`${where}: tag ${JSON.stringify(tag.name)} makes no valid image name`);
        return;
      }
      const reference = referenceOf(stream, tag.name);
      if (!reference) return; // not imported yet: it appears once the import finishes
      const tagAnnotations = tag.annotations ?? {};
      const contents = [
        ...softwareList(tagAnnotations[ANNOTATION.software], `${where} tag ${tag.name} ${ANNOTATION.software}`, problems),
        ...softwareList(tagAnnotations[ANNOTATION.python], `${where} tag ${tag.name} ${ANNOTATION.python}`, problems),
      ];
      const url = annotations[ANNOTATION.url];
      images.push({
        name,
        display_name: `${annotations[ANNOTATION.name] || streamName} ${tag.name}`,
        description: [annotations[ANNOTATION.description], url ? `More: ${url}` : ''].filter(Boolean).join(' '),
        contents,
        // the stream's place, then its tags in the stream's order
        order: (Number.isFinite(order) ? order : 100) + index / 1000,
        default: false,
        recommended: tagAnnotations[ANNOTATION.recommended] === 'true',
        ...(tagAnnotations[ANNOTATION.outdated] === 'true' ? { deprecated: 'This version is outdated: pick a newer one when you can.' } : {}),
        kubernetes: { image: reference },
      });
    });
  }
  return { images, problems };
}
