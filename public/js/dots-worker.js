// The flow graph's dots, drawn off the page's main thread on the OffscreenCanvas the page
// transferred (see dots.js). Messages: init { canvas }, resize { width, height, view },
// colors { colors }, add { dot }, clear.
import { DOT_SPEED, DotLayer } from './dots.js';

/** @type {DotLayer | null} */
let layer = null;
let last = 0;

function frame(now) {
  self.requestAnimationFrame(frame);
  const dt = last ? Math.min(0.1, Math.max(0, (now - last) / 1000)) : 0;
  last = now;
  layer?.draw(DOT_SPEED * dt);
}

self.onmessage = ({ data }) => {
  if (data.type === 'init') {
    layer = new DotLayer(data.canvas);
    self.requestAnimationFrame(frame);
  } else if (!layer) {
    return;
  } else if (data.type === 'resize') {
    layer.resize(data.width, data.height, data.view);
  } else if (data.type === 'colors') {
    layer.colors = data.colors;
  } else if (data.type === 'add') {
    layer.add(data.dot);
  } else if (data.type === 'clear') {
    layer.clear();
  }
};
