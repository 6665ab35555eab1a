// codeccmp HTML report: sortable tables and one viewer per stripe region.
// Plain browser JavaScript, no framework and no build step; the page works from file://,
// so everything it needs is in the page (the JSON below) or beside it (the PNGs).
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("codeccmp-data").textContent);
  const ZOOMS = [0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32];

  // ---- sortable tables: click (or Enter on) a header; numbers sort as numbers, blanks last
  function sortBy(table, col, th) {
    const numeric = th.dataset.type === "num";
    const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    for (const h of table.tHead.rows[0].cells) h.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const key = (row) => row.cells[col].dataset.v ?? row.cells[col].textContent;
    rows.sort((r1, r2) => {
      const a = key(r1), b = key(r2);
      if (a === "" || b === "") return (a === "") - (b === "");  // blanks last either way
      if (numeric) return dir * (parseFloat(a) - parseFloat(b));
      return dir * a.localeCompare(b);
    });
    rows.forEach((r) => body.appendChild(r));
  }
  document.querySelectorAll("table.sortable").forEach((table) => {
    Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
      th.addEventListener("click", () => sortBy(table, col, th));
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") sortBy(table, col, th); });
    });
  });

  // ---- viewers
  const pictures = data.pictures;  // [0] is the original, then every codec with a PNG
  function el(tag, cls, parent) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }
  function option(select, i) {
    const o = el("option", null, select);
    o.value = String(i);
    o.textContent = pictures[i].label;
  }

  function Viewer(root, roi) {
    this.roi = roi;
    this.a = 0;                                // the reference side: the original
    this.b = pictures.length > 1 ? 1 : 0;       // the compared side: the first codec
    this.split = 50;                           // percent of the stage showing A
    this.flip = null;                          // null: split view; "a" or "b": that side only
    const bar = el("div", "controls", root);
    el("span", null, bar).textContent = "A ";
    this.pickA = el("select", "pick-a", bar);
    el("span", null, bar).textContent = " B ";
    this.pickB = el("select", "pick-b", bar);
    pictures.forEach((_, i) => { option(this.pickA, i); option(this.pickB, i); });
    this.flipBtn = el("button", "flip", bar);
    this.flipBtn.type = "button";
    this.flipBtn.title = "flip between A and B (f); split view again: s";
    const zoomOut = el("button", "zoom-out", bar);
    zoomOut.textContent = "−";
    this.zoomText = el("span", "zoom", bar);
    const zoomIn = el("button", "zoom-in", bar);
    zoomIn.textContent = "+";
    const reset = el("button", "reset", bar);
    reset.textContent = "region";
    [zoomOut, zoomIn, reset].forEach((b) => { b.type = "button"; });

    this.stage = el("div", "stage", root);
    this.stage.tabIndex = 0;
    // Two stage-sized layers, B over A; clipping B's layer (not its image, which is larger
    // than the stage) reveals A on the left of the split.
    this.imgA = el("img", null, el("div", "layer a", this.stage));
    this.layerB = el("div", "layer b", this.stage);
    this.imgB = el("img", null, this.layerB);
    this.imgA.alt = "A";
    this.imgB.alt = "B";
    this.frame = el("div", "roi-frame", this.stage);  // where the region's numbers come from
    this.divider = el("div", "divider", this.stage);
    this.labelA = el("span", "label a", this.stage);
    this.labelB = el("span", "label b", this.stage);
    this.slider = el("input", "split", root);
    Object.assign(this.slider, { type: "range", min: 0, max: 100, step: 1, value: 50 });
    this.slider.setAttribute("aria-label", "split between A and B");

    // Every picture at the same spot and zoom, small; click one to compare it as B.
    const strip = el("div", "strip", root);
    this.thumbs = pictures.map((p, i) => {
      const fig = el("figure", "thumb", strip);
      const box = el("div", "thumb-stage", fig);
      const img = el("img", null, box);
      img.src = p.src;
      img.alt = p.name;
      el("figcaption", null, fig).textContent = p.label;
      fig.addEventListener("click", () => this.select(i));
      return { fig, box, img };
    });

    this.pickA.addEventListener("change", () => { this.a = +this.pickA.value; this.draw(); });
    this.pickB.addEventListener("change", () => { this.b = +this.pickB.value; this.draw(); });
    this.slider.addEventListener("input", () => {
      this.split = +this.slider.value;
      this.flip = null;
      this.draw();
    });
    this.flipBtn.addEventListener("click", () => this.toggleFlip());
    zoomIn.addEventListener("click", () => this.zoomBy(1));
    zoomOut.addEventListener("click", () => this.zoomBy(-1));
    reset.addEventListener("click", () => this.home());
    root.addEventListener("keydown", (e) => this.key(e));
    this.stage.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomBy(e.deltaY < 0 ? 1 : -1);
    }, { passive: false });
    this.stage.addEventListener("pointerdown", (e) => this.drag(e));
    window.addEventListener("resize", () => this.draw());
    this.home();
  }

  Viewer.prototype.home = function () {
    const r = this.roi, s = this.stage;
    const fit = Math.min(s.clientWidth / r.w, s.clientHeight / r.h);
    this.zoom = ZOOMS.filter((z) => z <= fit).pop() || ZOOMS[0];
    this.cx = r.x + r.w / 2;
    this.cy = r.y + r.h / 2;
    this.draw();
  };
  Viewer.prototype.zoomBy = function (step) {
    const i = ZOOMS.indexOf(this.zoom) + step;
    if (i >= 0 && i < ZOOMS.length) this.zoom = ZOOMS[i];
    this.draw();
  };
  Viewer.prototype.select = function (i) {
    this.b = (i + pictures.length) % pictures.length;
    this.draw();
  };
  Viewer.prototype.toggleFlip = function () {
    this.flip = this.flip === "b" ? "a" : "b";
    this.draw();
  };
  Viewer.prototype.key = function (e) {
    if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
    const k = e.key;
    if (k === "ArrowRight" || k === "k") this.select(this.b + 1);
    else if (k === "ArrowLeft" || k === "j") this.select(this.b - 1);
    else if (k === "f") this.toggleFlip();
    else if (k === "s") { this.flip = null; this.draw(); }
    else if (k === "+" || k === "=") this.zoomBy(1);
    else if (k === "-") this.zoomBy(-1);
    else if (k === "0") this.home();
    else return;
    e.preventDefault();
  };
  Viewer.prototype.drag = function (e) {
    const x0 = e.clientX, y0 = e.clientY, cx = this.cx, cy = this.cy;
    this.stage.setPointerCapture(e.pointerId);
    const move = (m) => {
      this.cx = cx - (m.clientX - x0) / this.zoom;
      this.cy = cy - (m.clientY - y0) / this.zoom;
      this.draw();
    };
    const up = () => {
      this.stage.removeEventListener("pointermove", move);
      this.stage.removeEventListener("pointerup", up);
    };
    this.stage.addEventListener("pointermove", move);
    this.stage.addEventListener("pointerup", up);
  };

  // Place an image so that image point (cx, cy) sits at the centre of a box, at this zoom.
  // Whole device pixels only, so an integer zoom draws every source pixel as z×z pixels.
  function place(img, box, cx, cy, z) {
    img.style.width = data.width * z + "px";
    img.style.height = data.height * z + "px";
    const tx = Math.round(box.clientWidth / 2 - cx * z);
    const ty = Math.round(box.clientHeight / 2 - cy * z);
    img.style.transform = "translate(" + tx + "px," + ty + "px)";
  }

  Viewer.prototype.draw = function () {
    this.cx = Math.min(Math.max(this.cx, 0), data.width);
    this.cy = Math.min(Math.max(this.cy, 0), data.height);
    const A = pictures[this.a], B = pictures[this.b];
    if (this.imgA.getAttribute("src") !== A.src) this.imgA.src = A.src;
    if (this.imgB.getAttribute("src") !== B.src) this.imgB.src = B.src;
    this.pickA.value = String(this.a);
    this.pickB.value = String(this.b);
    const split = this.flip === "a" ? 100 : this.flip === "b" ? 0 : this.split;
    this.slider.value = String(this.split);
    this.layerB.style.clipPath = "inset(0 0 0 " + split + "%)";  // B right of the split
    this.divider.style.left = split + "%";
    this.divider.hidden = this.flip !== null;
    this.labelA.textContent = "A: " + A.label;
    this.labelB.textContent = "B: " + B.label + (B.miss ? "  ⚠ rate missed" : "");
    this.labelA.hidden = this.flip === "b";
    this.labelB.hidden = this.flip === "a";
    this.flipBtn.textContent = this.flip === null ? "flip" : "showing " + this.flip.toUpperCase();
    this.stage.dataset.shown = this.flip === "a" ? A.name : this.flip === "b" ? B.name : "split";
    this.zoomText.textContent = "×" + this.zoom;
    for (const img of [this.imgA, this.imgB]) place(img, this.stage, this.cx, this.cy, this.zoom);
    const z = this.zoom, r = this.roi;
    Object.assign(this.frame.style, {
      left: Math.round(this.stage.clientWidth / 2 - (this.cx - r.x) * z) + "px",
      top: Math.round(this.stage.clientHeight / 2 - (this.cy - r.y) * z) + "px",
      width: r.w * z + "px", height: r.h * z + "px" });
    this.thumbs.forEach((t, i) => {
      place(t.img, t.box, this.cx, this.cy, this.zoom);
      t.fig.classList.toggle("chosen", i === this.b);
    });
  };

  const viewers = [];
  document.querySelectorAll(".viewer").forEach((root) => {
    viewers.push(new Viewer(root, data.rois[+root.dataset.roi]));
  });
  // Clicking a region on the overview jumps to its viewer (the link does the scrolling).
  document.querySelectorAll(".roi-box").forEach((a) => {
    a.addEventListener("click", () => {
      const v = viewers[+a.dataset.roi];
      if (v) setTimeout(() => v.stage.focus({ preventScroll: true }), 0);
    });
  });
  window.codeccmpViewers = viewers;  // for the tests and the curious
})();
