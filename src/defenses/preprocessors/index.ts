export { type FeatureSqueezing, type FeatureSqueezingOptions, featureSqueezing, roundHalfEven } from "./feature-squeezing.js";
export { type GaussianNoise, type GaussianNoiseOptions, gaussianNoise } from "./gaussian-noise.js";
export { type JpegCompression, type JpegCompressionOptions, jpegCompression } from "./jpeg-compression.js";
export { type SpatialSmoothing, type SpatialSmoothingOptions, spatialSmoothing } from "./spatial-smoothing.js";
export { type TotalVariation, type TotalVariationOptions, totalVariation, tvDenoise } from "./total-variation.js";
