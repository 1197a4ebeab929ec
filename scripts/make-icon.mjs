// `node scripts/make-icon.mjs`: draws the app icon (build/icon.svg, the same design as the
// favicon) into build/icon.png, 1024×1024 RGBA, for electron-builder (Linux, macOS and
// Windows icons are all made from it). Pure Node: rounded rectangles, 4×4 supersampling.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));
const SIZE = 1024;
const S = SIZE / 32; // the design is on a 32×32 grid
/** [x, y, w, h, radius, r, g, b, alpha] on the 32-unit grid, painted in order. */
const SHAPES = [
  [0, 0, 32, 32, 6, 0x1c, 0x7e, 0xd6, 1],
  [5, 8, 22, 4, 1, 255, 255, 255, 1],
  [5, 14, 14, 4, 1, 255, 255, 255, 0.8],
  [5, 20, 18, 4, 1, 255, 255, 255, 0.6],
];

function inside(px, py, [x, y, w, h, r]) {
  if (px < x || py < y || px > x + w || py > y + h) return false;
  const cx = Math.min(Math.max(px, x + r), x + w - r);
  const cy = Math.min(Math.max(py, y + r), y + h - r);
  return (px - cx) ** 2 + (py - cy) ** 2 <= r * r;
}

const rgba = Buffer.alloc(SIZE * SIZE * 4);
const SUB = 4;
for (let j = 0; j < SIZE; j++) {
  for (let i = 0; i < SIZE; i++) {
    let [r, g, b, a] = [0, 0, 0, 0];
    for (const shape of SHAPES) {
      let hits = 0;
      for (let sy = 0; sy < SUB; sy++) for (let sx = 0; sx < SUB; sx++) if (inside((i + (sx + 0.5) / SUB) / S, (j + (sy + 0.5) / SUB) / S, shape)) hits++;
      if (!hits) continue;
      const alpha = (shape[8] * hits) / (SUB * SUB);
      // "over" compositing, straight alpha
      const outA = alpha + a * (1 - alpha);
      r = (shape[5] * alpha + r * a * (1 - alpha)) / outA;
      g = (shape[6] * alpha + g * a * (1 - alpha)) / outA;
      b = (shape[7] * alpha + b * a * (1 - alpha)) / outA;
      a = outA;
    }
    rgba.set([Math.round(r), Math.round(g), Math.round(b), Math.round(a * 255)], (j * SIZE + i) * 4);
  }
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(SIZE, 0);
ihdr.writeUInt32BE(SIZE, 4);
ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
const raw = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let j = 0; j < SIZE; j++) rgba.copy(raw, j * (SIZE * 4 + 1) + 1, j * SIZE * 4, (j + 1) * SIZE * 4); // filter 0 per row
const png = Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
writeFileSync(join(root, 'build', 'icon.png'), png);
const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="${SIZE}" height="${SIZE}">${SHAPES.map(
  ([x, y, w, h, rad, r, g, b, a]) => `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="${rad}" fill="rgb(${r},${g},${b})"${a < 1 ? ` opacity="${a}"` : ''}/>`,
).join('')}</svg>\n`;
writeFileSync(join(root, 'build', 'icon.svg'), svg);
console.log(`Wrote build/icon.png (${SIZE}×${SIZE}, ${png.length} bytes) and build/icon.svg`);
