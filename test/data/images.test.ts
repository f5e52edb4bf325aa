import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { loadImageFolder } from "../../src/data/images.js";
import { AegisError } from "../../src/errors.js";

const hasCode = (code: string, text?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof AegisError, `expected an AegisError, got ${e}`);
  assert.equal(e.code, code);
  if (text) assert.match(e.message, text);
  return true;
};

const base = mkdtempSync(join(tmpdir(), "aegis-images-"));
after(() => rmSync(base, { recursive: true, force: true }));

type Rgba = [number, number, number, number];

/** A width x height image whose pixel (row, col) has colour pick(row, col). */
function pixels(width: number, height: number, pick: (row: number, col: number) => Rgba): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) data.set(pick(r, c), (r * width + c) * 4);
  return data;
}

function png(width: number, height: number, pick: (row: number, col: number) => Rgba): Buffer {
  const image = new PNG({ width, height });
  image.data = Buffer.from(pixels(width, height, pick));
  return PNG.sync.write(image);
}

function jpg(width: number, height: number, pick: (row: number, col: number) => Rgba): Buffer {
  return jpeg.encode({ width, height, data: pixels(width, height, pick) }, 100).data;
}

let folders = 0;
/** Writes files { "class/name": bytes } under a fresh root and returns the root. */
function folder(files: Record<string, Uint8Array | string>): string {
  const root = join(base, `set${folders++}`);
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), bytes);
  }
  return root;
}

const gray = (v: number) => (): Rgba => [v, v, v, 255];

test("grayscale images give one channel, classes sorted by name, formats found by content", () => {
  const root = folder({
    "zebra/a.png": png(4, 3, (r, c) => [r * 80, r * 80, r * 80, c * 60]),
    "zebra/b.jpg": jpg(4, 3, gray(200)),
    // Extensions lie: this .png holds JPEG bytes.
    "apple/c.png": jpg(4, 3, gray(0)),
    "apple/notes.txt": "not an image, skipped",
    "apple/.DS_Store": "hidden, skipped",
  });
  const { x, y, classNames, files } = loadImageFolder(root);
  assert.deepEqual(classNames, ["apple", "zebra"]);
  assert.deepEqual(x.shape, [3, 1, 3, 4]);
  assert.deepEqual([...y.data], [0n, 1n, 1n]);
  assert.deepEqual(
    files.map((f) => f.slice(root.length + 1)),
    [join("apple", "c.png"), join("zebra", "a.png"), join("zebra", "b.jpg")],
  );
  for (const v of x.data) assert.ok(v >= 0 && v <= 1);
  // The lossless PNG: row r has value r * 80 / 255 whatever its alpha.
  const plane = 12;
  assert.deepEqual(
    [...x.data.subarray(plane, 2 * plane)].map((v) => Math.round(v * 255)),
    [0, 0, 0, 0, 80, 80, 80, 80, 160, 160, 160, 160],
  );
  // The JPEGs are flat gray up to compression noise.
  for (const v of x.data.subarray(0, plane)) assert.ok(v < 0.02);
  for (const v of x.data.subarray(2 * plane)) assert.ok(Math.abs(v - 200 / 255) < 0.02);
});

test("colour images give three channels in NCHW order, alpha dropped", () => {
  const root = folder({
    "a/red.png": png(2, 2, () => [255, 0, 0, 0]),
    "b/mix.png": png(2, 2, (r, c) => [r * 255, c * 255, 51, 128]),
    "b/gray.png": png(2, 2, gray(102)),
  });
  const { x, y } = loadImageFolder(root);
  assert.deepEqual(x.shape, [3, 3, 2, 2]);
  assert.deepEqual([...y.data], [0n, 1n, 1n]);
  const image = (n: number) => [...x.data.subarray(n * 12, (n + 1) * 12)].map((v) => Math.round(v * 255));
  assert.deepEqual(image(0), [255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(image(1), [102, 102, 102, 102, 102, 102, 102, 102, 102, 102, 102, 102]);
  // red = row, green = column, blue = 51 (rows of the 2x2 plane: (0,0) (0,1) (1,0) (1,1)).
  assert.deepEqual(image(2), [0, 0, 255, 255, 0, 255, 0, 255, 51, 51, 51, 51]);
});

test("images of different sizes are BAD_DATA naming the odd file", () => {
  const root = folder({ "a/1.png": png(4, 4, gray(1)), "b/2.png": png(4, 5, gray(1)) });
  assert.throws(() => loadImageFolder(root), hasCode("BAD_DATA", /2\.png is 4x5 .* but the size of .*1\.png is 4x4/));
  const same = folder({ "a/1.png": png(4, 4, gray(1)) });
  assert.throws(() => loadImageFolder(same, { size: [28, 28] }), hasCode("BAD_DATA", /1\.png is 4x4 .* the required size is 28x28/));
  assert.deepEqual(loadImageFolder(same, { size: [4, 4] }).x.shape, [1, 1, 4, 4]);
});

test("the channel count can be forced", () => {
  const grayRoot = folder({ "a/1.png": png(2, 2, gray(255)) });
  const rgb = loadImageFolder(grayRoot, { channels: 3 });
  assert.deepEqual(rgb.x.shape, [1, 3, 2, 2]);
  assert.deepEqual([...rgb.x.data], new Array(12).fill(1));
  const colour = folder({ "a/1.png": png(2, 2, () => [1, 2, 3, 255]) });
  assert.throws(() => loadImageFolder(colour, { channels: 1 }), hasCode("BAD_DATA", /1\.png is a colour image/));
});

test("broken or mislabelled images and empty folders are BAD_DATA", () => {
  const good = png(2, 2, gray(9));
  assert.throws(() => loadImageFolder(folder({ "a/1.png": good.subarray(0, 30) })), hasCode("BAD_DATA", /1\.png could not be decoded/));
  assert.throws(() => loadImageFolder(folder({ "a/photo.jpeg": "GIF89a..." })), hasCode("BAD_DATA", /photo\.jpeg is named like an image/));
  assert.throws(() => loadImageFolder(folder({ "loose.png": good })), hasCode("BAD_DATA", /no class sub-folders/));
  assert.throws(() => loadImageFolder(folder({ "a/readme.md": "#" })), hasCode("BAD_DATA", /no PNG or JPEG images/));
});
