// How the explorer turns numbers into pictures and words: the colour maps, the colour bars
// with numbers, the boxes over maps, the enlarge dialog, and the plain-words captions of the
// rules and of every step-through stage. app.js decides what to show; this says how.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  function maxAbs(values) {
    let m = 0;
    for (const v of values) m = Math.max(m, Math.abs(v));
    return m;
  }

  // The colour of value / scale: "gray" (0 black .. scale white) or "signed" (blue - white 0 - red +).
  function colour(value, scale, kind) {
    const t = Math.max(-1, Math.min(1, value / scale));
    if (kind === "gray") { const g = Math.round(255 * Math.max(t, 0)); return [g, g, g]; }
    if (t >= 0) { const g = Math.round(255 * (1 - t)); return [255, g, g]; }
    const g = Math.round(255 * (1 + t));
    return [g, g, 255];
  }

  // Black or white, whichever stands out more on the colour rgb (WCAG relative luminance).
  function textOn(rgb) {
    const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    const light = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return (light + 0.05) / 0.05 >= 1.05 / (light + 0.05) ? "#000" : "#fff";
  }

  // Paint h x w values on a canvas, one canvas pixel per value (CSS enlarges it, pixelated).
  // A scale of 0 (an all-zero picture) paints blank rather than dividing by zero.
  function paint(canvas, values, h, w, kind, scale) {
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
    const s = scale === undefined ? maxAbs(values) : scale;
    for (let i = 0; i < h * w; i++) {
      const [r, g, b] = colour(values[i], s || 1, kind);
      img.data.set([r, g, b, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    canvas.hoverValues = { values, h, w };
    canvas.dataset.scale = String(s);
  }

  // The digit as dark ink on paper, with the projection laid over it: the stronger a
  // pixel's projection, the more its colour covers the ink.
  function paintOverlay(canvas, pixels, projection) {
    const n = pixels.length, side = Math.round(Math.sqrt(n)), s = maxAbs(projection) || 1;
    canvas.width = side; canvas.height = side;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(side, side);
    for (let i = 0; i < n; i++) {
      const paper = 255 * (1 - 0.75 * pixels[i]), a = Math.min(1, Math.abs(projection[i]) / s);
      const [r, g, b] = projection[i] >= 0 ? [220, 0, 0] : [0, 60, 220];
      img.data.set([paper * (1 - a) + r * a, paper * (1 - a) + g * a, paper * (1 - a) + b * a, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    canvas.hoverValues = { values: projection, h: side, w: side };
  }

  // Crop rows top..bottom-1, columns left..right-1 of a side x side picture.
  function crop(values, side, [top, left, bottom, right]) {
    const out = new Float64Array((bottom - top) * (right - left));
    let k = 0;
    for (let y = top; y < bottom; y++) for (let x = left; x < right; x++) out[k++] = values[y * side + x];
    return { values: out, h: bottom - top, w: right - left };
  }

  // Place the box element over its canvas: [top, left, bottom, right) in a h x w map.
  function placeBox(element, box, h, w) {
    if (!box) { element.hidden = true; return; }
    const [top, left, bottom, right] = box;
    Object.assign(element.style, {
      top: `${(100 * top) / h}%`, left: `${(100 * left) / w}%`,
      height: `${(100 * (bottom - top)) / h}%`, width: `${(100 * (right - left)) / w}%`,
    });
    element.hidden = false;
  }

  function number(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    return a >= 100 || a < 0.01 ? v.toExponential(1) : v.toPrecision(3);
  }

  // A colour bar with its numbers: -scale .. 0 .. +scale (signed) or 0 .. scale (gray).
  // `note` says what the numbers are (e.g. "each picture: its own largest value").
  function colourBar(holder, kind, scale, note) {
    holder.replaceChildren();
    holder.className = `colourbar ${kind}`;
    const ramp = document.createElement("span"); ramp.className = "ramp";
    const low = document.createElement("span"), mid = document.createElement("span"), high = document.createElement("span");
    low.className = "low"; mid.className = "mid"; high.className = "high";
    low.textContent = kind === "gray" ? "0" : scale === null ? "-max" : number(-scale);
    mid.textContent = kind === "gray" ? "" : "0";
    high.textContent = scale === null ? "+max" : number(scale);
    const ends = document.createElement("span"); ends.className = "ends";
    ends.append(low, mid, high);
    const box = document.createElement("span"); box.className = "bar-box";
    box.append(ramp, ends);
    holder.append(box);
    if (note) { const n = document.createElement("span"); n.className = "bar-note"; n.textContent = note; holder.append(n); }
    holder.dataset.scale = scale === null ? "each" : String(scale);
  }

  // What red and blue mean, true for each rule: only the gradient is a derivative.
  const RULE_LEGEND = {
    deconvnet: "deconvnet: red and blue are the sign of the reconstruction, the pattern of " +
      "pixels this unit's feature is made of. It is not a derivative: red does not mean " +
      "\"more ink here raises the activation\".",
    gradient: "gradient: a derivative. Red: more ink at that pixel pushes the activation up; " +
      "blue: pushes it down.",
    guided: "guided backpropagation: red and blue are the sign of the gradient with its " +
      "negative parts also cut at every ReLU. It is not a derivative either: it shows the " +
      "pixel pattern of the positive evidence that reached this unit in this image.",
  };
  const RULE_MEANING = {
    deconvnet: "deconvnet: on the way down, each ReLU step keeps only the positive part " +
      "of the signal, whatever this image did going up.",
    gradient: "gradient (plain backpropagation): each ReLU step lets the signal through only " +
      "where the forward pass was active for this image.",
    guided: "guided: both at once: positive signal only, and only where the forward pass was active.",
  };

  // One line per step-through stage: what it does to the signal, in plain words.
  function stageCaption(stage, block, kind, rule) {
    if (stage === "in") return `arriving at ${block} from above`;
    if (stage === "unpool") {
      return "unpool: each value goes back to the spot of the 2x2 window that won the max " +
        "going up (its switch); the other three spots get 0";
    }
    if (stage === "relu") {
      return {
        deconvnet: "ReLU step (deconvnet): negative values become 0",
        gradient: "ReLU step (gradient): values pass only where this unit was active going up",
        guided: "ReLU step (guided): only positive values, and only where active going up",
      }[rule];
    }
    return kind === "fc"
      ? "transposed weights: each unit sends its value back along its weights to the layer below"
      : "transposed filter: each value stamps its 5x5 filter, flipped, onto the layer below";
  }

  // Explanations of the layers' names, for the activation rows.
  const LAYER_WORDS = {
    conv1: "6 filters of 5x5 over the pixels, then ReLU (negatives to 0)",
    pool1: "the max of each 2x2 window of conv1: half the size",
    conv2: "16 filters of 5x5 over pool1's 6 maps, then ReLU",
    pool2: "the max of each 2x2 window of conv2",
    fc1: "120 units, each weighing all of pool2, then ReLU",
    fc2: "84 units, each weighing all of fc1, then ReLU",
    fc3: "10 scores, one per digit (before softmax)",
  };

  // The enlarge dialog: a copy of a painted map, large, with its colour bar.
  function enlarge(source, title) {
    const { values, h, w } = source.hoverValues;
    const canvas = $("zoom-canvas");
    const kind = source.dataset.kind || "signed", scale = Number(source.dataset.scale);
    paint(canvas, values, h, w, kind, scale);
    colourBar($("zoom-bar"), kind, scale);
    $("zoom-title").textContent = title;
    $("zoom").showModal();
    $("zoom-close").focus();
  }

  window.views = {
    maxAbs, colour, textOn, paint, paintOverlay, crop, placeBox, colourBar, enlarge, number, stageCaption,
    RULE_LEGEND, RULE_MEANING, LAYER_WORDS,
  };
})();
