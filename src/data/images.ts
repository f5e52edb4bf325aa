/**
 * Image folders in the torchvision ImageFolder layout: root/<class name>/<image>. Classes
 * are the sub-folders in code-point order, so the same folder always gives the same class
 * indices. Formats are recognised by their magic bytes, since extensions lie.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { AegisError } from "../errors.js";
import type { Tensor } from "../tensor.js";

export interface ImageFolderOptions {
  /** Required [height, width]; by default the first image's size. Images are never resized. */
  size?: readonly [number, number];
  /** Force 1 (grayscale) or 3 (RGB) channels; by default 1 when every image is gray, else 3. */
  channels?: 1 | 3;
}

export interface ImageFolder {
  x: Tensor<"float32">;
  y: Tensor<"int64">;
  classNames: string[];
  files: string[];
}

interface Decoded {
  file: string;
  label: number;
  width: number;
  height: number;
  /** RGBA, 8 bits per channel. */
  rgba: Uint8Array;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];
const IMAGE_EXTENSION = /\.(png|jpe?g)$/i;

const startsWith = (bytes: Uint8Array, magic: number[]) => magic.every((b, i) => bytes[i] === b);

/** Reads root/<class>/<image> into x float32 [n, C, H, W] in [0, 1] and y int64 class indices. */
export function loadImageFolder(root: string, options: ImageFolderOptions = {}): ImageFolder {
  const classNames = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort(byCodePoint);
  if (classNames.length === 0) {
    throw new AegisError("BAD_DATA", `${root} has no class sub-folders; lay images out as ${join(root, "<class name>", "<image>.png")}.`);
  }

  const images: Decoded[] = [];
  classNames.forEach((cls, label) => {
    const dir = join(root, cls);
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => byCodePoint(a.name, b.name))) {
      if (!entry.isFile() || entry.name.startsWith(".")) continue;
      const file = join(dir, entry.name);
      const image = decode(readFileSync(file), file);
      if (image) images.push({ ...image, file, label });
      else if (IMAGE_EXTENSION.test(entry.name)) {
        throw new AegisError("BAD_DATA", `${file} is named like an image but is neither PNG nor JPEG; convert or remove it.`);
      }
    }
  });
  const first = images[0];
  if (!first) throw new AegisError("BAD_DATA", `${root} has class folders but no PNG or JPEG images in them.`);

  const [height, width] = options.size ?? [first.height, first.width];
  for (const image of images) {
    if (image.height !== height || image.width !== width) {
      const why = options.size ? "the required size" : `the size of ${first.file}`;
      throw new AegisError(
        "BAD_DATA",
        `${image.file} is ${image.width}x${image.height} (width x height) but ${why} is ${width}x${height}; resize all images to one size first.`,
      );
    }
  }

  const colour = images.find((im) => !isGray(im.rgba));
  if (colour && options.channels === 1) {
    throw new AegisError("BAD_DATA", `${colour.file} is a colour image but 1 channel was asked for; convert the images to grayscale first.`);
  }
  const channels = options.channels ?? (colour ? 3 : 1);
  const plane = height * width;
  const x = new Float32Array(images.length * channels * plane);
  const y = new BigInt64Array(images.length);
  images.forEach((image, n) => {
    y[n] = BigInt(image.label);
    const base = n * channels * plane;
    for (let p = 0; p < plane; p++) {
      // Channels-first (NCHW), the ONNX convention; alpha is dropped, not composited.
      for (let c = 0; c < channels; c++) x[base + c * plane + p] = (image.rgba[p * 4 + c] ?? 0) / 255;
    }
  });
  return {
    x: { dtype: "float32", shape: [images.length, channels, height, width], data: x },
    y: { dtype: "int64", shape: [images.length], data: y },
    classNames,
    files: images.map((im) => im.file),
  };
}

/**
 * Pixels one image may have (64 M, e.g. 8192 × 8192): a header of a few bytes can claim
 * 2^31 × 2^31, and the decoders would try to allocate that before reading any pixel.
 */
const MAX_PIXELS = 1 << 26;

/** Decodes a PNG or JPEG to 8-bit RGBA; undefined when the bytes are neither. */
function decode(bytes: Buffer, file: string): Omit<Decoded, "file" | "label"> | undefined {
  const png = startsWith(bytes, PNG_MAGIC);
  if (!png && !startsWith(bytes, JPEG_MAGIC)) return undefined;
  // PNG states its size in IHDR, the first chunk; JPEG decoding is capped through jpeg-js's own limit.
  if (png && bytes.length >= 24 && bytes.readUInt32BE(16) * bytes.readUInt32BE(20) > MAX_PIXELS) {
    throw new AegisError(
      "BAD_DATA",
      `${file} claims ${bytes.readUInt32BE(16)} × ${bytes.readUInt32BE(20)} pixels, more than the ${MAX_PIXELS} Aegis decodes; resize the image.`,
    );
  }
  try {
    if (png) {
      // pngjs expands palette, gray and 16-bit images to 8-bit RGBA.
      const image = PNG.sync.read(bytes);
      return { width: image.width, height: image.height, rgba: image.data };
    }
    const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
    return { width: image.width, height: image.height, rgba: image.data };
  } catch (e) {
    // The decoders' own errors describe the data; a TypeError or RangeError from inside them only says they tripped over it.
    const why = e instanceof TypeError || e instanceof RangeError ? "the decoder could not follow its structure" : (e as Error).message;
    throw new AegisError("BAD_DATA", `${file} could not be decoded (${why}); re-export the image.`, { cause: e });
  }
}

function isGray(rgba: Uint8Array): boolean {
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) return false;
  }
  return true;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
