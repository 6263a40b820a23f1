// LeNet-5 and its deconvnet in the page: a third implementation, in float64, beside
// numpy_lenet (the from-scratch mirror) and torch_lenet (the standard).
//
// It mirrors numpy_lenet's names: conv2d / conv_transpose2d (conv.py), max_pool2d /
// max_unpool2d (pool.py), linear / relu / log_softmax (functional.py; linear_transposed is
// deconv.py's linear(v, W.T)), rectify (rules.py),
// select (selection.py), forward (model.py), backproject / project (deconv.py). The
// network's order comes from the mirror table in model.json (written by
// lenet_deconv/explorer/site.py from Python): one entry per conv/fc layer, top down,
// saying whether it is conv or fc, which pool its mirror block unpools first, its
// padding and whether it has a ReLU. Nothing here names a layer.
//
// Tensors are flat Float64Arrays in row-major (C, H, W) order, their shapes passed
// beside them, as NumPy stores them. tests/test_explorer_engine.py proves every
// function equal to NumPy float64 in Chromium; it replaces entries of `ops` to plant
// bugs, so the network calls every operation through `ops`.
"use strict";

(function () {
  // ---- the operations ----

  // Cross-correlate x (Cin, H, W) with weight (Cout, Cin, k, k), plus bias, like F.conv2d.
  function conv2d(x, [cin, h, w], weight, [cout, , k], bias, padding) {
    const ho = h + 2 * padding - k + 1, wo = w + 2 * padding - k + 1;
    const out = new Float64Array(cout * ho * wo);
    for (let o = 0; o < cout; o++) {
      for (let y = 0; y < ho; y++) {
        // The filter rows and columns that fall inside x (padding reads zeros).
        const i0 = Math.max(0, padding - y), i1 = Math.min(k, h + padding - y);
        for (let xo = 0; xo < wo; xo++) {
          const j0 = Math.max(0, padding - xo), j1 = Math.min(k, w + padding - xo);
          let sum = bias[o];
          for (let c = 0; c < cin; c++) {
            for (let i = i0; i < i1; i++) {
              const wrow = ((o * cin + c) * k + i) * k, xrow = (c * h + y + i - padding) * w + xo - padding;
              for (let j = j0; j < j1; j++) sum += weight[wrow + j] * x[xrow + j];
            }
          }
          out[(o * ho + y) * wo + xo] = sum;
        }
      }
    }
    return { values: out, shape: [cout, ho, wo] };
  }

  // Transposed conv of x (Cin, H, W) by weight (Cin, Cout, k, k), no bias: F.conv_transpose2d.
  // Each input value scatters its filter, scaled: the adjoint of conv2d, so the filter
  // lands flipped relative to a correlation. Zero inputs scatter nothing and are skipped
  // (unpooled signals are mostly zeros).
  function conv_transpose2d(x, [cin, h, w], weight, [, cout, k], padding) {
    const ho = h - 1 + k - 2 * padding, wo = w - 1 + k - 2 * padding;
    const out = new Float64Array(cout * ho * wo);
    for (let c = 0; c < cin; c++) {
      for (let y = 0; y < h; y++) {
        // The filter rows and columns that land inside the output.
        const i0 = Math.max(0, padding - y), i1 = Math.min(k, ho + padding - y);
        for (let xi = 0; xi < w; xi++) {
          const v = x[(c * h + y) * w + xi];
          if (v === 0) continue;
          const j0 = Math.max(0, padding - xi), j1 = Math.min(k, wo + padding - xi);
          for (let o = 0; o < cout; o++) {
            for (let i = i0; i < i1; i++) {
              const wrow = ((c * cout + o) * k + i) * k, orow = (o * ho + y + i - padding) * wo + xi - padding;
              for (let j = j0; j < j1; j++) out[orow + j] += v * weight[wrow + j];
            }
          }
        }
      }
    }
    return { values: out, shape: [cout, ho, wo] };
  }

  // Max over kernel x kernel windows of x (C, H, W) and the switches (flat positions in H*W).
  // PyTorch's rule (numpy_lenet/pool.py): scanning a window row by row, a value replaces
  // the maximum when it is greater or NaN, so ties go to the first position.
  function max_pool2d(x, [c, h, w], kernel, stride) {
    const ho = Math.floor((h - kernel) / stride) + 1, wo = Math.floor((w - kernel) / stride) + 1;
    const values = new Float64Array(c * ho * wo), switches = new Int32Array(c * ho * wo);
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < ho; y++) {
        for (let xo = 0; xo < wo; xo++) {
          let best = -Infinity, where = (y * stride) * w + xo * stride;
          for (let i = 0; i < kernel; i++) {
            for (let j = 0; j < kernel; j++) {
              const pos = (y * stride + i) * w + xo * stride + j, v = x[ch * h * w + pos];
              if (v > best || Number.isNaN(v)) { best = v; where = pos; }
            }
          }
          values[(ch * ho + y) * wo + xo] = best;
          switches[(ch * ho + y) * wo + xo] = where;
        }
      }
    }
    return { values, switches, shape: [c, ho, wo] };
  }

  // Put each value of x (C, h, w) at its switch in a zero (C, H, W) plane, like F.max_unpool2d.
  function max_unpool2d(x, switches, [c, h, w], [ho, wo]) {
    const out = new Float64Array(c * ho * wo);
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < h * w; i++) out[ch * ho * wo + switches[ch * h * w + i]] = x[ch * h * w + i];
    }
    return { values: out, shape: [c, ho, wo] };
  }

  // weight (out, in) times x (in), plus bias when given: F.linear on one vector.
  function linear(x, weight, [rows, cols], bias) {
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let sum = bias ? bias[r] : 0;
      for (let j = 0; j < cols; j++) sum += weight[r * cols + j] * x[j];
      out[r] = sum;
    }
    return out;
  }

  // weight^T (in, out) times x (out), no bias: the transposed fc filter, numpy_lenet's
  // linear(x, W.T). Each input scatters its row of weight, scaled; zero inputs are skipped
  // (a max or unit selection keeps one).
  function linear_transposed(x, weight, [rows, cols]) {
    const out = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const v = x[r];
      if (v === 0) continue;
      for (let j = 0; j < cols; j++) out[j] += v * weight[r * cols + j];
    }
    return out;
  }

  function relu(x) {
    return x.map((v) => (v > 0 ? v : 0));
  }

  function log_softmax(x) {
    let top = -Infinity;
    for (const v of x) top = Math.max(top, v);
    let sum = 0;
    for (const v of x) sum += Math.exp(v - top);
    const log = Math.log(sum);
    return x.map((v) => v - top - log);
  }

  // The mirror ReLU step of `rule` (numpy_lenet/rules.py): deconvnet relu(r), gradient
  // r * [z > 0], guided relu(r) * [z > 0]; `forward` holds the post-ReLU activations a,
  // and [z > 0] is [a > 0].
  function rectify(signal, forward, rule) {
    if (rule === "deconvnet") return relu(signal);
    if (rule !== "gradient" && rule !== "guided") throw new Error(`unknown rule ${rule}`);
    return signal.map((r, i) => (forward[i] > 0 ? (rule === "guided" && r < 0 ? 0 : r) : 0));
  }

  // Through `ops`, so that the tests can swap one operation for a planted bug.
  const ops = {
    conv2d, conv_transpose2d, max_pool2d, max_unpool2d, linear, linear_transposed, relu, log_softmax, rectify,
  };

  // ---- the network, read from model.json ----

  let model = null;

  // Fetch model.json and its weight file (relative to the page); resolve to the model.
  async function load(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    const spec = await response.json();
    const binary = await fetch(new URL(spec.weights.file, response.url));
    if (!binary.ok) throw new Error(`${spec.weights.file}: ${binary.status}`);
    useModel(spec, await binary.arrayBuffer());
    return model;
  }

  // Take the model: spec (model.json) and the weight file's bytes (little-endian float64).
  function useModel(spec, buffer) {
    const all = new Float64Array(buffer);
    const params = {};
    for (const [name, { offset, shape }] of Object.entries(spec.weights.params)) {
      params[name] = { values: all.subarray(offset, offset + shape.reduce((a, b) => a * b, 1)), shape };
    }
    const shapes = Object.fromEntries(spec.layers.map((l) => [l.name, l.shape]));
    model = { spec, params, shapes };
  }

  function need() {
    if (!model) throw new Error("window.lenet: no model loaded (await window.lenet.ready)");
    return model;
  }

  function size(shape) {
    return shape.reduce((a, b) => a * b, 1);
  }

  // The forward pass of one image, pixels (784 values in [0, 1]): log-probabilities,
  // every named layer's activations (post-ReLU; fc3 the logits) and the pools' switches.
  function forward(pixels) {
    const { spec, params, shapes } = need();
    if (pixels.length !== size(spec.input_shape)) throw new Error(`forward takes ${size(spec.input_shape)} pixels`);
    const activations = {}, switches = {};
    let x = Float64Array.from(pixels), shape = spec.input_shape;
    for (const entry of [...spec.mirror].reverse()) {  // the mirror table read bottom up
      const weight = params[`${entry.name}.weight`], bias = params[`${entry.name}.bias`].values;
      if (entry.kind === "conv") {
        ({ values: x, shape } = ops.conv2d(x, shape, weight.values, weight.shape, bias, entry.padding));
      } else {
        x = ops.linear(x, weight.values, weight.shape, bias);  // (C, H, W) flattens in place
        shape = [x.length];
      }
      if (entry.relu) x = ops.relu(x);
      activations[entry.name] = x;
      if (entry.unpool) {
        const pool = spec.pools[entry.unpool];
        const pooled = ops.max_pool2d(x, shape, pool.kernel, pool.stride);
        ({ values: x, shape } = pooled);
        activations[entry.unpool] = x;
        switches[entry.unpool] = pooled.switches;
      }
    }
    for (const name of Object.keys(shapes)) {
      if (size(shapes[name]) !== activations[name].length) throw new Error(`${name} has the wrong shape`);
    }
    // The top layer of the table holds the logits.
    return { logProbs: ops.log_softmax(activations[spec.mirror[0].name]), activations, switches };
  }

  // The mirror blocks from the top down, each {block, operations: [[stage, step]]}: a pool
  // block unpools; a conv/fc block takes its ReLU step (if it has a ReLU) then its transposed
  // filter. A step maps a signal (Float64Array) to the next one down.
  function mirrorBlocks(trace, rule) {
    const { spec, params, shapes } = need();
    const blocks = [];
    for (const entry of spec.mirror) {
      if (entry.unpool) {
        const pool = entry.unpool, below = shapes[spec.pools[pool].input];
        blocks.push({ block: pool, operations: [["unpool", (v) =>
          ops.max_unpool2d(v, trace.switches[pool], shapes[pool], below.slice(1)).values]] });
      }
      const operations = [];
      if (entry.relu) operations.push(["relu", (v) => ops.rectify(v, trace.activations[entry.name], rule)]);
      const weight = params[`${entry.name}.weight`];
      if (entry.kind === "conv") {
        operations.push(["filter", (v) =>
          ops.conv_transpose2d(v, shapes[entry.name], weight.values, weight.shape, entry.padding).values]);
      } else {
        operations.push(["filter", (v) => ops.linear_transposed(v, weight.values, weight.shape)]);
      }
      blocks.push({ block: entry.name, operations });
    }
    return blocks;
  }

  // Run the mirror blocks from `layer` down to pixels (784 values). `observe(block, stage,
  // signal)`, if given, sees every signal: "in" entering each block, then each operation's output.
  function backproject(trace, layer, signal, rule, observe) {
    const blocks = mirrorBlocks(trace, rule);
    const start = blocks.findIndex((b) => b.block === layer);
    if (start < 0) throw new Error(`unknown layer ${layer}`);
    for (const { block, operations } of blocks.slice(start)) {
      if (observe) observe(block, "in", signal);
      for (const [stage, step] of operations) {
        signal = step(signal);
        if (observe) observe(block, stage, signal);
      }
    }
    return signal;
  }

  // What one selection keeps of `layer`'s activations, zeros elsewhere (numpy_lenet/selection.py):
  // map the whole channel, max its first largest value (row-major), unit the entry at unit = [y, x].
  // fc layers: every mode keeps the unit `channel`.
  function select(trace, layer, mode, channel, unit) {
    const { shapes } = need();
    const shape = shapes[layer];
    if (!shape) throw new Error(`unknown layer ${layer}`);
    if (!(Number.isInteger(channel) && channel >= 0 && channel < shape[0])) {
      throw new Error(`channel ${channel} out of range for ${layer} (0..${shape[0] - 1})`);
    }
    const values = trace.activations[layer], out = new Float64Array(values.length);
    const per = values.length / shape[0], first = channel * per;
    if (per === 1 || mode === "max") {
      let best = first;
      for (let i = first + 1; i < first + per; i++) if (values[i] > values[best]) best = i;
      out[best] = values[best];
    } else if (mode === "map") {
      out.set(values.subarray(first, first + per), first);
    } else if (mode === "unit") {
      const [y, x] = unit || [];
      if (!(y >= 0 && y < shape[1] && x >= 0 && x < shape[2])) throw new Error(`unit ${unit} out of range for ${layer}`);
      const at = first + y * shape[2] + x;
      out[at] = values[at];
    } else {
      throw new Error(`unknown mode ${mode}`);
    }
    return out;
  }

  function checkRule(rule) {
    if (!need().spec.rules.includes(rule)) throw new Error(`unknown rule ${rule}`);
  }

  // The projection to pixels (784 values) of one selection, from an existing trace.
  function projectTrace(trace, layer, mode, channel, rule, unit) {
    checkRule(rule);
    const signal = select(trace, layer, mode, channel, unit);
    // A selection that keeps only zeros projects to exact zeros: every mirror step maps
    // 0 to 0 (numpy_lenet/deconv.py's LiveProjections skips them the same way).
    if (signal.every((v) => v === 0)) return new Float64Array(size(need().spec.input_shape));
    return backproject(trace, layer, signal, rule);
  }

  // The projection to pixels of `channel` of `layer` for one image: the numbers of
  // `lenet-deconv project --backend numpy --dtype float64`. unit = [y, x] in unit mode.
  function project(pixels, layer, mode, channel, rule, unit) {
    return projectTrace(forward(pixels), layer, mode, channel, rule, unit);
  }

  // Every signal of one projection, [{block, stage, shape, values}], top down: the step-through.
  function steps(trace, layer, mode, channel, rule, unit) {
    checkRule(rule);
    const { spec, shapes } = need();
    const out = [];
    const shapeOf = (block, stage, values) => {
      // After a filter the signal lives on the layer below this block (pixels at the bottom).
      if (stage !== "filter") return shapes[block];
      const below = spec.layers[spec.layers.findIndex((l) => l.name === block) - 1];
      const shape = below ? below.shape : spec.input_shape;
      return size(shape) === values.length ? shape : [values.length];
    };
    backproject(trace, layer, select(trace, layer, mode, channel, unit), rule, (block, stage, values) => {
      const shape = stage === "unpool" ? shapes[spec.pools[block].input] : shapeOf(block, stage, values);
      out.push({ block, stage, shape, values });
    });
    return out;
  }

  window.lenet = {
    load, useModel, forward, select, backproject, project, projectTrace, steps, ops,
    get model() { return model; },
    ready: null,  // the page sets this to load("model.json")'s promise
  };
})();
