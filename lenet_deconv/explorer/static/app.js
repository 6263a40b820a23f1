// The explorer page: draws, asks window.lenet (lenet.js: the network and its deconvnet,
// in float64, in this page) and paints the answers. Nothing is fetched but the site's own
// files: model.json and weights.f64 (read by lenet.js), data.json and images.u8 (the
// sample of test images and the top-9 tables, precomputed by `lenet-deconv site`).
"use strict";

const SIDE = 28;
const state = {
  data: null, images: null, rows: new Map(), pixels: new Float64Array(SIDE * SIDE), trace: null,
  layer: "conv2", mode: "max", rule: "deconvnet", channel: null, unit: null, stepsOpen: false,
};
// The page's own timings (ms), for benchmarks/bench_explorer.py: each entry
// {what, compute, painted}: from the event to the pictures drawn, and to the next frame.
const timings = [];
const $ = (id) => document.getElementById(id);

function spec() { return window.lenet.model.spec; }
function shapeOf(layer) { return spec().layers.find((l) => l.name === layer).shape; }
function isSpatial(layer) { return shapeOf(layer).length === 3; }

// ---- painting ----
function maxAbs(values) {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

// Paint h x w values on a canvas: "gray" (0..scale, ink white) or "signed" (red +, blue -).
function paint(canvas, values, h, w, kind, scale) {
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const s = scale || maxAbs(values) || 1;
  for (let i = 0; i < h * w; i++) {
    const t = Math.max(-1, Math.min(1, values[i] / s));
    let r, g, b;
    if (kind === "gray") { r = g = b = Math.round(255 * Math.max(t, 0)); }
    else if (t >= 0) { r = 255; g = b = Math.round(255 * (1 - t)); }
    else { b = 255; r = g = Math.round(255 * (1 + t)); }
    const k = 4 * i;
    img.data[k] = r; img.data[k + 1] = g; img.data[k + 2] = b; img.data[k + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  canvas.hoverValues = { values, h, w };
}

// Bars for a vector (fc layers): one column per unit, positive up, negative down.
function paintBars(canvas, values, scale) {
  const n = values.length, cw = n > 40 ? 4 : 12, height = 40;
  canvas.width = n * cw; canvas.height = height;
  canvas.style.width = `${n * cw}px`;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, height);
  const s = scale || maxAbs(values) || 1, mid = height / 2;
  for (let j = 0; j < n; j++) {
    const v = values[j] / s;
    ctx.fillStyle = v >= 0 ? "#c62828" : "#1565c0";
    const len = Math.abs(v) * (mid - 1);
    ctx.fillRect(j * cw, v >= 0 ? mid - len : mid, cw - 1, Math.max(len, 0.5));
  }
  canvas.hoverValues = { values, h: 1, w: n };
}

function mapCanvas(classes) {
  const c = document.createElement("canvas");
  c.className = `map ${classes || ""}`;
  return c;
}

// Show "value at (y, x)" under the pointer for any painted canvas.
document.addEventListener("mousemove", (event) => {
  const hover = $("hover"), target = event.target;
  if (!(target instanceof HTMLCanvasElement) || !target.hoverValues) { hover.hidden = true; return; }
  const { values, h, w } = target.hoverValues;
  const rect = target.getBoundingClientRect();
  const x = Math.min(w - 1, Math.floor((event.clientX - rect.left) / rect.width * w));
  const y = Math.min(h - 1, Math.floor((event.clientY - rect.top) / rect.height * h));
  const where = h === 1 ? `unit ${x}` : `(${y}, ${x})`;
  hover.textContent = `${where}: ${values[y * w + x].toPrecision(4)}`;
  hover.style.left = `${event.clientX + 12}px`; hover.style.top = `${event.clientY + 12}px`;
  hover.hidden = false;
});

// ---- a digit as MNIST made theirs ----
// MNIST's digits were scaled to fit a 20x20 box (keeping their aspect ratio), then
// placed in 28x28 so that their centre of mass sits at the centre. `ink` holds
// width x height values in [0, 1] (1: ink); the result is 784 pixels.
function centreDigit(ink, width, height) {
  let top = height, left = width, bottom = -1, right = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    if (ink[y * width + x] > 0) {
      top = Math.min(top, y); bottom = Math.max(bottom, y);
      left = Math.min(left, x); right = Math.max(right, x);
    }
  }
  const out = new Float64Array(SIDE * SIDE);
  if (bottom < 0) return out;
  const bh = bottom - top + 1, bw = right - left + 1, scale = 20 / Math.max(bh, bw);
  const th = Math.max(1, Math.round(bh * scale)), tw = Math.max(1, Math.round(bw * scale));
  // Box filter: every source pixel adds its ink to the target pixel it falls in.
  const sum = new Float64Array(th * tw), count = new Float64Array(th * tw);
  for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) {
    const ty = Math.min(th - 1, Math.floor(y * th / bh)), tx = Math.min(tw - 1, Math.floor(x * tw / bw));
    sum[ty * tw + tx] += ink[(top + y) * width + left + x];
    count[ty * tw + tx] += 1;
  }
  let mass = 0, my = 0, mx = 0;
  const small = new Float64Array(th * tw);
  for (let i = 0; i < th * tw; i++) {
    small[i] = count[i] ? Math.min(1, sum[i] / count[i]) : 0;
    mass += small[i]; my += small[i] * Math.floor(i / tw); mx += small[i] * (i % tw);
  }
  // Shift so that the centre of mass lands on the middle of the 28x28 field (13.5, 13.5).
  const oy = Math.round(13.5 - (mass ? my / mass : (th - 1) / 2));
  const ox = Math.round(13.5 - (mass ? mx / mass : (tw - 1) / 2));
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) {
    const yy = y + oy, xx = x + ox;
    if (yy >= 0 && yy < SIDE && xx >= 0 && xx < SIDE) out[yy * SIDE + xx] = small[y * tw + x];
  }
  return out;
}

// The ink of an RGBA picture: luminance over white, inverted when the background
// (the border's mean) is light, so a dark digit on paper and a white one on black both work.
function inkOf(rgba, width, height) {
  const lum = new Float64Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const a = rgba[4 * i + 3] / 255;
    const l = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255;
    lum[i] = a * l + (1 - a);  // transparent counts as white paper
  }
  let border = 0, n = 0;
  for (let x = 0; x < width; x++) { border += lum[x] + lum[(height - 1) * width + x]; n += 2; }
  for (let y = 0; y < height; y++) { border += lum[y * width] + lum[y * width + width - 1]; n += 2; }
  const light = border / n > 0.5;
  // Faint noise is no ink: it would stretch the bounding box.
  return lum.map((l) => { const v = light ? 1 - l : l; return v > 0.1 ? v : 0; });
}

const pen = { down: false, x: 0, y: 0 };

function drawCanvasToDigit() {
  const canvas = $("draw"), size = canvas.width;
  const rgba = canvas.getContext("2d").getImageData(0, 0, size, size).data;
  const ink = new Float64Array(size * size);
  for (let i = 0; i < size * size; i++) ink[i] = rgba[4 * i] / 255;
  return centreDigit(ink, size, size);
}

function penAt(event) {
  const rect = $("draw").getBoundingClientRect();
  const k = $("draw").width / rect.width;
  return [(event.clientX - rect.left) * k, (event.clientY - rect.top) * k];
}

function stroke(event) {
  const ctx = $("draw").getContext("2d");
  const [x, y] = penAt(event);
  ctx.strokeStyle = "#fff"; ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.lineJoin = "round";
  ctx.beginPath(); ctx.moveTo(pen.x, pen.y); ctx.lineTo(x, y); ctx.stroke();
  pen.x = x; pen.y = y;
  setPixels(drawCanvasToDigit(), "your drawing", false);
}

function clearCanvas() {
  const canvas = $("draw"), ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height);
}

// An image is shown on the drawing canvas too, so that strokes add to it.
function showOnCanvas(pixels) {
  const canvas = $("draw"), ctx = canvas.getContext("2d"), tmp = document.createElement("canvas");
  tmp.width = SIDE; tmp.height = SIDE;
  const img = tmp.getContext("2d").createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) {
    const v = Math.round(255 * pixels[i]);
    img.data.set([v, v, v, 255], 4 * i);
  }
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

// A PNG (or any image the browser reads) dropped on the page: centred as MNIST's digits.
async function dropImage(file) {
  const bitmap = await createImageBitmap(file);
  const k = Math.min(1, 512 / Math.max(bitmap.width, bitmap.height));  // bound the work
  const width = Math.max(1, Math.round(bitmap.width * k)), height = Math.max(1, Math.round(bitmap.height * k));
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, width, height);
  const pixels = centreDigit(inkOf(ctx.getImageData(0, 0, width, height).data, width, height), width, height);
  setPixels(pixels, `dropped ${file.name}`, true);
}

// ---- the test images shipped with the site ----
function testPixels(index) {
  const row = state.rows.get(index);
  if (row === undefined) return null;
  const bytes = state.images.subarray(row * SIDE * SIDE, (row + 1) * SIDE * SIDE);
  return Float64Array.from(bytes, (v) => v / 255);  // pixel / 255, as the CLI reads MNIST
}

function loadTest(index) {
  const pixels = testPixels(index);
  if (!pixels) {
    $("status").textContent = `test image ${index} is not in this site (the sample holds ${state.data.sample.length})`;
    return;
  }
  $("test-index").value = index;
  const label = state.labels.get(index);
  setPixels(pixels, `test image ${index}, labelled ${label}`, true);
}

// ---- computing and rendering ----
let pending = false;

// New pixels: recompute the forward pass and everything shown, once per frame.
function setPixels(pixels, source, show) {
  state.pixels = pixels;
  $("source").textContent = source;
  if (show) showOnCanvas(pixels);
  if (pending) return;
  pending = true;
  document.body.dataset.busy = "true";
  requestAnimationFrame(() => {
    pending = false;
    refresh();
    document.body.dataset.busy = "false";
  });
}

function refresh() {
  state.trace = window.lenet.forward(state.pixels);
  paint($("seen"), state.pixels, SIDE, SIDE, "gray", 1);
  renderPrediction();
  renderActivations();
  renderStrip();
  renderSelected();
}

function renderPrediction() {
  const probabilities = Array.from(state.trace.logProbs, Math.exp);
  const prediction = probabilities.indexOf(Math.max(...probabilities));
  $("prediction").textContent = String(prediction);
  const box = $("probabilities");
  box.replaceChildren();
  probabilities.forEach((p, digit) => {
    const row = document.createElement("div");
    row.className = `prob${digit === prediction ? " top" : ""}`;
    const label = document.createElement("span"); label.className = "digit"; label.textContent = digit;
    const bar = document.createElement("span"); bar.className = "bar"; bar.style.width = `${Math.max(1, 160 * p)}px`;
    const value = document.createElement("span"); value.textContent = `${(100 * p).toFixed(1)}%`;
    row.append(label, bar, value);
    box.append(row);
  });
}

function renderActivations() {
  const box = $("activations");
  box.replaceChildren();
  for (const { name, shape } of spec().layers) {
    const values = state.trace.activations[name];
    const row = document.createElement("div"); row.className = "layer-row";
    const label = document.createElement("span"); label.className = "name"; label.textContent = name;
    const maps = document.createElement("div"); maps.className = "maps";
    row.append(label, maps);
    if (shape.length === 3) {
      const [c, h, w] = shape, scale = maxAbs(values) || 1;  // one scale per layer
      for (let k = 0; k < c; k++) {
        const canvas = mapCanvas("clickable");
        canvas.dataset.layer = name; canvas.dataset.channel = k;
        canvas.title = `${name} channel ${k}`;
        paint(canvas, values.subarray(k * h * w, (k + 1) * h * w), h, w, "gray", scale);
        canvas.addEventListener("click", (event) => {
          const rect = canvas.getBoundingClientRect();
          const x = Math.min(w - 1, Math.floor((event.clientX - rect.left) / rect.width * w));
          const y = Math.min(h - 1, Math.floor((event.clientY - rect.top) / rect.height * h));
          select(name, k, [y, x]);
        });
        maps.append(canvas);
      }
    } else {
      const canvas = document.createElement("canvas");
      canvas.className = "bars clickable"; canvas.dataset.layer = name;
      canvas.title = `${name}: click a unit`;
      paintBars(canvas, values);
      canvas.addEventListener("click", (event) => {
        const rect = canvas.getBoundingClientRect();
        select(name, Math.min(shape[0] - 1, Math.floor((event.clientX - rect.left) / rect.width * shape[0])), null);
      });
      const note = document.createElement("span"); note.className = "unit-note";
      maps.append(canvas, note);
    }
    box.append(row);
  }
  markSelection();
}

// Outline the selected channel wherever it is drawn, and name an fc selection.
function markSelection() {
  for (const canvas of document.querySelectorAll("canvas.clickable[data-channel]")) {
    canvas.classList.toggle("selected",
      canvas.dataset.layer === state.layer && Number(canvas.dataset.channel) === state.channel);
  }
  for (const note of document.querySelectorAll(".unit-note")) {
    const layer = note.previousSibling.dataset.layer;
    note.textContent = layer === state.layer && state.channel !== null ? `unit ${state.channel} selected` : "";
  }
}

// The whole-layer strip: every channel of the chosen layer projected (map or max mode).
function stripKey() { return `${state.layer}/${state.mode === "map"}/${state.rule}`; }

function renderStrip() {
  const started = performance.now();
  state.stripShows = stripKey();
  const shown = state.mode === "map" ? "map" : "max";
  $("projections-title").textContent =
    `every channel of ${state.layer}, ${shown} mode, ${state.rule} rule`;
  const box = $("projections");
  box.replaceChildren();
  for (let k = 0; k < shapeOf(state.layer)[0]; k++) {
    const values = window.lenet.projectTrace(state.trace, state.layer, shown, k, state.rule);
    const tile = document.createElement("div"); tile.className = "tile";
    const canvas = mapCanvas("clickable");
    canvas.dataset.layer = state.layer; canvas.dataset.channel = k;
    paint(canvas, values, SIDE, SIDE, "signed");
    canvas.addEventListener("click", () => select(state.layer, k, null));
    const caption = document.createElement("span"); caption.textContent = k;
    tile.append(canvas, caption);
    box.append(tile);
  }
  record("strip", started);
}

// The unit a selection projects: in unit mode the clicked one, else none.
function selectedUnit() {
  if (state.mode !== "unit" || !isSpatial(state.layer)) return null;
  if (!state.unit) {  // a channel picked without a position: its strongest unit
    const [, h, w] = shapeOf(state.layer), per = h * w;
    const values = state.trace.activations[state.layer].subarray(state.channel * per, (state.channel + 1) * per);
    let best = 0;
    for (let i = 1; i < per; i++) if (values[i] > values[best]) best = i;
    state.unit = [Math.floor(best / w), best % w];
  }
  return state.unit;
}

function renderSelected() {
  const button = $("open-steps"), canvas = $("projection");
  if (state.channel === null) {
    $("selected-name").textContent = "click a channel or unit";
    button.disabled = true; $("steps").hidden = true;
    return;
  }
  const unit = selectedUnit(), mode = state.mode === "unit" && !unit ? "max" : state.mode;
  const where = unit ? ` at (${unit[0]}, ${unit[1]})` : "";
  $("selected-name").textContent =
    `${state.layer} ${isSpatial(state.layer) ? "channel" : "unit"} ${state.channel}${where}, ` +
    `${state.mode} mode, ${state.rule} rule`;
  const values = window.lenet.projectTrace(state.trace, state.layer, mode, state.channel, state.rule, unit);
  paint(canvas, values, SIDE, SIDE, "signed");
  canvas.dataset.ready = "true";
  button.disabled = false;
  if (state.stepsOpen) renderSteps(mode, unit); else $("steps").hidden = true;
}

// Each mirror block as a row: its input, then the signal after each of its operations.
const STAGE_LABELS = { in: "entering", unpool: "after unpool", relu: "after ReLU step", filter: "after transposed filter" };

function renderSteps(mode, unit) {
  const box = $("steps");
  box.replaceChildren();
  let row = null, block = null;
  const stages = window.lenet.steps(state.trace, state.layer, mode, state.channel, state.rule, unit);
  for (const { block: name, stage, shape, values } of stages) {
    if (name !== block) {
      block = name;
      row = document.createElement("div"); row.className = "block";
      const title = document.createElement("div"); title.className = "title";
      title.textContent = `mirror block of ${name}`;
      const cells = document.createElement("div"); cells.className = "stages";
      row.append(title, cells); box.append(row);
    }
    const cell = document.createElement("div"); cell.className = "stage"; cell.dataset.stage = stage;
    const label = document.createElement("span");
    label.textContent = `${STAGE_LABELS[stage]} (${shape.join("x")})`;
    const maps = document.createElement("div"); maps.className = "maps";
    cell.append(label, maps);
    if (shape.length === 1) {
      const canvas = document.createElement("canvas"); canvas.className = "bars";
      paintBars(canvas, values); maps.append(canvas);
    } else {
      const [c, h, w] = shape, scale = maxAbs(values) || 1;
      for (let k = 0; k < c; k++) {
        const canvas = mapCanvas(c > 1 ? "small" : "big");
        paint(canvas, values.subarray(k * h * w, (k + 1) * h * w), h, w, "signed", scale);
        maps.append(canvas);
      }
    }
    row.lastChild.append(cell);
  }
  box.hidden = false;
}

// The selected channel's top 9 test images (over the whole test set, precomputed), each
// beside the projection of its strongest unit under the current rule (computed here).
function renderTop9() {
  const box = $("top9");
  box.replaceChildren();
  if (state.channel === null) return;
  const entries = state.data.top9[state.layer][state.channel];
  box.dataset.layer = state.layer; box.dataset.channel = state.channel;
  if (entries.every((e) => e.value === 0)) {
    const note = document.createElement("p"); note.className = "hint";
    note.textContent = "this unit never fires on the test set: every activation is 0, so there is nothing to project";
    box.append(note);
    return;
  }
  for (const entry of entries) {
    const pixels = testPixels(entry.index), trace = window.lenet.forward(pixels);
    const [channel, y, x] = entry.unit, unit = entry.unit.length === 3 ? [y, x] : null;
    const projection = window.lenet.projectTrace(trace, state.layer, unit ? "unit" : "max", channel, state.rule, unit);
    const tile = document.createElement("div"); tile.className = "tile";
    const pair = document.createElement("div"); pair.className = "row";
    const image = mapCanvas("clickable"), projected = mapCanvas();
    paint(image, pixels, SIDE, SIDE, "gray", 1);
    paint(projected, projection, SIDE, SIDE, "signed");
    image.title = `load test image ${entry.index}`;
    image.addEventListener("click", () => loadTest(entry.index));
    pair.append(image, projected);
    const caption = document.createElement("span");
    caption.textContent = `#${entry.index} (a ${entry.label}): ${entry.value.toPrecision(3)}`;
    tile.append(pair, caption);
    box.append(tile);
  }
}

// Note how long an interaction took: to its pictures drawn, and to the next frame.
function record(what, started) {
  const entry = { what, compute: performance.now() - started, painted: null };
  timings.push(entry);
  requestAnimationFrame(() => { entry.painted = performance.now() - started; });
}

// A click on a channel or unit: its projection first, then what can wait (the top 9).
function select(layer, channel, unit) {
  const started = performance.now();
  state.layer = layer; state.channel = channel; state.unit = unit;
  $("layer").value = layer;
  renderSelected();
  markSelection();
  record(`select ${layer}`, started);
  // The strip (if it shows another layer) and the top 9 after this frame, for the
  // selection current then: a later click replaces an earlier one's.
  const wanted = `${layer}/${channel}/${state.rule}`;
  setTimeout(() => {
    if (wanted !== `${state.layer}/${state.channel}/${state.rule}`) return;
    if (state.stripShows !== stripKey()) { renderStrip(); markSelection(); }
    renderTop9();
  }, 0);
}

function fillSelect(id, options, value) {
  const select = $(id);
  for (const option of options) select.add(new Option(option, option));
  select.value = value;
}

async function fetchOk(name) {
  const response = await fetch(name);
  if (!response.ok) throw new Error(`${name}: ${response.status} ${response.statusText}`);
  return response;
}

async function start() {
  window.lenet.ready = window.lenet.load("model.json");
  const [, data, images] = await Promise.all([
    window.lenet.ready,
    fetchOk("data.json").then((r) => r.json()),
    fetchOk("images.u8").then((r) => r.arrayBuffer()),
  ]);
  state.data = data; state.images = new Uint8Array(images);
  state.labels = new Map();
  for (const entry of [...data.sample, ...Object.values(data.top9).flat(2)]) {
    state.rows.set(entry.index, entry.image); state.labels.set(entry.index, entry.label);
  }
  state.rule = spec().default_rule;
  fillSelect("layer", spec().layers.map((l) => l.name), state.layer);
  fillSelect("mode", spec().modes, state.mode);
  fillSelect("rule", spec().rules, state.rule);
  $("test-index").max = Math.max(0, data.sample.length - 1);
  const redraw = () => { if (state.trace) { renderStrip(); renderSelected(); markSelection(); } };
  $("layer").addEventListener("change", () => {
    state.channel = null; state.unit = null; state.layer = $("layer").value; redraw(); renderTop9();
  });
  $("mode").addEventListener("change", () => {
    state.mode = $("mode").value; if (state.mode !== "unit") state.unit = null; redraw();
  });
  $("rule").addEventListener("change", () => { state.rule = $("rule").value; redraw(); renderTop9(); });
  $("clear").addEventListener("click", () => { clearCanvas(); setPixels(new Float64Array(SIDE * SIDE), "", false); });
  $("load-test").addEventListener("click", () => loadTest(Number($("test-index").value)));
  $("test-index").addEventListener("keydown", (event) => {
    if (event.key === "Enter") loadTest(Number($("test-index").value));
  });
  $("random-test").addEventListener("click", () => {
    loadTest(data.sample[Math.floor(Math.random() * data.sample.length)].index);
  });
  $("open-steps").addEventListener("click", () => {
    state.stepsOpen = !state.stepsOpen;
    $("open-steps").textContent = state.stepsOpen ? "Hide steps" : "Step through";
    renderSelected();
  });
  const draw = $("draw");
  draw.addEventListener("pointerdown", (event) => {
    pen.down = true; [pen.x, pen.y] = penAt(event); draw.setPointerCapture(event.pointerId); stroke(event);
  });
  draw.addEventListener("pointermove", (event) => { if (pen.down) stroke(event); });
  const up = () => { pen.down = false; };
  draw.addEventListener("pointerup", up);
  draw.addEventListener("pointercancel", up);
  document.addEventListener("dragover", (event) => { event.preventDefault(); });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) dropImage(file).catch((err) => { $("status").textContent = `cannot read ${file.name}: ${err.message}`; });
  });
  $("status").textContent = "computed in this page (float64)";
  clearCanvas();
  // The first screen: test image 0, not an empty canvas.
  if (data.sample.length) loadTest(data.sample[0].index); else setPixels(state.pixels, "", false);
  // When the first screen was drawn, in ms since the navigation began (the benchmark reads it).
  requestAnimationFrame(() => requestAnimationFrame(() => { window.explorer.firstRender = performance.now(); }));
}

window.explorer = { state, timings, select, loadTest, centreDigit, inkOf, dropImage };
start().catch((err) => { $("status").textContent = `error: ${err.message}`; });
