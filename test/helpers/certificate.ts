/** A self-signed P-256 certificate for localhost and 127.0.0.1, made by openssl: `dir`/server.crt and `dir`/server.key. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export function selfSignedCertificate(dir: string): { cert: string; key: string } {
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
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}
