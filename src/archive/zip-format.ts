/**
 * ZIP record layouts shared by the writer and the reader (APPNOTE 6.3.x): signatures, fixed lengths, flags,
 * the DOS timestamp encoding and the entry-name safety rule.
 */

export const SIG = {
  localHeader: 0x04034b50,
  dataDescriptor: 0x08074b50,
  centralHeader: 0x02014b50,
  zip64End: 0x06064b50,
  zip64Locator: 0x07064b50,
  end: 0x06054b50,
} as const;

export const LEN = {
  localHeader: 30,
  centralHeader: 46,
  dataDescriptor: 16,
  dataDescriptor64: 24,
  zip64End: 56,
  zip64Locator: 20,
  end: 22,
} as const;

/** 32-bit fields holding this value (and 16-bit counts holding U16_MAX) defer to the ZIP64 records. */
export const U32_MAX = 0xffffffff;
export const U16_MAX = 0xffff;

export const FLAG = {
  encrypted: 0x0001,
  dataDescriptor: 0x0008,
  strongEncryption: 0x0040,
  utf8: 0x0800,
} as const;

export const METHOD = { store: 0, deflate: 8 } as const;
export type MethodName = keyof typeof METHOD;

export const EXTRA = { zip64: 0x0001, extendedTimestamp: 0x5455 } as const;

export const VERSION = { default: 20, zip64: 45 } as const;
/** "Version made by" high byte: 3 = Unix, so readers honour the mode in the external attributes. */
export const MADE_BY_UNIX = 3 << 8;

/** External attributes of a regular file with mode 0600, as Go's `FileHeader.SetMode(0o600)` writes them. */
export const EXTERNAL_ATTRS_FILE_0600 = ((0o100000 | 0o600) << 16) >>> 0;

/**
 * Encodes `date` as MS-DOS date and time the way Go's archive/zip `timeToMsDosTime` does: plain arithmetic on
 * the calendar fields, truncated to 16 bits, with no clamping to the DOS range (1980-2107).
 * RKE forces every entry's time to `time.Unix(0, 0)`; in its UTC containers that yields
 * date 0xEC21 (1 + 1<<5 + (1970-1980)<<9, wrapped) and time 0x0000, which DOS-only readers show as 2098-01-01.
 * Go also writes an extended-timestamp extra field (see `extendedTimestampExtra`) holding the real Unix time,
 * which is what unzip and Go's reader display. We use the UTC calendar fields.
 */
export function dosDateTime(date: Date): { date: number; time: number } {
  const d = date.getUTCDate() + ((date.getUTCMonth() + 1) << 5) + ((date.getUTCFullYear() - 1980) << 9);
  const t = Math.floor(date.getUTCSeconds() / 2) + (date.getUTCMinutes() << 5) + (date.getUTCHours() << 11);
  return { date: d & 0xffff, time: t & 0xffff };
}

/** The 9-byte "UT" extra field (modification time only), identical in local and central headers, as Go writes it. */
export function extendedTimestampExtra(date: Date): Buffer {
  const buf = Buffer.alloc(9);
  buf.writeUInt16LE(EXTRA.extendedTimestamp, 0);
  buf.writeUInt16LE(5, 2);
  buf.writeUInt8(1, 4);
  buf.writeUInt32LE(Math.floor(date.getTime() / 1000) >>> 0, 5);
  return buf;
}

/**
 * Why an entry name is unsafe to store or extract, or undefined when it is fine. Leading "/" is allowed (RKE's
 * entries are absolute in-container paths); a ".." path segment, a backslash, NUL or any other control character
 * is not (zip-slip and ambiguous names), nor an empty name.
 */
export function unsafeEntryNameReason(name: string): string | undefined {
  if (name.length === 0) return "empty name";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return "control character in name";
  if (name.includes("\\")) return "backslash in name";
  if (name.split("/").includes("..")) return '".." path segment in name';
  return undefined;
}
