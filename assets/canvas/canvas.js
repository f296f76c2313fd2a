// The drawing canvas of chapter 04 (an anywidget; Python side: tfbook/canvas.py).
//
// The browser only records strokes: lists of [x, y] points in canvas pixels. They reach
// Python through the `strokes` trait, on every pointerup and at most every SYNC_MS while
// drawing (for live prediction). Python rasterises them; nothing here computes pixels.
// Pointer events cover mouse, pen and touch alike.

const SYNC_MS = 150;

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "tfbook-canvas";
  const canvas = document.createElement("canvas");
  canvas.className = "tfbook-canvas-surface";
  const bar = document.createElement("div");
  bar.className = "tfbook-canvas-bar";
  const clear = document.createElement("button");
  clear.textContent = "Clear";
  clear.className = "tfbook-canvas-clear";
  const undo = document.createElement("button");
  undo.textContent = "Undo";
  undo.className = "tfbook-canvas-undo";
  bar.append(clear, undo);
  root.append(canvas, bar);
  el.append(root);

  const ctx = canvas.getContext("2d");
  let strokes = model.get("strokes").map((s) => s.slice());
  let current = null; // the stroke being drawn, until pointerup
  let lastSync = 0;
  let timer = null;

  function resize() {
    const size = model.get("size");
    canvas.width = size;
    canvas.height = size;
    canvas.style.width = `${size}px`;
    canvas.style.height = `${size}px`;
    redraw();
  }

  function drawStroke(points) {
    if (points.length === 0) return;
    ctx.beginPath();
    ctx.moveTo(points[0][0], points[0][1]);
    // A lone point still shows as a dot thanks to round caps.
    for (const [x, y] of points.length > 1 ? points.slice(1) : points) ctx.lineTo(x, y);
    ctx.stroke();
  }

  function redraw() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = model.get("line_width");
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const s of strokes) drawStroke(s);
    if (current) drawStroke(current);
  }

  function sync() {
    clearTimeout(timer);
    timer = null;
    lastSync = Date.now();
    const all = current ? [...strokes, current] : strokes;
    model.set("strokes", all.map((s) => s.map(([x, y]) => [x, y])));
    model.save_changes();
  }

  function syncSoon() {
    // Throttle: at most one sync per SYNC_MS while the pen moves.
    const wait = SYNC_MS - (Date.now() - lastSync);
    if (wait <= 0) sync();
    else if (!timer) timer = setTimeout(sync, wait);
  }

  function point(event) {
    // Canvas pixels, whatever CSS scaling the page applies.
    const rect = canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
    const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
    return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
  }

  function down(event) {
    if (event.button !== undefined && event.button > 0) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    current = [point(event)];
    redraw();
  }

  function move(event) {
    if (!current) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) current.push(point(e));
    redraw();
    syncSoon();
  }

  function up(event) {
    if (!current) return;
    event.preventDefault();
    if (event.type !== "pointercancel") current.push(point(event));
    strokes.push(current);
    current = null;
    redraw();
    sync();
  }

  function fromPython() {
    if (current) return; // don't overwrite a stroke in progress with our own echo
    strokes = model.get("strokes").map((s) => s.slice());
    redraw();
  }

  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  clear.addEventListener("click", () => {
    strokes = [];
    current = null;
    redraw();
    sync();
  });
  undo.addEventListener("click", () => {
    strokes.pop();
    redraw();
    sync();
  });
  model.on("change:strokes", fromPython);
  model.on("change:size", resize);
  model.on("change:line_width", redraw);
  resize();

  return () => {
    clearTimeout(timer);
    model.off("change:strokes", fromPython);
    model.off("change:size", resize);
    model.off("change:line_width", redraw);
  };
}

export default { render };
