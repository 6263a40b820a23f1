// The explorer page: draws, asks window.lenet (lenet.js: the network and its deconvnet,
// in float64, in this page) and shows the answers with window.views (views.js: colours,
// colour bars, boxes, captions). Nothing is fetched but the site's own files: model.json
// and weights.f64 (read by lenet.js), data.json and images.u8 (the sample of test images
// and the top-9 tables, precomputed by `lenet-deconv site`).
"use strict";

const SIDE = 28;
const state = {
  data: null, images: null, rows: new Map(), pixels: new Float64Array(SIDE * SIDE), trace: null,
  layer: "conv2", mode: "max", rule: "deconvnet", scale: "shared", channel: null, unit: null,
  stepsOpen: false,
};
// The page's own timings (ms), for benchmarks/bench_explorer.py: each entry
// {what, compute, painted}: from the event to the pictures drawn, and to the next frame.
const timings = [];
const $ = (id) => document.getElementById(id);
const V = window.views;

function spec() { return window.lenet.model.spec; }
function shapeOf(layer) { return spec().layers.find((l) => l.name === layer).shape; }
function isSpatial(layer) { return shapeOf(layer).length === 3; }

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function mapCanvas(classes, label) {
  const c = element("canvas", `map ${classes || ""}`);
  c.setAttribute("role", "img");
  if (label) c.setAttribute("aria-label", label);
  return c;
}

// A canvas a student can act on: focusable, a button to screen readers, Enter or Space acts.
function actionable(target, label, act) {
  target.tabIndex = 0;
  target.setAttribute("role", "button");
  target.setAttribute("aria-label", label);
  target.addEventListener("click", act);
  target.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); act(event); }
  });
}

// A map that enlarges when clicked (or on Enter), with its colour bar.
function zoomable(canvas, title) {
  canvas.classList.add("zoomable");
  actionable(canvas, `${title}: enlarge`, () => V.enlarge(canvas, title));
}

// "value at (y, x)" under a mouse pointer. Touch and pen get none: a tap would leave it stuck.
document.addEventListener("pointermove", (event) => {
  const hover = $("hover"), target = event.target;
  if (event.pointerType !== "mouse" || !(target instanceof HTMLCanvasElement) || !target.hoverValues) {
    hover.hidden = true; return;
  }
  const { values, h, w } = target.hoverValues;
  const rect = target.getBoundingClientRect();
  const x = Math.min(w - 1, Math.floor((event.clientX - rect.left) / rect.width * w));
  const y = Math.min(h - 1, Math.floor((event.clientY - rect.top) / rect.height * h));
  const where = h === 1 ? `unit ${x}` : `row ${y}, column ${x}`;
  hover.textContent = `${where}: ${values[y * w + x].toPrecision(4)}`;
  hover.style.left = `${event.clientX + 12}px`; hover.style.top = `${event.clientY + 12}px`;
  hover.hidden = false;
});
for (const type of ["pointerdown", "pointerleave", "scroll"]) {
  document.addEventListener(type, (event) => { if (event.pointerType !== "mouse") $("hover").hidden = true; }, true);
}

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

let firstScreen = true;

function refresh() {
  state.trace = window.lenet.forward(state.pixels);
  if (firstScreen) {
    // The first screen shows a projection already: the layer's most active channel.
    firstScreen = false;
    const [c, h, w] = shapeOf(state.layer), acts = state.trace.activations[state.layer];
    const peak = (k) => { const [y, x] = strongest(state.layer, k); return acts[(k * h + y) * w + x]; };
    let best = 0;
    for (let k = 1; k < c; k++) if (peak(k) > peak(best)) best = k;
    state.channel = best;
    // Its top 9 (nine more forward passes) once the first screen is painted.
    requestAnimationFrame(() => setTimeout(renderTop9, 0));
  }
  V.paint($("seen"), state.pixels, SIDE, SIDE, "gray", 1);
  renderPrediction();
  paintActivations();
  renderStrip();
  renderSelected();
}

function renderPrediction() {
  const probabilities = Array.from(state.trace.logProbs, Math.exp);
  const prediction = probabilities.indexOf(Math.max(...probabilities));
  $("prediction").textContent = String(prediction);
  $("announce").textContent =
    `The network predicts ${prediction}, with probability ${(100 * probabilities[prediction]).toFixed(1)}%.`;
  const box = $("probabilities");
  box.replaceChildren();
  probabilities.forEach((p, digit) => {
    const row = element("div", `prob${digit === prediction ? " top" : ""}`);
    const bar = element("span", "bar");
    bar.style.width = `${Math.max(1, 160 * p)}px`;
    row.append(element("span", "digit", digit), bar, element("span", "", `${(100 * p).toFixed(1)}%`));
    box.append(row);
  });
}

// ---- activations: built once, repainted for each image ----

// The input box (top, left, bottom, right) a unit (y, x) of a spatial layer sees, clipped.
function fieldOf(layer, [y, x]) {
  const { size, jump, start } = spec().receptive_fields[layer];
  const top = start + y * jump, left = start + x * jump;
  return [Math.max(top, 0), Math.max(left, 0), Math.min(top + size, SIDE), Math.min(left + size, SIDE)];
}

// The first largest activation of a channel (row-major), as [y, x]: max mode's unit.
function strongest(layer, channel) {
  const [, h, w] = shapeOf(layer), per = h * w;
  const values = state.trace.activations[layer].subarray(channel * per, (channel + 1) * per);
  let best = 0;
  for (let i = 1; i < per; i++) if (values[i] > values[best]) best = i;
  return [Math.floor(best / w), best % w];
}

// Channels (or fc units) whose top activation over the whole test set is 0.
function neverFires(layer, channel) {
  return state.data.top9[layer][channel].every((e) => e.value === 0);
}

function buildActivations() {
  const box = $("activations");
  for (const { name, shape } of spec().layers) {
    const row = element("div", "layer-row");
    const label = element("div", "name");
    label.append(element("b", "", name), element("span", "hint", V.LAYER_WORDS[name] || ""));
    const maps = element("div", "maps"), bar = element("div", "layer-bar");
    maps.dataset.layer = name;
    row.append(label, bar, maps);
    if (shape.length === 3) {
      const [c, h, w] = shape;
      for (let k = 0; k < c; k++) {
        const frame = element("div", "frame");
        const canvas = mapCanvas("act clickable");
        canvas.dataset.layer = name; canvas.dataset.channel = k;
        const marker = element("div", "box"); marker.hidden = true;
        frame.append(canvas, marker);
        actionable(canvas, `${name} channel ${k}: arrows move the unit, Enter projects it`, (event) => {
          if (event.type === "click") {
            const rect = canvas.getBoundingClientRect();
            canvas.cursor = [
              Math.min(h - 1, Math.floor((event.clientY - rect.top) / rect.height * h)),
              Math.min(w - 1, Math.floor((event.clientX - rect.left) / rect.width * w)),
            ];
          }
          select(name, k, canvas.cursor || strongest(name, k));
        });
        canvas.addEventListener("keydown", (event) => {
          const move = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[event.key];
          if (!move) return;
          event.preventDefault();
          const [y, x] = canvas.cursor || strongest(name, k);
          canvas.cursor = [Math.max(0, Math.min(h - 1, y + move[0])), Math.max(0, Math.min(w - 1, x + move[1]))];
          V.placeBox(marker, [canvas.cursor[0], canvas.cursor[1], canvas.cursor[0] + 1, canvas.cursor[1] + 1], h, w);
          marker.classList.add("cursor");
          $("announce-unit").textContent = `${name} channel ${k}, row ${canvas.cursor[0]}, column ${canvas.cursor[1]}: ` +
            `${state.trace.activations[name][(k * h + canvas.cursor[0]) * w + canvas.cursor[1]].toPrecision(3)}`;
        });
        maps.append(frame);
      }
    } else {
      maps.classList.add("units");
      maps.setAttribute("role", "group");
      maps.setAttribute("aria-label", `${name}: ${shape[0]} units; arrows move between them, Enter projects one`);
      for (let j = 0; j < shape[0]; j++) {
        const unit = element("span", "unit clickable");
        unit.dataset.layer = name; unit.dataset.channel = j;
        if (name === "fc3") unit.textContent = j;
        actionable(unit, `${name} unit ${j}`, () => select(name, j, null));
        unit.tabIndex = j === 0 ? 0 : -1;  // one Tab stop per fc layer; arrows move inside it
        unit.addEventListener("keydown", (event) => {
          // Up and down move by one row of the wrapped grid, however wide the screen.
          const first = maps.children[0].offsetTop;
          const columns = Math.max(1, Array.from(maps.children).filter((u) => u.offsetTop === first).length);
          const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns }[event.key];
          if (!step) return;
          event.preventDefault();
          const next = maps.children[Math.max(0, Math.min(shape[0] - 1, j + step))];
          unit.tabIndex = -1; next.tabIndex = 0; next.focus();
        });
        maps.append(unit);
      }
    }
    box.append(row);
  }
}

function paintActivations() {
  for (const { name, shape } of spec().layers) {
    const values = state.trace.activations[name], scale = V.maxAbs(values);  // one scale per layer
    const kind = name === "fc3" ? "signed" : "gray";
    const maps = document.querySelector(`#activations .maps[data-layer='${name}']`);
    V.colourBar(maps.previousSibling, kind, scale);
    if (shape.length === 3) {
      const [, h, w] = shape;
      maps.querySelectorAll("canvas").forEach((canvas, k) => {
        const part = values.subarray(k * h * w, (k + 1) * h * w);
        V.paint(canvas, part, h, w, "gray", scale);
        canvas.setAttribute("aria-label", `${name} channel ${k}, strongest ${V.maxAbs(part).toPrecision(3)}: ` +
          "arrows move the unit, Enter projects it");
      });
    } else {
      Array.from(maps.children).forEach((unit, j) => {
        const [r, g, b] = V.colour(values[j], scale || 1, kind);
        unit.style.backgroundColor = `rgb(${r}, ${g}, ${b})`;
        unit.style.color = V.textOn([r, g, b]);
        const dead = neverFires(name, j);
        unit.classList.toggle("dead", dead);
        unit.title = `${name} unit ${j}: ${values[j].toPrecision(4)}${dead ? " (never fires on the test set)" : ""}`;
        unit.setAttribute("aria-label", unit.title);
      });
    }
  }
  markSelection();
}

// Outline the selected channel or unit wherever it is drawn, and box the unit on its map.
function markSelection() {
  for (const item of document.querySelectorAll(".clickable[data-channel]")) {
    const on = item.dataset.layer === state.layer && Number(item.dataset.channel) === state.channel;
    item.classList.toggle("selected", on);
    if (item.matches(".act")) {
      const marker = item.nextSibling, unit = on ? shownUnit() : null;
      const [, h, w] = shapeOf(item.dataset.layer);
      marker.classList.remove("cursor");
      V.placeBox(marker, unit && [unit[0], unit[1], unit[0] + 1, unit[1] + 1], h, w);
    }
  }
}

// ---- the selection ----

// The unit a selection's projection starts from: unit mode the picked one, max mode the
// strongest; none for map mode and fc layers.
function shownUnit() {
  if (state.channel === null || !isSpatial(state.layer) || state.mode === "map") return null;
  return state.mode === "unit" && state.unit ? state.unit : strongest(state.layer, state.channel);
}

function projectionMode() {
  return state.mode === "unit" && !(isSpatial(state.layer) && state.unit) ? "max" : state.mode;
}

function renderSelected() {
  const button = $("open-steps"), note = $("selected-note");
  $("rule-legend").textContent = V.RULE_LEGEND[state.rule];
  $("rule-meaning").textContent = V.RULE_MEANING[state.rule];
  const views = document.querySelector("#selected-panel .views");
  if (state.channel === null) {  // nothing selected: no stale pictures or boxes either
    $("selected-name").textContent = "click a channel or unit";
    button.disabled = true; $("steps").hidden = true; note.hidden = true;
    views.hidden = true; $("rule-legend").hidden = true; $("seen-box").hidden = true;
    return;
  }
  views.hidden = false; $("rule-legend").hidden = false;
  const spatial = isSpatial(state.layer), unit = shownUnit(), mode = projectionMode();
  const where = unit ? ` at row ${unit[0]}, column ${unit[1]}` : "";
  $("selected-name").textContent =
    `${state.layer} ${spatial ? "channel" : "unit"} ${state.channel}${where}, ${state.mode} mode, ${state.rule} rule`;
  const values = window.lenet.projectTrace(state.trace, state.layer, mode, state.channel, state.rule,
    mode === "unit" ? state.unit : undefined);
  const kept = window.lenet.select(state.trace, state.layer, mode, state.channel, mode === "unit" ? state.unit : undefined);
  // Why a projection can be blank: the unit never fires at all, or not on this image.
  if (neverFires(state.layer, state.channel)) {
    note.textContent = `This unit never fires on the test set: its activation is 0 on all ` +
      `${state.data.test_set_size} test images, so nothing ever flows back from it and its projection is blank.`;
  } else if (V.maxAbs(kept) === 0) {
    note.textContent = "This activation is zero for this image: nothing flows back from it, so the " +
      "projection and every step below are blank. Pick another unit, or one of its top 9 images below.";
  } else {
    note.textContent = "";
  }
  note.hidden = !note.textContent;
  const field = unit ? fieldOf(state.layer, unit) : spatial ? null : [0, 0, SIDE, SIDE];
  const canvas = $("projection");
  V.paint(canvas, values, SIDE, SIDE, "signed");
  V.colourBar($("projection-bar"), "signed", V.maxAbs(values));
  V.paintOverlay($("overlay"), state.pixels, values);
  V.placeBox($("overlay-box"), field, SIDE, SIDE);
  V.placeBox($("seen-box"), field, SIDE, SIDE);
  const mapFigure = $("unit-map").closest("figure");
  mapFigure.hidden = !spatial;
  if (spatial) {
    const [, h, w] = shapeOf(state.layer), per = h * w;
    const part = state.trace.activations[state.layer].subarray(state.channel * per, (state.channel + 1) * per);
    V.paint($("unit-map"), part, h, w, "gray");
    $("unit-map").dataset.kind = "gray";
    V.placeBox($("unit-map-box"), unit && [unit[0], unit[1], unit[0] + 1, unit[1] + 1], h, w);
    $("unit-map-caption").textContent = unit
      ? `${state.layer} channel ${state.channel}'s map (${h}x${w}); the box is the unit at row ${unit[0]}, column ${unit[1]}`
      : `${state.layer} channel ${state.channel}'s map (${h}x${w}); map mode projects all of it`;
  }
  const patchBox = field || [0, 0, SIDE, SIDE];
  const patch = V.crop(state.pixels, SIDE, patchBox), patchProjection = V.crop(values, SIDE, patchBox);
  V.paint($("patch"), patch.values, patch.h, patch.w, "gray", 1);
  $("patch").dataset.kind = "gray";
  V.paint($("patch-projection"), patchProjection.values, patch.h, patch.w, "signed", V.maxAbs(values));
  canvas.dataset.ready = "true";
  button.disabled = false;
  if (state.stepsOpen) renderSteps(mode, mode === "unit" ? state.unit : undefined); else $("steps").hidden = true;
}

// Each mirror block as a row: the signal entering it, then after each of its operations,
// with arrows between and a line saying what each operation does.
function renderSteps(mode, unit) {
  const box = $("steps");
  box.replaceChildren();
  const kinds = Object.fromEntries(spec().mirror.map((m) => [m.name, m.kind]));
  let cells = null, block = null;
  const stages = window.lenet.steps(state.trace, state.layer, mode, state.channel, state.rule, unit);
  for (const { block: name, stage, shape, values } of stages) {
    if (name !== block) {
      block = name;
      const row = element("div", "block");
      const undo = kinds[name] ? "its ReLU step, then its filter, transposed" : "its max, unpooled";
      row.append(element("div", "title", `undoing ${name} (${V.LAYER_WORDS[name] || ""}): ${undo}`));
      cells = element("div", "stages");
      row.append(cells); box.append(row);
    } else {
      cells.append(element("span", "arrow", "\u2192"));
      cells.lastChild.setAttribute("aria-hidden", "true");
    }
    const cell = element("div", "stage"); cell.dataset.stage = stage;
    const said = cells.childElementCount === 0 && box.childElementCount === 1
      ? `the start: ${state.layer}'s activations with all but the selection set to 0`
      : V.stageCaption(stage, name, kinds[name], state.rule);
    cell.append(element("span", "caption", `${said} (${shape.join("x")})`));
    const maps = element("div", "maps"), bar = element("div");
    cell.append(bar, maps);
    const scale = V.maxAbs(values), shared = state.scale === "shared";
    if (shape.length === 1) {
      const canvas = element("canvas", "bars");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${name} ${stage}: ${shape[0]} values`);
      paintBars(canvas, values, scale);
      maps.append(canvas);
      V.colourBar(bar, "signed", scale);
    } else {
      const [c, h, w] = shape;
      for (let k = 0; k < c; k++) {
        const part = values.subarray(k * h * w, (k + 1) * h * w);
        const canvas = mapCanvas(c > 1 ? (h > 14 ? "step" : "step-small") : "big");
        V.paint(canvas, part, h, w, "signed", shared ? scale : V.maxAbs(part));
        zoomable(canvas, `undoing ${name}, ${stage}, map ${k}`);
        maps.append(canvas);
      }
      V.colourBar(bar, "signed", shared ? scale : null, shared ? "" : "each map: its own largest value");
    }
    cells.append(cell);
  }
  box.hidden = false;
}

// Bars for a vector: one column per unit, positive up, negative down; as wide as its box allows.
function paintBars(canvas, values, scale) {
  const n = values.length, cw = Math.max(2, Math.min(12, Math.floor(360 / n))), height = 48;
  canvas.width = n * cw; canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, height);
  const s = scale || 1, mid = height / 2;
  for (let j = 0; j < n; j++) {
    const v = values[j] / s;
    ctx.fillStyle = v >= 0 ? "#c62828" : "#1565c0";
    const len = Math.abs(v) * (mid - 1);
    ctx.fillRect(j * cw, v >= 0 ? mid - len : mid, cw - 1, Math.max(len, 0.5));
  }
  canvas.hoverValues = { values, h: 1, w: n };
}

// The whole-layer strip: every channel of the chosen layer projected (map or max mode).
function stripKey() { return `${state.layer}/${state.mode === "map"}/${state.rule}`; }

function renderStrip() {
  const started = performance.now();
  state.stripShows = stripKey();
  const shown = state.mode === "map" ? "map" : "max";
  $("projections-title").textContent = `${state.layer}, ${shown} mode, ${state.rule} rule`;
  const box = $("projections");
  box.replaceChildren();
  const all = [];
  for (let k = 0; k < shapeOf(state.layer)[0]; k++) {
    all.push(window.lenet.projectTrace(state.trace, state.layer, shown, k, state.rule));
  }
  const shared = state.scale === "shared", scale = Math.max(...all.map(V.maxAbs));
  all.forEach((values, k) => {
    const tile = element("div", "tile");
    const canvas = mapCanvas("tile-map clickable");
    canvas.dataset.layer = state.layer; canvas.dataset.channel = k;
    V.paint(canvas, values, SIDE, SIDE, "signed", shared ? scale : V.maxAbs(values));
    actionable(canvas, `project ${state.layer} ${isSpatial(state.layer) ? "channel" : "unit"} ${k}`,
      () => select(state.layer, k, null));
    tile.append(canvas, element("span", "", shared ? `${k}` : `${k}: \u00b1${V.number(V.maxAbs(values))}`));
    box.append(tile);
  });
  V.colourBar($("strip-bar"), "signed", shared ? scale : null, shared ? "" : "each picture: its own largest value, under it");
  markSelection();
  record("strip", started);
}

// The selected channel's top 9 test images (over the whole test set, precomputed): each
// patch its strongest unit sees beside that unit's projection under the current rule.
function renderTop9() {
  const box = $("top9");
  box.replaceChildren();
  $("top9-bar").replaceChildren();
  box.dataset.layer = state.layer; box.dataset.channel = state.channel === null ? "" : state.channel;
  if (state.channel === null) { $("top9-title").textContent = "Top 9 test images (select a unit)"; return; }
  const what = `${state.layer} ${isSpatial(state.layer) ? "channel" : "unit"} ${state.channel}`;
  $("top9-title").textContent = `Top 9 test images of ${what}, ${state.rule} rule`;
  if (neverFires(state.layer, state.channel)) {
    box.append(element("p", "note", `${what} never fires on the test set: its activation is 0 on all ` +
      `${state.data.test_set_size} images, so it has no top 9 and nothing to project.`));
    return;
  }
  const entries = state.data.top9[state.layer][state.channel].filter((e) => e.value > 0);
  const projections = entries.map((entry) => {
    const trace = window.lenet.forward(testPixels(entry.index));
    const [channel, y, x] = entry.unit, unit = entry.unit.length === 3 ? [y, x] : undefined;
    return { trace, values: window.lenet.projectTrace(trace, state.layer, unit ? "unit" : "max", channel, state.rule, unit) };
  });
  const shared = state.scale === "shared", scale = Math.max(...projections.map((p) => V.maxAbs(p.values)));
  entries.forEach((entry, i) => {
    const pixels = testPixels(entry.index), values = projections[i].values;
    const patch = V.crop(pixels, SIDE, entry.box), part = V.crop(values, SIDE, entry.box);
    const tile = element("div", "tile"), pair = element("div", "pair");
    const image = mapCanvas("tile-map clickable"), projected = mapCanvas("tile-map");
    V.paint(image, patch.values, patch.h, patch.w, "gray", 1);
    V.paint(projected, part.values, part.h, part.w, "signed", shared ? scale : V.maxAbs(values));
    actionable(image, `test image ${entry.index}, a ${entry.label}: load it`, () => loadTest(entry.index));
    zoomable(projected, `test image ${entry.index}: the reconstruction of ${what}`);
    pair.append(image, projected);
    tile.append(pair, element("span", "", `#${entry.index} (a ${entry.label}): ${entry.value.toPrecision(3)}`));
    box.append(tile);
  });
  if (entries.length < 9) box.append(element("p", "note", `only ${entries.length} test images make it fire at all`));
  V.colourBar($("top9-bar"), "signed", shared ? scale : null, shared ? "" : "each reconstruction: its own largest value");
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
  // selection current then: a later click replaces an earlier one's. The old top 9 goes
  // now, so no tile ever stands under a heading it does not belong to.
  $("top9").replaceChildren();
  $("top9").dataset.channel = "";
  const wanted = `${layer}/${channel}/${state.rule}`;
  setTimeout(() => {
    if (wanted !== `${state.layer}/${state.channel}/${state.rule}`) return;
    if (state.stripShows !== stripKey()) { renderStrip(); markSelection(); }
    renderTop9();
  }, 0);
}

// ---- the guided tour ----
const TOUR = [
  { panel: "input-panel", title: "Draw a digit",
    text: "Draw a digit in the black square (mouse or finger), or type a test image's number and press Enter. " +
      "Beside \"the network sees\" is what goes in: 28x28 pixels, centred as MNIST's digits are." },
  { panel: "prediction-panel", title: "Read the prediction",
    text: "The network's answer: a probability for each digit. Add a stroke and watch them move." },
  { panel: "activations-panel", title: "What each layer found",
    text: "Each small picture is one filter's answer all over the image (a feature map): white where it " +
      "found its pattern, dark where not. conv1 finds strokes; deeper layers combine them. Click one." },
  { panel: "selected-panel", title: "Back to the pixels",
    text: "The deconvnet runs the network backwards, from the selected unit down to pixels: the picture shows " +
      "what in the image that unit responded to. The box is the only part of the image the unit can see.",
    enter: () => { if (state.channel === null) select("conv2", 0, null); } },
  { panel: "selected-panel", title: "Step by step",
    text: "Going down, each layer is undone in turn: unpool (each value back where the max was), a ReLU step " +
      "(where the rules differ), and the transposed filter (each value spread back through the filter). " +
      "The step-through shows the signal after each.",
    enter: () => { if (!state.stepsOpen) $("open-steps").click(); } },
  { panel: "controls", title: "Deconvnet or guided backprop?",
    text: "The rules differ only in the ReLU step. The deconvnet keeps the positive signal everywhere, " +
      "whatever this image did going up; guided backprop also blocks it wherever the unit was off for " +
      "this image. So guided pictures follow this digit's own strokes, and deconvnet pictures show more " +
      "of the feature in general. Switch the rule and compare." },
];
let tourStep = -1;

function showTour(step) {
  document.querySelectorAll(".tour-target").forEach((e) => e.classList.remove("tour-target"));
  tourStep = step;
  if (step < 0 || step >= TOUR.length) { $("tour").hidden = true; tourStep = -1; $("tour-start").focus(); return; }
  const { panel, title, text, enter } = TOUR[step];
  if (enter) enter();
  $(panel).classList.add("tour-target");
  $(panel).scrollIntoView({ block: "nearest" });
  $("tour-title").textContent = `${step + 1}. ${title}`;
  $("tour-text").textContent = text;
  $("tour-count").textContent = `step ${step + 1} of ${TOUR.length}`;
  $("tour-back").disabled = step === 0;
  $("tour-next").textContent = step === TOUR.length - 1 ? "Done" : "Next";
  $("tour").hidden = false;
  $("tour-next").focus();
}

// ---- start ----

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
  buildActivations();
  const redraw = () => { if (state.trace) { renderStrip(); renderSelected(); markSelection(); } };
  $("layer").addEventListener("change", () => {
    state.channel = null; state.unit = null; state.layer = $("layer").value; redraw(); renderTop9();
  });
  $("mode").addEventListener("change", () => {
    state.mode = $("mode").value; if (state.mode !== "unit") state.unit = null; redraw();
  });
  $("rule").addEventListener("change", () => { state.rule = $("rule").value; redraw(); renderTop9(); });
  $("scale").addEventListener("change", () => { state.scale = $("scale").value; redraw(); renderTop9(); });
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
    $("open-steps").setAttribute("aria-expanded", String(state.stepsOpen));
    renderSelected();
  });
  for (const id of ["projection", "unit-map", "patch", "patch-projection"]) {
    const canvas = $(id);
    zoomable(canvas, canvas.getAttribute("aria-label"));
  }
  $("zoom-close").addEventListener("click", () => $("zoom").close());
  $("tour-start").addEventListener("click", () => showTour(0));
  $("tour-next").addEventListener("click", () => showTour(tourStep + 1));
  $("tour-back").addEventListener("click", () => showTour(tourStep - 1));
  $("tour-close").addEventListener("click", () => showTour(-1));
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

window.explorer = { state, timings, select, loadTest, centreDigit, inkOf, dropImage, showTour, TOUR };
start().catch((err) => { $("status").textContent = `error: ${err.message}`; });
