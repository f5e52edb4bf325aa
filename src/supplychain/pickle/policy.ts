/**
 * Which globals a pickle may import. Safe names are the ones real checkpoints need
 * (tensor and array rebuilders, plain containers); dangerous names run code, touch the
 * file system or network, or reach other callables; anything else is unknown.
 */
import type { Severity } from "../../report/finding.js";

export type Verdict = { kind: "safe" } | { kind: "dangerous"; severity?: Severity; why: string } | { kind: "unknown" };

const TORCH_STORAGES = [
  "Float",
  "Double",
  "Half",
  "BFloat16",
  "Long",
  "Int",
  "Short",
  "Char",
  "Byte",
  "Bool",
  "ComplexFloat",
  "ComplexDouble",
  "QInt8",
  "QUInt8",
  "QInt32",
  "QUInt4x2",
  "QUInt2x4",
  "Untyped",
].map((t) => `torch.${t}Storage`);

const SAFE = new Set([
  ...TORCH_STORAGES,
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_tensor_v2",
  // TorchScript's list and tensor builders in constants.pkl and *.debug_pkl.
  "torch.jit._pickle.build_intlist",
  "torch.jit._pickle.build_tensorlist",
  "torch.jit._pickle.build_doublelist",
  "torch.jit._pickle.build_boollist",
  "torch.jit._pickle.build_tensor_from_id",
  "torch.jit._pickle.restore_type_tag",
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
  "torch._utils._rebuild_sparse_tensor",
  "torch._utils._rebuild_sparse_csr_tensor",
  "torch._utils._rebuild_qtensor",
  "torch._utils._rebuild_device_tensor_from_numpy",
  "torch._utils._rebuild_meta_tensor_no_storage",
  "torch._utils._rebuild_wrapper_subclass",
  "torch._utils._rebuild_nested_tensor",
  "torch._tensor._rebuild_from_type_v2",
  "torch.nn.parameter.Parameter",
  "torch.Size",
  "torch.device",
  "torch.storage.UntypedStorage",
  "torch.serialization._get_layout",
  "collections.OrderedDict",
  "collections.defaultdict",
  "collections.Counter",
  "collections.deque",
  "numpy.core.multiarray._reconstruct",
  "numpy.core.multiarray.scalar",
  "numpy._core.multiarray._reconstruct",
  "numpy._core.multiarray.scalar",
  "numpy.core.numeric._frombuffer",
  "numpy._core.numeric._frombuffer",
  "numpy.dtype",
  "numpy.ndarray",
  "joblib.numpy_pickle.NumpyArrayWrapper",
  "copyreg._reconstructor",
  "copyreg.__newobj__",
  "copyreg.__newobj_ex__",
  "copy_reg._reconstructor",
  "_codecs.encode",
  "datetime.datetime",
  "datetime.date",
  "datetime.time",
  "datetime.timedelta",
  "datetime.timezone",
  "decimal.Decimal",
  "uuid.UUID",
  ...["set", "frozenset", "complex", "slice", "bytearray", "bytes", "list", "dict", "tuple", "int", "float", "str", "bool", "range", "object"].flatMap((n) => [
    `builtins.${n}`,
    `__builtin__.${n}`,
  ]),
]);

/** Whole modules (and their submodules) that pickles have no business importing. */
const DANGEROUS_MODULES = [
  "os",
  "posix",
  "nt",
  "subprocess",
  "commands",
  "popen2",
  "runpy",
  "importlib",
  "pip",
  "socket",
  "shutil",
  "pty",
  "webbrowser",
  "urllib",
  "urllib2",
  "requests",
  "httplib",
  "http",
  "ctypes",
  "marshal",
  "_pickle",
  "cPickle",
  "dill",
  "sys",
  "code",
  "codeop",
  "types",
  "asyncio",
  "multiprocessing",
  "pdb",
  "bdb",
  "timeit",
  "profile",
  "cProfile",
  "trace",
  "platform",
  "telnetlib",
  "ftplib",
  "smtplib",
  "torch.hub",
  "numpy.f2py",
  "numpy.distutils",
  "numpy.testing",
];

const DANGEROUS_NAMES = new Map<string, Severity>([
  ...["eval", "exec", "execfile", "compile", "getattr", "setattr", "delattr", "__import__", "open", "breakpoint", "input", "globals", "locals", "vars"].flatMap(
    (n): [string, Severity][] => [
      [`builtins.${n}`, "critical"],
      [`__builtin__.${n}`, "critical"],
    ],
  ),
  ["pickle.loads", "critical"],
  ["pickle.load", "critical"],
  ["pickle._loads", "critical"],
  ["pickle._load", "critical"],
  ["pickle.Unpickler", "critical"],
  ["pickle._Unpickler", "critical"],
  ["torch.load", "critical"],
  ["torch.serialization.load", "critical"],
  ["torch.storage._load_from_bytes", "critical"],
  ["torch.jit.load", "critical"],
  ["numpy.load", "critical"],
  ["numpy.lib.npyio.load", "critical"],
  ["operator.attrgetter", "critical"],
  ["operator.methodcaller", "critical"],
  ["_operator.attrgetter", "critical"],
  ["_operator.methodcaller", "critical"],
  // partial only binds arguments; it matters when the bound callable is dangerous, which is reported on its own.
  ["functools.partial", "medium"],
  ["_functools.partial", "medium"],
]);

const cache = new Map<string, Verdict>();

export function classifyGlobal(module: string, name: string): Verdict {
  const full = `${module}.${name}`;
  const hit = cache.get(full);
  if (hit) return hit;
  const verdict = classify(module, full);
  cache.set(full, verdict);
  return verdict;
}

function classify(module: string, full: string): Verdict {
  const named = DANGEROUS_NAMES.get(full);
  if (named) return { kind: "dangerous", severity: named, why: "it runs code, loads further pickles or reaches arbitrary attributes" };
  if (SAFE.has(full)) return { kind: "safe" };
  const parts = full.split(".");
  // TorchScript archives name their own compiled classes __torch__.<path>.<Class>: the
  // TorchScript importer resolves them to the archive's code/ (scanned on its own), never
  // to a Python import.
  if (parts[0] === "__torch__" && !parts.slice(1).some((p) => p.startsWith("__") && p.endsWith("__"))) return { kind: "safe" };
  // Any dunder segment (__builtins__, __globals__, __subclasses__…) walks from a harmless object to arbitrary code;
  // __main__ and __builtin__ are only module names.
  const moduleParts = module.split(".").length;
  if (parts.some((p, i) => p.length > 4 && p.startsWith("__") && p.endsWith("__") && !(i < moduleParts && (p === "__main__" || p === "__builtin__"))))
    return { kind: "dangerous", why: "a dunder attribute reaches interpreter internals" };
  // Protocol 4 accepts dotted names, so "torch" + "hub.load" must match like "torch.hub" + "load".
  for (const m of DANGEROUS_MODULES) {
    if (full.startsWith(`${m}.`)) return { kind: "dangerous", why: `the ${m} module can run commands, touch files or reach the network` };
  }
  return { kind: "unknown" };
}

/** Callables whose bytes argument is itself a pickle, scanned as nested content. */
export const PICKLE_LOADERS = new Set(["pickle.loads", "pickle._loads", "_pickle.loads", "cPickle.loads", "dill.loads", "torch.storage._load_from_bytes"]);

/** Callables that turn a name into a module, so a later getattr on the result reaches anything. */
export const MODULE_IMPORTERS = new Set(["importlib.import_module", "builtins.__import__", "__builtin__.__import__"]);

export const GETATTR_NAMES = new Set(["builtins.getattr", "__builtin__.getattr", "operator.attrgetter", "_operator.attrgetter"]);
