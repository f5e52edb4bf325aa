/**
 * Learns the static shape and type of every value of a graph by running it once on
 * real inputs with every intermediate value exposed as an output. Gradient graphs are
 * then built for exactly that input shape (see autodiff/gradient.ts). Values fixed by the
 * input shapes alone (shape arithmetic, autodiff/shape-values.ts) keep their elements too,
 * so rules can take them as constants.
 */
import type { ValueShape } from "../autodiff/rule.js";
import { shapeDeterminedValues } from "../autodiff/shape-values.js";
import { cloneModel, type Model } from "../onnx/ir.js";
import type { Tensor } from "../tensor.js";
import { createSession, DATA_TYPE_OF, type RuntimeOptions } from "./runtime.js";

/** Fixed values larger than this are not kept: no rule needs one as a constant. */
const MAX_KEPT_ELEMENTS = 1 << 16;

export async function probeShapes(model: Model, feeds: Record<string, Tensor>, options: RuntimeOptions = {}): Promise<Map<string, ValueShape>> {
  const shapes = new Map<string, ValueShape>();
  for (const t of model.graph.initializers) shapes.set(t.name, { dims: [...t.dims], dataType: t.dataType });
  for (const [name, t] of Object.entries(feeds)) shapes.set(name, { dims: [...t.shape], dataType: DATA_TYPE_OF[t.dtype] });

  const exposed = cloneModel(model);
  const already = new Set(exposed.graph.outputs.map((o) => o.name));
  const wanted: string[] = [];
  for (const node of exposed.graph.nodes) {
    for (const o of node.outputs) {
      if (!o || shapes.has(o)) continue;
      wanted.push(o);
      // Type left undefined: ORT infers it; the element type must still be declared, so
      // we declare nothing and rely on ORT accepting outputs without type info.
      if (!already.has(o)) exposed.graph.outputs.push({ name: o, elemType: 0 });
    }
  }
  const session = await createSession(exposed, { threads: options.threads, device: "cpu" });
  try {
    const result = await session.run(feeds, wanted);
    const fixed = shapeDeterminedValues(model.graph);
    for (const name of wanted) {
      const t = result[name];
      if (!t) continue;
      const keep = fixed.has(name) && t.data.length <= MAX_KEPT_ELEMENTS;
      shapes.set(name, {
        dims: [...t.shape],
        dataType: DATA_TYPE_OF[t.dtype],
        ...(keep ? { value: Array.from(t.data as ArrayLike<number | bigint>, Number) } : {}),
      });
    }
  } finally {
    await session.release();
  }
  return shapes;
}
