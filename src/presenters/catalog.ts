import type { Catalog, ImageConfig } from '../profiles/schema.js';
import { imagesFor, offeredProfilesFor, sizesFor, type PlanSubject } from '../profiles/resolve.js';

/** Contents as `{name, version}` whatever the config used. */
function contents(image: ImageConfig): { name: string; version: string | null }[] {
  return image.contents.map((c) => (typeof c === 'string' ? { name: c, version: null } : { name: c.name, version: c.version ?? null }));
}

/**
 * What one person may pick on the spawn form: visible images with their sizes and offered profiles.
 * No settings (env, volumes, secrets) — those show only in a resolved plan.
 */
export function presentSpawnOptions(catalog: Catalog, subject: PlanSubject): Record<string, unknown> {
  return {
    images: imagesFor(catalog, subject).map((image) => ({
      name: image.name,
      display_name: image.display_name,
      description: image.description,
      contents: contents(image),
      default: image.default,
      recommended: image.recommended,
      deprecated: image.deprecated ?? null,
      sizes: sizesFor(catalog, image).map((s) => s.name),
      profiles: offeredProfilesFor(catalog, subject, image.name).map((p) => p.slug),
    })),
    sizes: catalog.sizes.map((size) => ({
      name: size.name,
      display_name: size.display_name,
      description: size.description,
      default: size.default,
      cpu: size.cpu ?? null,
      memory: size.memory ?? null,
      gpu: size.gpu ?? null,
    })),
    profiles: catalog.profile_list
      .filter((p) => imagesFor(catalog, subject).some((i) => offeredProfilesFor(catalog, subject, i.name).includes(p)))
      .map((p) => ({
        slug: p.slug,
        display_name: p.display_name,
        description: p.description,
        default: p.default,
        profile_options: Object.fromEntries(Object.entries(p.profile_options).map(([key, option]) => [key, {
          display_name: option.display_name,
          choices: Object.fromEntries(Object.entries(option.choices).map(([c, choice]) => [c, { display_name: choice.display_name, description: choice.description, default: choice.default }])),
          unlisted_choice: option.unlisted_choice?.enabled
            ? {
              display_name: option.unlisted_choice.display_name,
              display_name_in_choices: option.unlisted_choice.display_name_in_choices ?? option.unlisted_choice.display_name,
              validation_regex: option.unlisted_choice.validation_regex ?? null,
              validation_regex_error_message: option.unlisted_choice.validation_regex_error_message ?? null,
            }
            : null,
        }])),
      })),
  };
}
