// The explorer page: draws, asks the app (never anything else) and paints its answers.
// Every number shown comes from the server's NumPy/PyTorch deconvnet; this file only
// turns pen strokes into 28x28 pixels and arrays into pictures.
"use strict";

const SIDE = 28;
const state = {
  info: null, image: new Float32Array(SIDE * SIDE), layer: "conv2", mode: "max",
  rule: "deconvnet", channel: null, unit: null, stepsOpen: false, last: null,
};
const $ = (id) => document.getElementById(id);

// ---- arrays from the API: {shape, data: base64 little-endian float32} ----
function decode(packed) {
  const bin = atob(packed.data);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return { shape: packed.shape, values: new Float32Array(bytes.buffer) };
}

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
    img.data.set([r, g, b, 255], 4 * i);
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

// ---- drawing at MNIST's scale and centring ----
// MNIST digits were scaled to fit a 20x20 box (keeping their aspect ratio), then
// placed in 28x28 so that their centre of mass sits at the centre.
const pen = { down: false, x: 0, y: 0, drawn: false };

function drawCanvasToDigit() {
  const canvas = $("draw"), size = canvas.width;
  const ink = canvas.getContext("2d").getImageData(0, 0, size, size).data;
  let top = size, left = size, bottom = -1, right = -1;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    if (ink[4 * (y * size + x)] > 0) {
      top = Math.min(top, y); bottom = Math.max(bottom, y);
      left = Math.min(left, x); right = Math.max(right, x);
    }
  }
  const out = new Float32Array(SIDE * SIDE);
  if (bottom < 0) return out;
  const bh = bottom - top + 1, bw = right - left + 1, scale = 20 / Math.max(bh, bw);
  const th = Math.max(1, Math.round(bh * scale)), tw = Math.max(1, Math.round(bw * scale));
  // Box filter: every source pixel adds its ink to the target pixel it falls in.
  const sum = new Float32Array(th * tw), count = new Float32Array(th * tw);
  for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) {
    const ty = Math.min(th - 1, Math.floor(y * th / bh)), tx = Math.min(tw - 1, Math.floor(x * tw / bw));
    sum[ty * tw + tx] += ink[4 * ((top + y) * size + left + x)] / 255;
    count[ty * tw + tx] += 1;
  }
  let mass = 0, my = 0, mx = 0;
  const small = new Float32Array(th * tw);
  for (let i = 0; i < th * tw; i++) {
    small[i] = sum[i] / count[i];
    mass += small[i]; my += small[i] * Math.floor(i / tw); mx += small[i] * (i % tw);
  }
  const oy = Math.round(14 - (mass ? my / mass : th / 2) - 0.5);
  const ox = Math.round(14 - (mass ? mx / mass : tw / 2) - 0.5);
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) {
    const yy = y + oy, xx = x + ox;
    if (yy >= 0 && yy < SIDE && xx >= 0 && xx < SIDE) out[yy * SIDE + xx] = small[y * tw + x];
  }
  return out;
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
  state.image = drawCanvasToDigit();
  $("source").textContent = "your drawing";
  refresh();
}

function clearCanvas() {
  const canvas = $("draw"), ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height);
}

// A test image is shown on the drawing canvas too, so that strokes add to it.
function showOnCanvas(image) {
  const canvas = $("draw"), ctx = canvas.getContext("2d"), tmp = document.createElement("canvas");
  tmp.width = SIDE; tmp.height = SIDE;
  const img = tmp.getContext("2d").createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) {
    const v = Math.round(255 * image[i]);
    img.data.set([v, v, v, 255], 4 * i);
  }
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

// ---- talking to the app ----
async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

let inFlight = false, again = false;

// One request at a time; strokes made meanwhile are sent once it answers.
async function refresh() {
  if (inFlight) { again = true; return; }
  inFlight = true; again = false;
  document.body.dataset.busy = "true";
  const rows = [];
  for (let y = 0; y < SIDE; y++) rows.push(Array.from(state.image.subarray(y * SIDE, (y + 1) * SIDE)));
  const request = { image: rows, layer: state.layer, mode: state.mode, rule: state.rule };
  if (state.channel !== null) {
    request.channel = state.channel;
    if (state.mode === "unit" && isSpatial(state.layer)) {
      state.unit = state.unit || strongestUnit(state.layer, state.channel);
      request.unit = state.unit;
    }
  }
  try {
    const started = performance.now();
    const answer = await api("/api/explore", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request),
    });
    state.last = answer;
    render(answer);
    $("status").textContent = `${state.info.backend} backend, ${state.info.dtype}: ` +
      `answered in ${Math.round(performance.now() - started)} ms`;
  } catch (err) {
    $("status").textContent = `error: ${err.message}`;
  } finally {
    inFlight = false;
    if (again) refresh(); else document.body.dataset.busy = "false";
  }
}

function render(answer) {
  paint($("seen"), state.image, SIDE, SIDE, "gray", 1);
  renderPrediction(answer);
  renderActivations(answer);
  renderProjections(answer);
  renderSelected(answer);
}

function renderPrediction(answer) {
  $("prediction").textContent = String(answer.prediction);
  const box = $("probabilities");
  box.replaceChildren();
  answer.probabilities.forEach((p, digit) => {
    const row = document.createElement("div");
    row.className = `prob${digit === answer.prediction ? " top" : ""}`;
    const label = document.createElement("span"); label.className = "digit"; label.textContent = digit;
    const bar = document.createElement("span"); bar.className = "bar"; bar.style.width = `${Math.max(1, 160 * p)}px`;
    const value = document.createElement("span"); value.textContent = `${(100 * p).toFixed(1)}%`;
    row.append(label, bar, value);
    box.append(row);
  });
}

function isSpatial(layer) {
  return state.info.layers.find((l) => l.name === layer).shape.length === 3;
}

// Where a channel's largest activation sits in the last answer, [y, x] (first on ties).
function strongestUnit(layer, channel) {
  if (!state.last) return [0, 0];
  const [, h, w] = state.info.layers.find((l) => l.name === layer).shape;
  const maps = decode(state.last.activations[layer]).values.subarray(channel * h * w, (channel + 1) * h * w);
  let best = 0;
  for (let i = 1; i < maps.length; i++) if (maps[i] > maps[best]) best = i;
  return [Math.floor(best / w), best % w];
}

function isSelected(layer, channel) {
  return layer === state.layer && channel === state.channel;
}

function renderActivations(answer) {
  const box = $("activations");
  box.replaceChildren();
  for (const { name, shape } of state.info.layers) {
    const { values } = decode(answer.activations[name]);
    const row = document.createElement("div"); row.className = "layer-row";
    const label = document.createElement("span"); label.className = "name"; label.textContent = name;
    const maps = document.createElement("div"); maps.className = "maps";
    row.append(label, maps);
    if (shape.length === 3) {
      const [c, h, w] = shape, scale = maxAbs(values) || 1;  // one scale per layer
      for (let k = 0; k < c; k++) {
        const canvas = mapCanvas(`clickable${isSelected(name, k) ? " selected" : ""}`);
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
      maps.append(canvas);
      if (state.layer === name && state.channel !== null) {
        const note = document.createElement("span"); note.textContent = `unit ${state.channel} selected`;
        maps.append(note);
      }
    }
    box.append(row);
  }
}

function renderProjections(answer) {
  const shown = answer.mode === "map" ? "map" : "max";
  $("projections-title").textContent =
    `every channel of ${answer.layer}, ${shown} mode, ${answer.rule} rule (red: pushes the activation up)`;
  const { shape, values } = decode(answer.projections);
  const box = $("projections");
  box.replaceChildren();
  for (let k = 0; k < shape[0]; k++) {
    const tile = document.createElement("div"); tile.className = "tile";
    const canvas = mapCanvas(`clickable${isSelected(answer.layer, k) ? " selected" : ""}`);
    canvas.dataset.layer = answer.layer; canvas.dataset.channel = k;
    paint(canvas, values.subarray(k * SIDE * SIDE, (k + 1) * SIDE * SIDE), SIDE, SIDE, "signed");
    canvas.addEventListener("click", () => select(answer.layer, k, null));
    const caption = document.createElement("span"); caption.textContent = k;
    tile.append(canvas, caption);
    box.append(tile);
  }
}

function renderSelected(answer) {
  const button = $("open-steps");
  if (!answer.stages) {
    $("selected-name").textContent = "click a channel or unit";
    button.disabled = true; $("steps").hidden = true;
    return;
  }
  const where = answer.unit ? ` at (${answer.unit[0]}, ${answer.unit[1]})` : "";
  $("selected-name").textContent =
    `${answer.layer} ${answer.layer.startsWith("fc") ? "unit" : "channel"} ${answer.channel}${where}, ` +
    `${answer.mode} mode, ${answer.rule} rule`;
  const last = decode(answer.stages[answer.stages.length - 1].signal);
  const canvas = $("projection");
  paint(canvas, last.values, SIDE, SIDE, "signed");
  canvas.dataset.ready = "true";
  button.disabled = false;
  if (state.stepsOpen) renderSteps(answer);
}

// Each mirror block as a row: its input, then the signal after each of its operations.
function renderSteps(answer) {
  const box = $("steps");
  box.replaceChildren();
  let row = null, block = null;
  for (const { block: name, stage, signal } of answer.stages) {
    if (name !== block) {
      block = name;
      row = document.createElement("div"); row.className = "block";
      const title = document.createElement("div"); title.className = "title";
      title.textContent = `mirror block of ${name}`;
      const stages = document.createElement("div"); stages.className = "stages";
      row.append(title, stages); box.append(row);
    }
    const { shape, values } = decode(signal);
    const cell = document.createElement("div"); cell.className = "stage"; cell.dataset.stage = stage;
    const label = document.createElement("span");
    label.textContent = `${state.info.stage_labels[stage]} (${shape.join("x")})`;
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

async function renderTop9() {
  const box = $("top9");
  if (state.channel === null) { box.replaceChildren(); return; }
  const query = new URLSearchParams({ layer: state.layer, channel: state.channel, rule: state.rule });
  try {
    const answer = await api(`/api/top9?${query}`);
    const images = decode(answer.images), projections = decode(answer.projections);
    box.replaceChildren();
    answer.indices.forEach((index, r) => {
      const tile = document.createElement("div"); tile.className = "tile";
      const pair = document.createElement("div"); pair.className = "row";
      const image = mapCanvas("clickable"), projection = mapCanvas();
      paint(image, images.values.subarray(r * SIDE * SIDE, (r + 1) * SIDE * SIDE), SIDE, SIDE, "gray", 1);
      paint(projection, projections.values.subarray(r * SIDE * SIDE, (r + 1) * SIDE * SIDE), SIDE, SIDE, "signed");
      image.title = `load test image ${index}`;
      image.addEventListener("click", () => loadTest(index));
      pair.append(image, projection);
      const caption = document.createElement("span");
      caption.textContent = `#${index} (a ${answer.labels[r]}): ${answer.values[r].toPrecision(3)}`;
      tile.append(pair, caption);
      box.append(tile);
    });
  } catch (err) {
    $("status").textContent = `error: ${err.message}`;
  }
}

function select(layer, channel, unit) {
  state.layer = layer; state.channel = channel; state.unit = unit;
  $("layer").value = layer;
  refresh();
  renderTop9();
}

async function loadTest(index) {
  try {
    const answer = await api(`/api/test-image/${index}`);
    state.image = decode(answer.image).values;
    $("test-index").value = answer.index;
    $("source").textContent = `test image ${answer.index}, labelled ${answer.label}`;
    showOnCanvas(state.image);
    refresh();
  } catch (err) {
    $("status").textContent = `error: ${err.message}`;
  }
}

function fillSelect(id, options, value) {
  const select = $(id);
  for (const option of options) select.add(new Option(option, option));
  select.value = value;
}

async function start() {
  state.info = await api("/api/info");
  state.rule = state.info.default_rule;
  fillSelect("layer", state.info.layers.map((l) => l.name), state.layer);
  fillSelect("mode", state.info.modes, state.mode);
  fillSelect("rule", state.info.rules, state.rule);
  $("test-index").max = state.info.test_images - 1;
  $("layer").addEventListener("change", () => { state.channel = null; state.unit = null; state.layer = $("layer").value; refresh(); renderTop9(); });
  $("mode").addEventListener("change", () => { state.mode = $("mode").value; if (state.mode !== "unit") state.unit = null; refresh(); });
  $("rule").addEventListener("change", () => { state.rule = $("rule").value; refresh(); renderTop9(); });
  $("clear").addEventListener("click", () => { clearCanvas(); state.image = new Float32Array(SIDE * SIDE); $("source").textContent = ""; refresh(); });
  $("load-test").addEventListener("click", () => loadTest(Number($("test-index").value)));
  $("random-test").addEventListener("click", () => loadTest(Math.floor(Math.random() * state.info.test_images)));
  $("open-steps").addEventListener("click", () => {
    state.stepsOpen = !state.stepsOpen;
    $("open-steps").textContent = state.stepsOpen ? "Hide steps" : "Step through";
    if (state.stepsOpen && state.last && state.last.stages) renderSteps(state.last); else $("steps").hidden = true;
  });
  const draw = $("draw");
  draw.addEventListener("pointerdown", (event) => {
    pen.down = true; [pen.x, pen.y] = penAt(event); draw.setPointerCapture(event.pointerId); stroke(event);
  });
  draw.addEventListener("pointermove", (event) => { if (pen.down) stroke(event); });
  const up = () => { pen.down = false; };
  draw.addEventListener("pointerup", up);
  draw.addEventListener("pointercancel", up);
  clearCanvas();
  $("status").textContent = `${state.info.backend} backend, ${state.info.dtype}`;
  refresh();
}

start().catch((err) => { $("status").textContent = `error: ${err.message}`; });
