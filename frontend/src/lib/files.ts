// Getting image files out of drops, pastes and pickers, including whole folders.

const IMAGE_EXT = /\.(jpe?g|png|gif|webp|bmp|tiff?|avif|heic|heif)$/i;

export function isImageFile(file: File): boolean {
  return file.type.startsWith("image/") || IMAGE_EXT.test(file.name);
}

export function isHidden(name: string): boolean {
  return name.startsWith(".");
}

export function readAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error("Could not read the file."));
    reader.readAsDataURL(file);
  });
}

/** Image files in a clipboard or drag payload (no folder traversal). */
export function imageFilesFrom(data: DataTransfer | null): File[] {
  if (!data) return [];
  const files: File[] = [];
  if (data.items && data.items.length) {
    for (const item of Array.from(data.items)) {
      if (item.kind === "file") {
        const f = item.getAsFile();
        if (f && isImageFile(f)) files.push(f);
      }
    }
  }
  if (files.length === 0 && data.files) {
    for (const f of Array.from(data.files)) if (isImageFile(f)) files.push(f);
  }
  return files;
}

/** True when a drag carries files (not text or a link being dragged around the page). */
export function dragHasFiles(data: DataTransfer | null): boolean {
  return !!data && Array.from(data.types ?? []).includes("Files");
}

/** A file to upload, with its path inside a dropped or picked folder (null for loose files). */
export interface Picked {
  file: File;
  path: string | null;
}

/** A picker's files; those of a folder picker keep their path inside the folder. */
export function pickedFiles(files: FileList | File[] | null): Picked[] {
  return Array.from(files ?? [])
    .filter((f) => !isHidden(f.name))
    .map((file) => ({ file, path: file.webkitRelativePath || null }));
}

type Entry = FileSystemEntry;

function readEntries(reader: FileSystemDirectoryReader): Promise<Entry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walkEntry(entry: Entry, out: Picked[], inFolder: boolean): Promise<void> {
  if (isHidden(entry.name)) return;
  if (entry.isFile) {
    const file = await entryFile(entry as FileSystemFileEntry);
    out.push({ file, path: inFolder ? entry.fullPath.replace(/^\//, "") : null });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries answers in batches until it returns an empty list
    for (;;) {
      const batch = await readEntries(reader);
      if (batch.length === 0) break;
      for (const e of batch) await walkEntry(e, out, true);
    }
  }
}

/**
 * All files of a drop, descending into dropped folders (each file keeps its path from the
 * dropped folder on). Non-image files are kept so the upload summary can say why they were
 * skipped; hidden files are dropped.
 */
export async function filesFromDrop(data: DataTransfer | null): Promise<Picked[]> {
  if (!data) return [];
  const items = Array.from(data.items ?? []).filter((i) => i.kind === "file");
  const entries = items
    .map((i) => (typeof i.webkitGetAsEntry === "function" ? i.webkitGetAsEntry() : null))
    .filter((e): e is Entry => e !== null);
  if (entries.length > 0 && entries.length === items.length) {
    const out: Picked[] = [];
    for (const e of entries) await walkEntry(e, out, false);
    return out;
  }
  return pickedFiles(data.files);
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
