/**
 * A self-signed P-256 certificate made by openssl, `dir`/server.crt and `dir`/server.key, for
 * localhost and 127.0.0.1 unless `subjectAltName` names other addresses ("IP:10.0.0.1,…").
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export function selfSignedCertificate(dir: string, subjectAltName = "IP:127.0.0.1,DNS:localhost"): { cert: string; key: string } {
  const cert = join(dir, "server.crt");
  const key = join(dir, "server.key");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      `subjectAltName=${subjectAltName}`,
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}
