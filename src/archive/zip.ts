/**
 * The ZIP container: a streaming writer (data descriptors, ZIP64, names kept exactly, leading "/" included) and a
 * verifying reader for archives on disk. RKE's snapshot archives are ZIPs written by Go's archive/zip; see rke.ts
 * for their layout.
 */
export { ZipWriter, type EntryOptions, type EntryResult, type ZipWriterOptions } from "./zip-writer.js";
export { openZip, type OpenEntryOptions, type ZipEntry, type ZipReader } from "./zip-reader.js";
export { unsafeEntryNameReason } from "./zip-format.js";
