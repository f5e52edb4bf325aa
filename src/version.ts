/** The version every report, SBOM and ONNX file Aegis writes carries; equal to package.json's (a test checks). */
export const AEGIS_VERSION = "0.1.0";
