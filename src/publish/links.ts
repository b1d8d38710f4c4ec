// Addresses of published pages, shared by the pages themselves and the API's publication model.

/** Where a publication's pages are: `<base>/p/<slug>`, one version, the download. `base` may be ''. */
export function publicationLinks(base: string, slug: string): { url: string; download_url: string; version(n: number): string } {
  const page = `${base}/p/${slug}`;
  return { url: page, download_url: `${page}.ipynb`, version: (n) => `${page}/v/${n}` };
}
