// Saving files from the page: a Blob fetched by the client (a zip of originals) or a URL of
// this site (one original), through a temporary <a download>.

function clickLink(href: string, name: string): void {
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export function downloadBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  clickLink(url, name);
  // the download has started by then; the object URL is not needed any longer
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function downloadUrl(url: string, name: string): void {
  clickLink(url, name);
}
