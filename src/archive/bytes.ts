/** Little-endian record building and parsing for the ZIP structures. */

/** Builds one fixed-layout record field by field. */
export class RecordWriter {
  private readonly buf: Buffer;
  private pos = 0;

  constructor(length: number) {
    this.buf = Buffer.alloc(length);
  }

  u16(value: number): this {
    this.pos = this.buf.writeUInt16LE(value, this.pos);
    return this;
  }

  u32(value: number): this {
    this.pos = this.buf.writeUInt32LE(value >>> 0, this.pos);
    return this;
  }

  /** Sizes and offsets stay below 2^53 (a 9 PB file), so a JS number carries them exactly. */
  u64(value: number): this {
    this.pos = this.buf.writeBigUInt64LE(BigInt(value), this.pos);
    return this;
  }

  bytes(data: Uint8Array): this {
    this.buf.set(data, this.pos);
    this.pos += data.length;
    return this;
  }

  /** The record; throws if the declared length and the written fields disagree (a layout bug). */
  done(): Buffer {
    if (this.pos !== this.buf.length) throw new Error(`record length ${this.pos} != ${this.buf.length}`);
    return this.buf;
  }
}

/** Reads fields in order from a record; callers check the length before reading. */
export class RecordReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  skip(n: number): this {
    this.pos += n;
    return this;
  }

  u16(): number {
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A 64-bit field as a number; values past 2^53 cannot be real offsets in a file we can read, so they throw. */
  u64(): number {
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`64-bit field ${v} is out of range`);
    return Number(v);
  }

  bytes(n: number): Buffer {
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}
