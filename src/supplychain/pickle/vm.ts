/**
 * A symbolic pickle machine: it decodes every opcode of protocols 0–5 and follows the
 * stack and the memo with placeholder values, so it sees what a pickle would import and
 * call (including names assembled from the memo) without ever executing anything.
 */

/** A global as imported by GLOBAL, STACK_GLOBAL, INST or an EXT code. */
export interface PickleImport {
  module: string;
  name: string;
  offset: number;
  opcode: string;
  /** Set when the module or name is the result of a call, unknown until load time. */
  computed?: boolean;
  /** Offset of the first opcode that calls it (REDUCE, OBJ, NEWOBJ…), if any. */
  calledAt?: number;
}

export interface PickleCall {
  offset: number;
  opcode: string;
  callee: Value;
  args: Value;
}

export interface PickleBuild {
  offset: number;
  target: Value;
  /** String keys of the state dict and slot-state dict. */
  keys: string[];
}

export type Value =
  | { k: "scalar" }
  | { k: "none" }
  | { k: "int"; v: number }
  | { k: "str"; v: string }
  | { k: "bytes"; v: Uint8Array }
  | { k: "tuple"; items: Value[] }
  | { k: "list" }
  | { k: "dict"; entries: Map<string, Value> }
  | { k: "global"; imp: PickleImport }
  | { k: "result"; call: PickleCall }
  | { k: "other" };

export interface PickleAnalysis {
  imports: PickleImport[];
  calls: PickleCall[];
  builds: PickleBuild[];
  /** Number of pickles read back to back from the stream. */
  pickles: number;
  /** Set when the stream breaks before a STOP: what broke and where. */
  error?: { offset: number; message: string };
  /** Bytes consumed up to the last STOP or the break. */
  end: number;
}

const SCALAR: Value = { k: "scalar" };
const NONE: Value = { k: "none" };
const OTHER: Value = { k: "other" };
const LIST: Value = { k: "list" };
const MAX_KEYS = 10_000;
const MAX_NESTING = 32;
const JOBLIB_WRAPPERS = new Set(["joblib.numpy_pickle.NumpyArrayWrapper", "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper"]);
const IDENT = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const utf8 = new TextDecoder("utf-8");
const latin1 = new TextDecoder("latin1");

class Break extends Error {}

function text(b: Uint8Array, start: number, end: number, decoder = utf8): string {
  if (end - start <= 64) {
    let ascii = true;
    for (let i = start; i < end; i++) if (b[i]! >= 0x80) ascii = false;
    if (ascii) return String.fromCharCode(...b.subarray(start, end));
  }
  return decoder.decode(b.subarray(start, end));
}

/**
 * Runs every pickle found back to back in `bytes` (legacy torch files stack several).
 * After the first STOP, a following segment that breaks before importing anything is
 * taken as trailing data (raw storages), not as a broken pickle.
 */
export function analysePickle(bytes: Uint8Array): PickleAnalysis {
  const out: PickleAnalysis = { imports: [], calls: [], builds: [], pickles: 0, end: 0 };
  let pos = 0;
  while (pos < bytes.length) {
    const before = out.imports.length + out.calls.length;
    const r = runOne(bytes, pos, out);
    if (r.error) {
      if (out.pickles === 0 || out.imports.length + out.calls.length > before) {
        out.error = r.error;
        out.end = r.error.offset;
      }
      break;
    }
    out.pickles++;
    pos = r.end;
    out.end = pos;
  }
  return out;
}

function runOne(b: Uint8Array, start: number, out: PickleAnalysis, depth = 0): { end: number; error?: { offset: number; message: string } } {
  // joblib object arrays nest a whole pickle inside the stream; bound the recursion.
  if (depth > MAX_NESTING) return { end: start, error: { offset: start, message: `more than ${MAX_NESTING} nested joblib object arrays` } };
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const stack: Value[] = [];
  const marks: number[] = [];
  const memo = new Map<number, Value>();
  let pos = start;
  let op = start;
  const need = (n: number) => {
    if (pos + n > b.length) throw new Break(`the pickle is truncated: ${n} bytes needed, ${b.length - pos} left`);
  };
  const u8 = () => {
    need(1);
    return b[pos++]!;
  };
  const u16 = () => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(b.length)) throw new Break(`a length of ${v} bytes runs past the end of the pickle`);
    return Number(v);
  };
  const line = (decoder = latin1) => {
    const nl = b.indexOf(0x0a, pos);
    if (nl < 0) throw new Break("the pickle is truncated inside a text argument");
    const s = text(b, pos, nl, decoder);
    pos = nl + 1;
    return s;
  };
  const slice = (n: number) => {
    need(n);
    const s = b.subarray(pos, pos + n);
    pos += n;
    return s;
  };
  const pop = (): Value => {
    if (stack.length <= (marks.length ? marks[marks.length - 1]! : 0)) throw new Break("stack underflow");
    return stack.pop()!;
  };
  const top = (): Value => {
    if (stack.length === 0) throw new Break("stack underflow");
    return stack[stack.length - 1]!;
  };
  const popMark = (): Value[] => {
    const m = marks.pop();
    if (m === undefined) throw new Break("no MARK to pop to");
    return stack.splice(m);
  };
  const imp = (module: string, name: string, opcode: string): Value => {
    if (!IDENT.test(module) || !IDENT.test(name)) throw new Break(`${opcode} names an invalid global ${JSON.stringify(`${module} ${name}`)}`);
    const i: PickleImport = { module, name, offset: op, opcode };
    out.imports.push(i);
    return { k: "global", imp: i };
  };
  const call = (opcode: string, callee: Value, args: Value): Value => {
    const c: PickleCall = { offset: op, opcode, callee, args };
    out.calls.push(c);
    if (callee.k === "global" && callee.imp.calledAt === undefined) callee.imp.calledAt = op;
    return { k: "result", call: c };
  };
  const get = (i: number) => {
    const v = memo.get(i);
    if (v === undefined) throw new Break(`memo key ${i} is read before it is written`);
    stack.push(v);
  };
  const addKeys = (d: Value, kv: Value[]) => {
    if (d.k !== "dict") return;
    for (let i = 0; i + 1 < kv.length; i += 2) {
      const key = kv[i]!;
      if (key.k === "str" && d.entries.size < MAX_KEYS) d.entries.set(key.v, kv[i + 1]!);
    }
  };
  try {
    for (;;) {
      op = pos;
      const code = u8();
      switch (code) {
        case 0x80: // PROTO
          if (u8() > 5) throw new Break("unsupported pickle protocol");
          break;
        case 0x95: // FRAME: only a size hint for buffering
          u64();
          break;
        case 0x2e: // STOP
          pop();
          return { end: pos };
        case 0x28: // MARK
          marks.push(stack.length);
          break;
        case 0x30: // POP
          if (stack.length && (!marks.length || stack.length > marks[marks.length - 1]!)) stack.pop();
          else popMark();
          break;
        case 0x31: // POP_MARK
          popMark();
          break;
        case 0x32: // DUP
          stack.push(top());
          break;
        case 0x49: {
          // INT (protocol 0; "00" and "01" are booleans)
          const n = Number.parseInt(line(), 10);
          stack.push(Number.isSafeInteger(n) ? { k: "int", v: n } : SCALAR);
          break;
        }
        case 0x46: // FLOAT
        case 0x4c: // LONG
          line();
          stack.push(SCALAR);
          break;
        case 0x4a: // BININT
          need(4);
          stack.push({ k: "int", v: dv.getInt32(pos, true) });
          pos += 4;
          break;
        case 0x4b: // BININT1
          stack.push({ k: "int", v: u8() });
          break;
        case 0x4d: // BININT2
          stack.push({ k: "int", v: u16() });
          break;
        case 0x47: // BINFLOAT
          need(8);
          pos += 8;
          stack.push(SCALAR);
          break;
        case 0x8a: // LONG1
          slice(u8());
          stack.push(SCALAR);
          break;
        case 0x8b: // LONG4
          slice(u32());
          stack.push(SCALAR);
          break;
        case 0x4e: // NONE
          stack.push(NONE);
          break;
        case 0x88: // NEWTRUE
        case 0x89: // NEWFALSE
          stack.push(SCALAR);
          break;
        case 0x53: {
          // STRING: a quoted Python 2 str literal
          const s = line();
          stack.push({ k: "str", v: unescapeString(s.length >= 2 && (s[0] === "'" || s[0] === '"') ? s.slice(1, -1) : s) });
          break;
        }
        case 0x54: // BINSTRING
          stack.push(strOf(slice(u32()), latin1));
          break;
        case 0x55: // SHORT_BINSTRING
          stack.push(strOf(slice(u8()), latin1));
          break;
        case 0x56: // UNICODE
          stack.push({ k: "str", v: unescapeRawUnicode(line(utf8)) });
          break;
        case 0x58: // BINUNICODE
          stack.push(strOf(slice(u32()), utf8));
          break;
        case 0x8c: // SHORT_BINUNICODE
          stack.push(strOf(slice(u8()), utf8));
          break;
        case 0x8d: // BINUNICODE8
          stack.push(strOf(slice(u64()), utf8));
          break;
        case 0x42: // BINBYTES
          stack.push({ k: "bytes", v: slice(u32()) });
          break;
        case 0x43: // SHORT_BINBYTES
          stack.push({ k: "bytes", v: slice(u8()) });
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          stack.push({ k: "bytes", v: slice(u64()) });
          break;
        case 0x97: // NEXT_BUFFER: out-of-band data supplied by the loader
          stack.push(OTHER);
          break;
        case 0x98: // READONLY_BUFFER
          top();
          break;
        case 0x29: // EMPTY_TUPLE
          stack.push({ k: "tuple", items: [] });
          break;
        case 0x74: // TUPLE
          stack.push({ k: "tuple", items: popMark() });
          break;
        case 0x85: // TUPLE1
          stack.push({ k: "tuple", items: [pop()] });
          break;
        case 0x86: {
          // TUPLE2
          const y = pop();
          stack.push({ k: "tuple", items: [pop(), y] });
          break;
        }
        case 0x87: {
          // TUPLE3
          const z = pop();
          const y = pop();
          stack.push({ k: "tuple", items: [pop(), y, z] });
          break;
        }
        case 0x5d: // EMPTY_LIST
          stack.push({ k: "list" });
          break;
        case 0x6c: // LIST
          popMark();
          stack.push({ k: "list" });
          break;
        case 0x61: // APPEND
          pop();
          top();
          break;
        case 0x65: // APPENDS
          popMark();
          top();
          break;
        case 0x7d: // EMPTY_DICT
          stack.push({ k: "dict", entries: new Map() });
          break;
        case 0x64: {
          // DICT
          const d: Value = { k: "dict", entries: new Map() };
          addKeys(d, popMark());
          stack.push(d);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = pop();
          const key = pop();
          addKeys(top(), [key, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const kv = popMark();
          addKeys(top(), kv);
          break;
        }
        case 0x8f: // EMPTY_SET
          stack.push(LIST);
          break;
        case 0x90: // ADDITEMS
          popMark();
          top();
          break;
        case 0x91: // FROZENSET
          popMark();
          stack.push(LIST);
          break;
        case 0x67: // GET
          get(Number.parseInt(line(), 10));
          break;
        case 0x68: // BINGET
          get(u8());
          break;
        case 0x6a: // LONG_BINGET
          get(u32());
          break;
        case 0x70: // PUT
          memo.set(Number.parseInt(line(), 10), top());
          break;
        case 0x71: // BINPUT
          memo.set(u8(), top());
          break;
        case 0x72: // LONG_BINPUT
          memo.set(u32(), top());
          break;
        case 0x94: // MEMOIZE
          memo.set(memo.size, top());
          break;
        case 0x63: {
          // GLOBAL
          const module = line(utf8);
          stack.push(imp(module, line(utf8), "GLOBAL"));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL: both names come from the stack, possibly fetched from the memo
          const name = pop();
          const module = pop();
          if (module.k === "str" && name.k === "str") stack.push(imp(module.v, name.v, "STACK_GLOBAL"));
          else if (computed(module) && computed(name)) {
            // A name computed at load time (e.g. str(b"os")) can be anything: no allow-list can clear it.
            const i: PickleImport = { module: nameOf(module), name: nameOf(name), offset: op, opcode: "STACK_GLOBAL", computed: true };
            out.imports.push(i);
            stack.push({ k: "global", imp: i });
          } else throw new Break("STACK_GLOBAL takes its module and name from values that are not strings");
          break;
        }
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: {
          // EXT4: a global from the copyreg extension registry, unknown without the loader's table
          const n = code === 0x82 ? u8() : code === 0x83 ? u16() : u32();
          stack.push(imp("copyreg._extension_registry", `code${n}`, "EXT"));
          break;
        }
        case 0x50: // PERSID: resolved by the loader's persistent_load (torch storages)
          line();
          stack.push(OTHER);
          break;
        case 0x51: // BINPERSID
          pop();
          stack.push(OTHER);
          break;
        case 0x52: {
          // REDUCE
          const args = pop();
          stack.push(call("REDUCE", pop(), args));
          break;
        }
        case 0x69: {
          // INST: import and call in one opcode
          const module = line(utf8);
          const cls = imp(module, line(utf8), "INST");
          stack.push(call("INST", cls, { k: "tuple", items: popMark() }));
          break;
        }
        case 0x6f: {
          // OBJ
          const items = popMark();
          if (items.length === 0) throw new Break("OBJ without a class");
          stack.push(call("OBJ", items[0]!, { k: "tuple", items: items.slice(1) }));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = pop();
          stack.push(call("NEWOBJ", pop(), args));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          const kwargs = pop();
          const args = pop();
          stack.push(call("NEWOBJ_EX", pop(), { k: "tuple", items: [args, kwargs] }));
          break;
        }
        case 0x62: {
          // BUILD: __setstate__(state), or __dict__ update plus setattr for slot state
          const state = pop();
          const target = top();
          const keys: string[] = [];
          const parts = state.k === "tuple" ? state.items : [state];
          for (const p of parts) if (p.k === "dict") keys.push(...p.entries.keys());
          out.builds.push({ offset: op, target, keys });
          if (target.k === "result" && target.call.callee.k === "global") {
            const imp = target.call.callee.imp;
            if (JOBLIB_WRAPPERS.has(`${imp.module}.${imp.name}`) && state.k === "dict") pos = skipJoblibArray(b, pos, state.entries, out, depth);
          }
          break;
        }
        default:
          throw new Break(`unknown opcode 0x${code.toString(16).padStart(2, "0")}`);
      }
    }
  } catch (e) {
    if (e instanceof Break) return { end: pos, error: { offset: op, message: e.message } };
    throw e;
  }
}

/**
 * joblib writes each array's bytes right after its NumpyArrayWrapper's BUILD: a pickle
 * of its own for object arrays, else an optional alignment pad and the raw data.
 */
function skipJoblibArray(b: Uint8Array, pos: number, state: Map<string, Value>, out: PickleAnalysis, depth: number): number {
  const dtype = state.get("dtype");
  const shape = state.get("shape");
  const code = dtype?.k === "result" && dtype.call.args.k === "tuple" ? dtype.call.args.items[0] : undefined;
  if (code?.k !== "str" || shape?.k !== "tuple") throw new Break("a joblib array wrapper has no readable dtype or shape");
  if (code.v.startsWith("O")) {
    const inner = runOne(b, pos, out, depth + 1);
    if (inner.error) throw new Break(`the pickle of a joblib object array breaks: ${inner.error.message}`);
    return inner.end;
  }
  const m = /^[<>|=]?([a-zA-Z])(\d+)$/.exec(code.v);
  if (!m) throw new Break(`joblib array dtype ${code.v} has no fixed item size`);
  let bytes = Number(m[2]) * (m[1] === "U" ? 4 : 1);
  for (const d of shape.items) {
    if (d.k !== "int" || d.v < 0) throw new Break("a joblib array shape is not a tuple of sizes");
    bytes *= d.v;
  }
  const align = state.get("numpy_array_alignment_bytes");
  if (align !== undefined && align.k !== "none") {
    if (pos >= b.length) throw new Break("the pickle is truncated inside a joblib array");
    pos += 1 + b[pos]!;
  }
  if (pos + bytes > b.length) throw new Break(`a joblib array of ${bytes} bytes runs past the end of the pickle`);
  return pos + bytes;
}

const computed = (v: Value) => v.k === "str" || v.k === "result" || v.k === "other" || v.k === "global";
const nameOf = (v: Value) => (v.k === "str" ? v.v : "<computed>");

/** Python's escape decoding of a protocol-0 STRING literal, so "o\\x73" reads as "os". */
function unescapeString(s: string): string {
  if (!s.includes("\\")) return s;
  const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", a: "\x07", b: "\b", f: "\f", v: "\v", "\\": "\\", "'": "'", '"': '"', "\n": "" };
  return s.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|[\s\S])/g, (m, e: string) => {
    if (e[0] === "x" && e.length === 3) return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(Number.parseInt(e, 8) & 0xff);
    return simple[e] ?? m;
  });
}

/** raw-unicode-escape as the UNICODE opcode uses it: only \\uXXXX and \\UXXXXXXXX are escapes. */
function unescapeRawUnicode(s: string): string {
  if (!s.includes("\\")) return s;
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u?: string, U?: string) => {
    const code = Number.parseInt(u ?? U!, 16);
    // Python's decoder refuses these too, so loading stops here: a break, as for any bad argument.
    if (code > 0x10ffff) throw new Break(`the UNICODE escape \\U${U} is beyond U+10FFFF`);
    return String.fromCodePoint(code);
  });
}

function strOf(bytes: Uint8Array, decoder: TextDecoder): Value {
  return { k: "str", v: text(bytes, 0, bytes.length, decoder) };
}
